"""Long bridge operations end to end (runs inside GDB behind rspbridge): `phys search` over
all of the guest's RAM finds exactly one planted needle, and GDB never times out while the
bridge works (GDB's remotetimeout is 2 s: a silent command longer than that makes GDB NAK and
print "Ignoring packet error").  Also reports the search rate."""

import json
import os
import random
import signal
import threading
import time

import gdb
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

    # Ctrl-C in GDB during a long monitor command: GDB 13 prints "Quit" and sends its next
    # request without a ^C.  The command must stop, and nothing of it may be taken for the
    # replies to the next requests (they were one command late).
    before = t.read_word(t.symbol("_start"))
    arch_out, ok = t.monitor_full("arch")
    t.require(ok and arch_out.strip(), "arch: %r" % arch_out)
    fired = threading.Event()
    log = t.monitor_log()  # the command's output goes there as GDB gets it

    def quit_when_running():
        # Ctrl-C once the command runs: its first output has reached GDB.
        deadline = time.monotonic() + 60  # a hang guard
        while time.monotonic() < deadline:
            if os.path.getsize(log) > 0:
                fired.set()
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    t0 = time.monotonic()
    quit_seen = False
    gdb.execute("set logging enabled on")  # truncates the log
    th = threading.Thread(target=quit_when_running, daemon=True)
    th.start()
    try:
        gdb.execute("monitor phys read %#x %#x" % (base, min(size, 0x4000000)))
    except (KeyboardInterrupt, gdb.error) as e:
        quit_seen = "%s" % e
    finally:
        gdb.execute("set logging enabled off")
    th.join()
    if quit_seen:
        t.log("monitor phys read stopped by Ctrl-C: %s" % quit_seen)
    t.require(fired.is_set() and quit_seen, "the phys read ended before Ctrl-C (took %.2f s)" % (time.monotonic() - t0))
    # Output already on its way to GDB (socket buffers) cannot be recalled: GDB prints it as
    # part of its next monitor command.  What follows it must be that command's own answer,
    # after no more than what the buffers on the way hold (the phys read stopped: the rest of
    # its output, several times the 64 MiB read, never comes), and in step afterwards.
    t1 = time.monotonic()
    out, ok = t.monitor_full("arch")
    dt = time.monotonic() - t1
    inflight = len(out) - len(arch_out)
    t.check(ok and out.endswith(arch_out), "after Ctrl-C, monitor arch ended %r, want %r" % (out[-200:], arch_out))
    t.check(inflight < 32 << 20, "the interrupted phys read went on: %d bytes of its output came after it" % inflight)
    t.log("after Ctrl-C: next command answered in %.2f s after %d bytes of output in flight" % (dt, inflight))
    out, ok = t.monitor_full("arch")
    t.check(ok and out == arch_out, "after Ctrl-C, a second monitor arch printed %r, want %r" % (out[:200], arch_out))
    after = t.read_word(t.symbol("_start"))
    t.check(after == before, "after Ctrl-C, a memory read gave %#x, want %#x" % (after, before))


gdbside.run(main)
