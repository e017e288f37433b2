#!/usr/bin/env python3
"""Stock LLDB (Debian 12: LLDB 14) through rspbridge, in batch mode (`lldb -b -o ...`).

Starts QEMU (halted) and the bridge like harness/runner.py, then runs LLDB several times:

  1. connect to the halted VM: qHostInfo (triple, watchpoint_exceptions_received), a
     breakpoint, registers (the layout's root), memory (pattern words), one instruction
     step, `process plugin packet monitor vtop`, `memory region` for every mapping and a
     hole, the whole address space walked region by region against the layout, LLDB's own
     memory cache against `monitor context` (stale without
     target.process.disable-memory-cache, right with it), a write watchpoint (stops once
     per store, the value changed: QEMU reports it before the store on arm64), continue +
     interrupt (the counter moved), detach;
  2. connect to the running VM, continue + interrupt, detach and quit;
  3. connect again: QEMU survived and its counter still moves.

Exit status 0 pass, 1 fail, 77 when QEMU, LLDB or the guest is missing (a failure with
RSP_NO_SKIP=1).

    lldb.py --layout L --kernel IMAGE --elf GUEST.elf --bridge RSPBRIDGE [--timeout S]
"""

import argparse
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import layout  # noqa: E402
import procs  # noqa: E402
import runner  # noqa: E402


class Fail(Exception):
    pass


def elf_symbols(path):
    """{name: value} from the .symtab of a 64-bit little-endian ELF."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise Fail("%s: not a 64-bit ELF" % path)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    syms = {}
    for s in secs:
        if s[1] != 2:  # SHT_SYMTAB
            continue
        strtab = secs[s[6]]
        for off in range(s[4], s[4] + s[5], 24):
            name, _info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", strtab[4] + name)
            syms[data[strtab[4] + name:end].decode()] = value
    return syms


class Transcript:
    """LLDB's batch output cut at each echoed command: [(command, output)]."""

    def __init__(self, text):
        self.text = text
        self.blocks = []
        for line in text.splitlines():
            if line.startswith("(lldb) "):
                self.blocks.append([line[7:], ""])
            elif self.blocks:
                self.blocks[-1][1] += line + "\n"

    def out(self, i):
        if i >= len(self.blocks):
            raise Fail("LLDB stopped before command %d; transcript:\n%s" % (i, self.text[-3000:]))
        return self.blocks[i][1]


class Lldb:
    def __init__(self, program, elf, port, timeout):
        self.program, self.elf, self.port, self.timeout = program, elf, port, timeout
        self.cmds = []

    def start_session(self):
        self.cmds = []
        self.add("settings set use-color false")
        self.add("target create " + self.elf)
        return self.add("gdb-remote 127.0.0.1:%d" % self.port)

    def add(self, cmd):
        self.cmds.append(cmd)
        return len(self.cmds) - 1

    def run(self):
        """Runs the queued commands; `process continue` (once per run at most) is
        interrupted with SIGINT, as Ctrl-C would, repeated should LLDB not have been
        waiting for the target yet."""
        argv = [self.program, "-x", "-b"]
        for c in self.cmds:
            argv += ["-o", c]
        p = procs.spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        buf = []
        cond = threading.Condition()

        def reader():
            while True:
                chunk = os.read(p.stdout.fileno(), 65536)
                with cond:
                    if not chunk:
                        buf.append(None)
                        cond.notify_all()
                        return
                    buf.append(chunk.decode(errors="replace"))
                    cond.notify_all()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        deadline = time.monotonic() + self.timeout
        text = lambda: "".join(b for b in buf if b is not None)  # noqa: E731
        ended = lambda: buf and buf[-1] is None  # noqa: E731
        try:
            if "process continue" in self.cmds:
                echo = "(lldb) process continue\n"
                with cond:
                    cond.wait_for(lambda: echo in text() or ended(), max(0, deadline - time.monotonic()))
                    while not ended() and time.monotonic() < deadline:
                        after = text().split(echo, 1)[-1]
                        if "Interrupted" in after or "stopped" in after:
                            break
                        os.kill(p.pid, signal.SIGINT)
                        cond.wait_for(
                            lambda: ended() or re.search(r"Interrupted|stopped", text().split(echo, 1)[-1]),
                            2.0,
                        )
            with cond:
                cond.wait_for(ended, max(0, deadline - time.monotonic()))
            if not ended():
                raise Fail("LLDB did not finish in %gs; transcript:\n%s" % (self.timeout, text()[-3000:]))
            p.wait(10)
        finally:
            procs.reap(p)
        t = Transcript(text())
        print(t.text)
        sys.stdout.flush()
        return t


