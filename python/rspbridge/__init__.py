"""Client for the HTTP/JSON endpoint of rspbridge (``rspbridge --http ADDR``).

Standard library only::

    from rspbridge import Bridge
    b = Bridge("http://127.0.0.1:8080")
    b.vtop(0xffff800000001000)["pa"]        # the JSON of `monitor vtop VA --json`
    b.read_phys(0x1000, 16)                  # bytes

Numbers in the JSON documents are hex strings ("0x1000"), as in the
monitor's output; ``Bridge.num`` turns one into an int.  Every error is an
``Error`` carrying the HTTP status and the server's JSON document.
"""

from .client import Bridge, Error

__all__ = ["Bridge", "Error"]
