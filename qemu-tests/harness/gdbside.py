"""Helpers for test scripts that run inside GDB (gdb -batch -x test.py), started by runner.py.

The runner passes everything through the environment: RSPT_PORT (where GDB connects: QEMU
or the bridge), RSPT_LAYOUT, RSPT_ELF, RSPT_BRIDGE, RSPT_SEED.  A script calls run(main):
failures are collected (check()), printed, and turned into GDB's exit status.
"""

import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback

import gdb  # noqa: F401 - only available inside GDB

import layout

SKIP = 77


class Fail(Exception):
    pass


class SkipTest(Exception):
    pass


class Ctx:
    def __init__(self):
        self.port = int(os.environ["RSPT_PORT"])
        self.layout = layout.Layout(os.environ["RSPT_LAYOUT"])
        self.elf = os.environ["RSPT_ELF"]
        self.bridge = os.environ.get("RSPT_BRIDGE") == "1"
        self.seed = int(os.environ.get("RSPT_SEED", str(int(time.time()) & 0xFFFF)))
        self.failures = []
        self.checks = 0
        self.mode = self.layout.mode

    # ---- reporting
    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.failures.append(msg)
            print("FAIL: " + msg)
        return cond

    def require(self, cond, msg):
        if not cond:
            raise Fail(msg)

    def log(self, msg):
        print("test: " + msg)
        sys.stdout.flush()

    # ---- GDB and the target
    def gdb(self, cmd):
        return gdb.execute(cmd, to_string=True)

    def connect(self):
        self.gdb("set pagination off")
        self.gdb("set confirm off")
        self.gdb("set width 0")
        self.gdb("file " + self.elf)
        self.gdb("target remote 127.0.0.1:%d" % self.port)

    def symbol(self, name):
        return int(gdb.parse_and_eval("(unsigned long long)&%s" % name)) & self.addr_mask()

    def addr_mask(self):
        return (1 << (8 * self.mode.word)) - 1 if self.mode.word == 4 else (1 << 64) - 1

    def to_stop(self):
        """Runs the guest to the layout's stop symbol (its tables are live)."""
        self.run_to(self.layout.stop)

    def run_to(self, name):
        where = self.symbol(name)
        if self.reg("pc") == where:
            return  # already there (an ELF entry point at reset): continue would step over it
        bp = gdb.Breakpoint("*%#x" % where, internal=True, temporary=True)
        self.gdb("continue")
        pc = self.reg("pc")
        self.require(pc == where, "guest did not stop at %s (%#x) but at %#x" % (name, where, pc))
        if bp.is_valid():
            bp.delete()

    def reg(self, name):
        out = self.gdb("p/x $%s" % name)
        m = re.search(r"= (0x[0-9a-f]+)", out)
        if not m:
            raise Fail("cannot read $%s: %r" % (name, out))
        return int(m.group(1), 16)

    def monitor(self, cmd):
        return self.gdb("monitor " + cmd).replace("\r", "")

    def monitor_full(self, cmd):
        """(output, ok) of a monitor command that may fail: GDB drops the output captured
        by to_string when the reply is an error, so it goes through a log file instead."""
        if not hasattr(self, "_log"):
            fd, self._log = tempfile.mkstemp(prefix="rspt-", suffix=".log")
            os.close(fd)
            for c in ("file " + self._log, "overwrite on", "redirect on", "debugredirect on"):
                gdb.execute("set logging " + c)
        ok = True
        gdb.execute("set logging enabled on")
        try:
            gdb.execute("monitor " + cmd)
        except gdb.error:
            ok = False
        finally:
            gdb.execute("set logging enabled off")
        with open(self._log) as f:
            return f.read().replace("\r", ""), ok

    def monitor_log(self):
        """The file monitor_full() captures output in (set up on first use); a test that runs
        `set logging enabled on` itself sees the output there as GDB gets it."""
        if not hasattr(self, "_log"):
            fd, self._log = tempfile.mkstemp(prefix="rspt-", suffix=".log")
            os.close(fd)
            for c in ("file " + self._log, "overwrite on", "redirect on", "debugredirect on"):
                gdb.execute("set logging " + c)
        return self._log

    def monitor_json(self, cmd):
        """The parsed --json answer of a bridge command and whether the command succeeded."""
        out, ok = self.monitor_full(cmd + " --json")
        try:
            j = json.loads(out)
            # --json answers OK with an "error" member when the command failed.
            return j, ok and not (isinstance(j, dict) and "error" in j)
        except ValueError as e:
            raise Fail("monitor %s --json: not JSON (%s): %r" % (cmd, e, out[:300]))

    def read_virt(self, va, n):
        return bytes(gdb.selected_inferior().read_memory(va, n))

    def read_word(self, va):
        return int.from_bytes(self.read_virt(va, self.mode.word), "little")

    # ---- QEMU's own answers (HMP through qRcmd, passed through by the bridge)
    def gva2gpa(self, va):
        out = self.monitor("gva2gpa %#x" % va).strip()
        if out == "Unmapped":
            return None
        m = re.fullmatch(r"gpa: (0x[0-9a-f]+|0)", out)
        if not m:
            raise Fail("gva2gpa %#x: unexpected answer %r" % (va, out))
        return int(m.group(1), 16)

    def xp(self, pa, count, size=8):
        """count words of size bytes at PA, read with QEMU's xp."""
        fmt = {1: "b", 2: "h", 4: "w", 8: "g"}[size]
        out = self.monitor("xp/%dx%s %#x" % (count, fmt, pa))
        words = []
        for line in out.splitlines():
            if ":" not in line:
                continue
            words += [int(w, 16) for w in line.split(":", 1)[1].split()]
        if len(words) != count:
            raise Fail("xp %#x: %d words instead of %d: %r" % (pa, len(words), count, out[:200]))
        return words

    def info_tlb(self):
        """QEMU's `info tlb` (x86): {va: (pa, flags letters)}; one line per leaf."""
        out = self.monitor("info tlb")
        leaves = {}
        for line in out.splitlines():
            m = re.fullmatch(r"([0-9a-f]+): ([0-9a-f]+) ([-XGPDACTUW]{9})", line.strip())
            if not m:
                if line.strip():
                    raise Fail("info tlb: unexpected line %r" % line)
                continue
            f = m.group(3)
            flags = "r"
            flags += "w" if f[8] == "W" else ""
            flags += "" if f[0] == "X" else "x"
            flags += "u" if f[7] == "U" else ""
            flags += "g" if f[1] == "G" else ""
            flags += "d" if f[5] == "C" else ""
            # QEMU 7.2 prints PAE entries with the NX bit (63) still in the address column;
            # no physical address has bits above 51.
            leaves[int(m.group(1), 16)] = (int(m.group(2), 16) & ((1 << 52) - 1), flags)
        return leaves

    # ---- address spaces
    def root(self):
        """The live root (page-table base, the TTBR0 half on AArch64)."""
        fam = self.mode.family
        if fam == "x86":
            # CR3 bits 11:0 are flags or a PCID, except under PAE where the PDPT is
            # 32-byte aligned.
            return self.reg("cr3") & ~(self.mode.root_align - 1) & ((1 << 52) - 1)
        if fam == "riscv":
            return (self.reg("satp") & ((1 << self.mode.ppn_bits) - 1)) << 12
        if fam == "arm64":
            return self.reg("TTBR0_EL1") & ((1 << 48) - 2)  # no ASID, no CnP
        raise Fail("no root register known for " + self.mode.name)

    def root_tag(self):
        """The tag the live root register carries besides the root (PCID, ASID)."""
        fam = self.mode.family
        if fam == "x86":
            return self.reg("cr3") & 0xFFF if self.mode.name.startswith("x86_64") else 0
        if fam == "riscv":
            satp = self.reg("satp")
            return (satp >> 22) & 0x1FF if self.mode.name == "sv32" else (satp >> 44) & 0xFFFF
        return self.reg("TTBR0_EL1") >> 48

    def root_hi(self):
        return self.reg("TTBR1_EL1") & ((1 << 48) - 2)

    def can_set_root(self):
        """x86 only: QEMU 7.2 writes CR3 from GDB; the others switch roots themselves."""
        return self.mode.family == "x86"

    def set_root(self, name):
        pa = self.layout.root_pa[name]
        if self.mode.family == "x86":
            self.gdb("set $cr3 = (void *)%#x" % (pa | self.layout.asid))
        else:
            raise Fail("cannot switch roots on " + self.mode.name)
        self.require(self.root() == pa, "root %s (%#x) not live after switching" % (name, pa))

    # ---- running
    def interrupt_after(self, seconds):
        """Continues, and interrupts the guest from a timer (as Ctrl-C would); the signal is
        repeated should GDB not have been waiting for the target yet (a loaded machine)."""
        done = threading.Event()

        def fire():
            if done.wait(seconds):
                return
            while not done.is_set():
                os.kill(os.getpid(), signal.SIGINT)
                done.wait(2.0)

        th = threading.Thread(target=fire, daemon=True)
        th.start()
        try:
            self.gdb("continue")
        finally:
            done.set()
            th.join()


def norm_flags(flags):
    return "".join(c for c in "rwxugd" if c in flags)


def run(main):
    ctx = None
    code = 1
    try:
        ctx = Ctx()
        main(ctx)
        code = 1 if ctx.failures else 0
        print("test: %d checks, %d failures (seed %d)" % (ctx.checks, len(ctx.failures), ctx.seed))
    except Fail as e:
        print("FAIL: %s" % e)
    except SkipTest as e:
        print("SKIP: %s" % e)
        code = SKIP
    except gdb.error as e:
        traceback.print_exc()
        print("FAIL: gdb error: %s" % e)
    except Exception:  # noqa: BLE001 - every error fails the test
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    if ctx is not None and hasattr(ctx, "_log"):
        try:
            os.unlink(ctx._log)  # os._exit runs no atexit handlers
        except OSError:
            pass
    os._exit(code)