class Test:
    def __init__(self, args):
        self.args = args
        self.lay = layout.Layout(args.layout)
        self.arm = self.lay.mode.family == "arm64"
        self.syms = elf_symbols(args.elf)
        self.checks = 0
        self.failures = []

    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.failures.append(msg)
            print("FAIL: " + msg)
        return cond

    # ---- expectations from the layout
    def expected_regions(self, root=None):
        """[(start, end, perms, name)] covering 0..2**64 for root (the live one): mappings
        of the same effective permissions and privilege that touch are one region."""
        lay = self.lay
        root = root or lay.roots[0]
        segs = []
        for m in sorted((m for m in lay.maps if m.root == root), key=lambda m: m.va):
            f = lay.effective(m.va, root)
            perms = "r" + ("w" if "w" in f else "-") + ("x" if "x" in f else "-")
            name = "user" if "u" in f else "kernel"
            if segs and segs[-1][1] == m.va and segs[-1][2:] == [perms, name]:
                segs[-1][1] = m.va + m.size
            else:
                segs.append([m.va, m.va + m.size, perms, name])
        out, at = [], 0
        for s in segs:
            if s[0] > at:
                out.append((at, s[0], "---", None))
            out.append(tuple(s))
            at = s[1]
        # The last region ends at LLDB_INVALID_ADDRESS, as lldb-server says: LLDB's
        # `memory region --all` stops there (an end wrapping to 0 would go round again).
        if at < (1 << 64) - 1:
            out.append((at, (1 << 64) - 1, "---", None))
        return out

    @staticmethod
    def parse_region(text):
        m = re.search(r"\[0x([0-9a-f]+)-0x([0-9a-f]+)\) ([r-][w-][x-])(?: (\w+))?", text)
        if not m:
            return None
        end = int(m.group(2), 16)
        name = m.group(4) if m.group(3) != "---" else None
        return (int(m.group(1), 16), end, m.group(3), name)

    @staticmethod
    def hexval(text, what):
        m = re.search(r"0x([0-9a-f]+)", text)
        if not m:
            raise Fail("no value in %s: %r" % (what, text[:300]))
        return int(m.group(1), 16)

    def read_words(self, text, n):
        m = re.search(r"0x[0-9a-f]+:((?: 0x[0-9a-f]+)+)", text)
        if not m:
            raise Fail("memory read: unexpected output %r" % text[:300])
        return [int(w, 16) for w in m.group(1).split()][:n]

    # ---- the sessions
    def session_halted(self, l):
        lay, arm = self.lay, self.arm
        live = self.syms["tables_live"]
        counter = lay.counter
        root_a = lay.root_pa[lay.roots[0]]
        root_b = lay.root_pa[lay.roots[1]]
        conn = l.start_session()
        host = l.add("process plugin packet send qHostInfo")
        bp = l.add("breakpoint set -a %#x" % live)
        cont = l.add("c")
        pc1 = l.add("register read pc")
        rroot = l.add("register read %s" % ("TTBR0_EL1" if arm else "cr3"))
        # A pattern word, read through a mapping of the live root.
        pm = next(m for m in lay.maps if m.root == lay.roots[0] and lay.pattern_word(m.pa) is not None)
        mem = l.add("memory read -f x -s 8 -c 2 %#x" % pm.va)
        step = l.add("thread step-inst")
        pc2 = l.add("register read pc")
        vtop = l.add("process plugin packet monitor vtop %#x" % counter)
        # memory region: every mapping and every hole of the live root.
        regs = [(m.va, l.add("memory region %#x" % m.va)) for m in lay.maps if m.root == lay.roots[0]]
        holes = [(va, l.add("memory region %#x" % va)) for r, va, _lvl in lay.holes if r == lay.roots[0]]
        expect = self.expected_regions()
        walk = [l.add("memory region 0")] + [l.add("memory region") for _ in expect[1:]]
        # LLDB's memory cache against `monitor context`: VA 0x400000 maps other PAs in B.
        user = 0x400000
        c0 = l.add("memory read -f x -s 8 -c 1 %#x" % user)
        l.add("process plugin packet monitor context %#x" % root_b)
        c1 = l.add("memory read -f x -s 8 -c 1 %#x" % user)
        l.add("settings set target.process.disable-memory-cache true")
        c2 = l.add("memory read -f x -s 8 -c 1 %#x" % user)
        rb = l.add("memory region %#x" % user)  # regions follow the context too
        l.add("process plugin packet monitor context default")
        c3 = l.add("memory read -f x -s 8 -c 1 %#x" % user)
        # A write watchpoint on the counter: one stop per store, the value changed.
        wp = l.add("watchpoint set expression -w write -s 8 -- %#x" % counter)
        w1 = l.add("c")
        v1 = l.add("memory read -f x -s 8 -c 1 %#x" % counter)
        w2 = l.add("c")
        v2 = l.add("memory read -f x -s 8 -c 1 %#x" % counter)
        l.add("watchpoint delete 1")
        l.add("breakpoint delete 1")
        l.add("process continue")  # interrupted
        v3 = l.add("memory read -f x -s 8 -c 1 %#x" % counter)
        det = l.add("detach")
        t = l.run()

        self.check("stopped" in t.out(conn), "connect to the halted VM: no stop reported")
        h = t.out(host)
        m = re.search(r"triple:([0-9a-f]+);", h)
        triple = bytes.fromhex(m.group(1)).decode() if m else ""
        self.check(triple.startswith("aarch64-" if arm else "x86_64-"), "qHostInfo triple %r" % triple)
        when = "before" if arm else "after"
        self.check("watchpoint_exceptions_received:%s;" % when in h, "qHostInfo: %r" % h)
        self.check("Breakpoint 1:" in t.out(bp), "breakpoint not set: %r" % t.out(bp))
        self.check("stop reason = breakpoint 1" in t.out(cont), "no breakpoint stop: %r" % t.out(cont))
        self.check(self.hexval(t.out(pc1), "pc") == live, "pc %r, not tables_live %#x" % (t.out(pc1), live))
        rv = self.hexval(t.out(rroot), "root register")
        got = rv & ((1 << 48) - 2) if arm else rv & ~0xFFF & ((1 << 52) - 1)
        self.check(got == root_a, "root register %#x, layout root %#x" % (rv, root_a))
        words = self.read_words(t.out(mem), 2)
        want = [lay.pattern_word(pm.pa), lay.pattern_word(pm.pa + 8)]
        self.check(words == want, "memory read %#x: %s, layout %s" % (pm.va, [hex(w) for w in words], [hex(w) for w in want]))
        self.check("instruction step into" in t.out(step), "step: %r" % t.out(step))
        after = self.hexval(t.out(pc2), "pc")
        self.check(after == live + (4 if arm else 1), "pc after one step %#x (tables_live %#x)" % (after, live))
        pa = lay.translate(counter)
        self.check("-> %#x " % pa in t.out(vtop), "monitor vtop %#x: %r, PA %#x expected" % (counter, t.out(vtop), pa))

        def region_of(va):
            return next(r for r in expect if r[0] <= va < r[1] or r[1] == (1 << 64) - 1 <= va)

        for va, i in regs:
            got = self.parse_region(t.out(i))
            self.check(got == region_of(va), "memory region %#x: %r, expected %r" % (va, got, region_of(va)))
        for va, i in holes:
            got = self.parse_region(t.out(i))
            self.check(got == region_of(va), "memory region %#x (hole): %r, expected %r" % (va, got, region_of(va)))
        walked = [self.parse_region(t.out(i)) for i in walk]
        self.check(walked == expect, "memory region walk:\n  %r\nexpected\n  %r" % (walked, expect))

        a_word = lay.pattern_word(lay.translate(user))
        b_word = lay.pattern_word(lay.translate(user, lay.roots[1]))
        got = [self.read_words(t.out(i), 1)[0] for i in (c0, c1, c2, c3)]
        self.check(got[0] == a_word, "read %#x in the default context: %#x, not %#x" % (user, got[0], a_word))
        # LLDB 14 keeps what it read until the next stop: the doc says to disable its cache.
        self.check(got[1] == a_word, "LLDB's cache after `monitor context`: %#x (stale %#x expected)" % (got[1], a_word))
        self.check(got[2] == b_word, "with disable-memory-cache, context B: %#x, not %#x" % (got[2], b_word))
        self.check(got[3] == a_word, "back in the default context: %#x, not %#x" % (got[3], a_word))
        in_b = next(r for r in self.expected_regions(lay.roots[1]) if r[0] <= user < r[1])
        got = self.parse_region(t.out(rb))
        self.check(got == in_b, "memory region %#x in context B: %r, expected %r" % (user, got, in_b))

        self.check("Watchpoint created" in t.out(wp), "watchpoint: %r" % t.out(wp))
        for i, v, n in ((w1, v1, 1), (w2, v2, 2)):
            self.check("stop reason = watchpoint 1" in t.out(i), "watchpoint stop %d: %r" % (n, t.out(i)))
            self.check("new value: %d" % n in t.out(i), "watchpoint stop %d shows no new value %d: %r" % (n, n, t.out(i)))
            val = self.read_words(t.out(v), 1)[0]
            self.check(val == n, "counter after watchpoint stop %d: %d" % (n, val))
        moved = self.read_words(t.out(v3), 1)[0]
        self.check(moved > 2, "continue + interrupt: the counter is %d" % moved)
        self.check("detached" in t.out(det), "detach: %r" % t.out(det))
        return moved

    def session_running(self, l, before, final):
        counter = self.lay.counter
        conn = l.start_session()
        v0 = l.add("memory read -f x -s 8 -c 1 %#x" % counter)
        cont = None if final else l.add("process continue")
        v1 = None if final else l.add("memory read -f x -s 8 -c 1 %#x" % counter)
        det = l.add("detach")
        t = l.run()
        what = "reconnect after quit" if final else "connect to the running VM"
        self.check("stopped" in t.out(conn), "%s: no stop reported: %r" % (what, t.out(conn)))
        a = self.read_words(t.out(v0), 1)[0]
        self.check(a > before, "%s: counter %d, not above %d (VM not running?)" % (what, a, before))
        if not final:
            b = self.read_words(t.out(v1), 1)[0]
            self.check("Interrupted" in t.out(cont) or "stopped" in t.out(cont), "interrupt: %r" % t.out(cont))
            self.check(b > a, "continue + interrupt on the running VM: counter %d then %d" % (a, b))
            a = b
        self.check("detached" in t.out(det), "%s: detach %r" % (what, t.out(det)))
        return a

    def main(self):
        lldb_prog = procs.require("lldb", "LLDB")
        with runner.session(self.lay, self.args.kernel, self.args.bridge) as s:
            l = Lldb(lldb_prog, self.args.elf, s.port, self.args.timeout)
            n = self.session_halted(l)
            n = self.session_running(l, n, final=False)
            self.session_running(l, n, final=True)  # the previous LLDB quit; QEMU lives
        if s.bridge_rc != 0:
            self.check(False, "rspbridge exited with status %s after SIGTERM" % s.bridge_rc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--timeout", type=float, default=120, help="per LLDB run")
    args = ap.parse_args()
    no_skip = os.environ.get("RSP_NO_SKIP") == "1"
    t = None
    try:
        t = Test(args)
        t.main()
    except procs.Skip as e:
        print("lldb.py: %s" % e, file=sys.stderr)
        return 1 if no_skip else procs.SKIP
    except Exception as e:  # noqa: BLE001 - any error fails the test
        print("FAIL: %s: %s" % (type(e).__name__, e))
        return 1
    finally:
        procs.reap_all()
    print("test: %d checks, %d failures" % (t.checks, len(t.failures)))
    return 1 if t.failures else 0


if __name__ == "__main__":
    sys.exit(main())
