"""GDB's first memory write of a session made while a context is set (runs inside GDB
behind rspbridge).  GDB probes binary writes with `X addr,0:` on its first write and keeps
using X if the answer is OK; QEMU 7.2 has no X.  The bridge must answer the probe the same
way in every context, or later writes in the default context are lost (they were, until
the bridge's commit c447b72)."""

import gdbside


def poke(t, va, data):
    t.gdb("set *(unsigned char (*)[%d])%#x = {%s}" % (len(data), va, ", ".join("%#x" % b for b in data)))


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    a, b = L.roots[0], L.roots[1]
    user = next(m for m in L.maps if m.root == b and m.name == "user")
    va = user.va + 0x200
    pa_a, pa_b = L.translate(va, a), L.translate(va, b)
    t.monitor("context %#x" % L.root_pa[b])
    poke(t, va, b"\x11" * 8)  # GDB's first write: the X probe happens here
    t.check(t.xp(pa_b, 1, 8)[0] == 0x1111111111111111, "context B: the write missed B's page")
    t.monitor("context default")
    poke(t, va, b"\x22" * 8)
    got = t.xp(pa_a, 1, 8)[0]
    t.check(got == 0x2222222222222222, "default context: a write through %#x was lost (%#x at PA %#x)" % (va, got, pa_a))
    t.check(int.from_bytes(t.read_virt(va, 8), "little") == got, "x/ after the write disagrees with xp")
    t.log("first write in a context, then in the default context: both reach memory")


gdbside.run(main)
