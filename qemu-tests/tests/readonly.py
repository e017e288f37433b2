"""rspbridge --read-only end to end (runs inside GDB; runner.py --bridge ...
--bridge-arg=--read-only): breakpoints, reads and translation work; memory writes from GDB,
register writes and physical writes/fills are refused and change nothing."""

import gdbside


def main(t):
    t.connect()
    t.to_stop()  # a breakpoint: not a write, must work
    L = t.layout
    user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
    va, pa = user.va + 0x100, user.pa + 0x100
    before = t.xp(pa, 1, 8)[0]
    t.check(int.from_bytes(t.read_virt(va, 8), "little") == before, "x/ %#x disagrees with xp" % va)
    try:
        t.gdb("set *(unsigned char *)%#x = %#x" % (va, (before + 1) & 0xFF))
        t.check(False, "a memory write went through a read-only bridge")
    except gdbside.gdb.error:
        pass
    for cmd in ("phys write %#x 00112233" % pa, "phys fill %#x 0x10 ff" % pa, "phys write %#x --u8 0x1" % pa):
        out, ok = t.monitor_full(cmd)
        t.check(not ok, "`%s` succeeded on a read-only bridge: %r" % (cmd, out))
    t.check(t.xp(pa, 1, 8)[0] == before, "memory at %#x changed under a read-only bridge" % pa)
    reg = {"x86": "rbx" if L.mode.word == 8 else "ebx", "arm64": "x19", "riscv": "s2"}[L.mode.family]
    old = t.reg(reg)
    try:
        t.gdb("set $%s = %#x" % (reg, old ^ 0x5A5A))
    except gdbside.gdb.error:
        pass
    t.gdb("maintenance flush register-cache")
    t.check(t.reg(reg) == old, "$%s changed under a read-only bridge" % reg)
    j, ok = t.monitor_json("vtop %#x" % va)
    t.check(ok and int(j["pa"], 16) == pa, "vtop on a read-only bridge: %s" % j)
    t.log("read-only: writes refused, memory and registers unchanged, reads and vtop work")


gdbside.run(main)
