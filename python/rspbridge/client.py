"""The Bridge class: one keep-alive HTTP connection to the endpoint."""

import http.client
import json
import urllib.parse


class Error(Exception):
    """An error answer: status is the HTTP status (400 bad argument, 403
    read-only, 404 not mapped, 409 target running, 503 target lost), doc the
    JSON document (its "error" key says why)."""

    def __init__(self, status, doc):
        self.status = status
        self.doc = doc
        msg = doc.get("error") if isinstance(doc, dict) else None
        super().__init__(f"HTTP {status}: {msg or doc}")


def _hex(v):
    if isinstance(v, str):
        return v
    if not isinstance(v, int) or v < 0:
        raise ValueError(f"address must be a non-negative int, not {v!r}")
    return hex(v)


class Bridge:
    """A client of one bridge.  Not thread-safe: use one per thread."""

    def __init__(self, url="http://127.0.0.1:8080", timeout=60.0, chunk=1 << 20):
        """chunk: the largest read or write in one request (the server's
        max_io, 1 MiB by default); longer ones are split."""
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"expected http://HOST:PORT, not {url!r}")
        self.host = u.hostname
        self.port = u.port or 80
        self.timeout = timeout
        self.chunk = chunk
        self._conn = None
        self.connections = 0  # TCP connections opened (1 while keep-alive holds)

    # -- transport ---------------------------------------------------------
    def close(self):
        if self._conn:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, method, path, params=None, body=None):
        if params:
            q = {k: _hex(v) for k, v in params.items() if v is not None}
            path += "?" + urllib.parse.urlencode(q)
        headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.connections += 1
            try:
                self._conn.request(method, path, body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: once more
                # on a fresh one (the request never reached it).
                self.close()
                if attempt:
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            ctype = resp.getheader("Content-Type", "")
            if resp.status != 200:
                try:
                    doc = json.loads(data)
                except ValueError:
                    doc = {"error": data.decode("utf-8", "replace")}
                raise Error(resp.status, doc)
            if ctype.startswith("application/json"):
                return json.loads(data)
            return data
        raise AssertionError("unreachable")

    @staticmethod
    def num(v):
        """A hex string of the documents ("0x1000") as an int."""
        return int(v, 16)

    # -- queries -----------------------------------------------------------
    def vtop(self, va, root=None):
        """`monitor vtop VA --json`: the translation of va (Error 404 if not mapped)."""
        return self._request("GET", "/v1/vtop", {"va": va, "root": root})

    def pte(self, va, root=None):
        """`monitor pte VA --json`: the walk of va, level by level."""
        return self._request("GET", "/v1/pte", {"va": va, "root": root})

    def ptov(self, pa, root=None):
        """`monitor ptov PA --json`: every VA mapping the physical page of pa."""
        return self._request("GET", "/v1/ptov", {"pa": pa, "root": root})

    def maps(self, lo=None, hi=None, root=None):
        """`monitor maps [LO HI] --json`: coalesced mapped ranges (hi exclusive).

        Each run is {"va", "size", "pa", "page_size", "level", "flags", "prot"}:
        hex strings but level, flags and prot ("rwxu": read, write, execute,
        '-' when not; u user or k kernel).  Its end is va + size.  A run whose
        first or last leaf the bounds cut also has "count", the leaves it
        touches; any other run has size / page_size.  An entry with "fold"
        stands for repeated runs (the document's "fold_rule")."""
        if (lo is None) != (hi is None):
            raise ValueError("give both lo and hi, or neither")
        return self._request("GET", "/v1/maps", {"lo": lo, "hi": hi, "root": root})

    def regs(self):
        """The registers ({"regs": {name: "0x..."}}: the general ones of the
        target's g packet and the paging/trap system registers) with the
        fields of target()."""
        return self._request("GET", "/v1/regs")

    def target(self):
        """Architecture, paging mode, run state, sessions, read-only.  Never
        connects or pauses the target: with "live" false the description is
        the last one the endpoint saw."""
        return self._request("GET", "/v1/target")

    def cache(self):
        """`monitor cache stats --json`."""
        return self._request("GET", "/v1/cache")

    def monitor(self, line):
        """Any monitor command line; returns its output text (Error 400 when
        it reports an error, with the output in .doc["output"])."""
        doc = self._request("POST", "/v1/monitor", body=line.encode())
        if not doc.get("ok"):
            raise Error(400, {"error": doc.get("output", "").strip(), "output": doc.get("output")})
        return doc["output"]

    # -- memory ------------------------------------------------------------
    def _read(self, path, key, addr, length, root=None):
        if length <= 0:
            raise ValueError("length must be positive")
        out = bytearray()
        while len(out) < length:
            n = min(self.chunk, length - len(out))
            params = {key: addr + len(out), "len": n}
            if root is not None:
                params["root"] = root
            out += self._request("GET", path, params)
        return bytes(out)

    def _write(self, path, key, addr, data, root=None):
        data = bytes(data)
        if not data:
            raise ValueError("nothing to write")
        for off in range(0, len(data), self.chunk):
            params = {key: addr + off}
            if root is not None:
                params["root"] = root
            self._request("PUT", path, params, body=data[off:off + self.chunk])
        return len(data)

    def read_phys(self, pa, length):
        """length bytes of physical memory at pa (bytes)."""
        return self._read("/v1/phys", "pa", pa, length)

    def write_phys(self, pa, data):
        """Writes data at pa; returns its length."""
        return self._write("/v1/phys", "pa", pa, data)

    def read_virt(self, va, length, root=None):
        """length bytes at va, in the CPU's address space or the one of root."""
        return self._read("/v1/virt", "va", va, length, root)

    def write_virt(self, va, data, root=None):
        return self._write("/v1/virt", "va", va, data, root)
