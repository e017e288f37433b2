"""Long bridge operations end to end (runs inside GDB behind rspbridge): `phys search` over
all of the guest's RAM finds exactly one planted needle, and GDB never times out while the
bridge works (GDB's remotetimeout is 2 s: a silent command longer than that makes GDB NAK and
print "Ignoring packet error").  Also reports the search rate."""

import json
import random
import time

import gdbside


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    base, size = max(L.ram, key=lambda r: r[1])
    needle = random.Random(t.seed).getrandbits(64).to_bytes(8, "little")
    at = base + size - 0x1000 + 0x123
    out, ok = t.monitor_full("phys write %#x %s" % (at, needle.hex()))
    t.require(ok, "phys write: %r" % out)
    t0 = time.monotonic()
    out, ok = t.monitor_full("phys search %#x %#x %s --json" % (base, size, needle.hex()))
    dt = time.monotonic() - t0
    t.check("packet error" not in out, "GDB timed out during the search: %r" % out[:300])
    j = json.loads(out.strip().splitlines()[-1])
    t.check(ok and [int(a, 16) for a in j.get("matches", [])] == [at], "phys search: %s" % str(j)[:300])
    t.log("phys search of %d MiB in %.2f s (%.1f MiB/s)" % (size >> 20, dt, (size >> 20) / dt))


gdbside.run(main)
