"""Checks a guest against QEMU itself, with no bridge: the guest's page tables are the ones
the layout describes, QEMU's MMU (gva2gpa, info tlb) translates every address of the layout
as the layout says, the byte patterns are where they should be, and the counter moves
between stops.  Runs inside GDB (see harness/runner.py)."""

import gdbside
from gdbside import norm_flags

SAMPLE = 120  # random VAs per root, on top of every mapping's edges and every hole
COUNT_STEPS = 50


def check_tables(t):
    """The tables in guest memory are the generated ones, but for the bits the MMU sets."""
    L = t.layout
    if L.mode.entry_size == 8:
        keep = ~L.mode.mmu_bits & ((1 << 64) - 1)
    else:
        keep = ~(L.mode.mmu_bits | L.mode.mmu_bits << 32) & ((1 << 64) - 1)
    for page in sorted(L.mem):
        buf = L.mem[page]
        got = t.xp(page, 512, 8)
        want = [int.from_bytes(buf[i : i + 8], "little") for i in range(0, 4096, 8)]
        bad = [i for i in range(512) if got[i] & keep != want[i] & keep]
        t.check(
            not bad,
            "table page %#x differs: %s"
            % (page, ", ".join("%#x: %#x not %#x" % (page + 8 * i, got[i], want[i]) for i in bad[:4])),
        )
    t.log("%d table pages compared with the layout" % len(L.mem))


def check_translation(t, root, n):
    L = t.layout
    vas = L.sample_vas(SAMPLE, t.seed + n, root)
    mapped = 0
    for va in vas:
        want = L.translate(va, root)
        got = t.gva2gpa(va)
        mapped += want is not None
        t.check(
            got == want,
            "root %s: gva2gpa %#x = %s, layout says %s"
            % (root, va, "unmapped" if got is None else "%#x" % got, "unmapped" if want is None else "%#x" % want),
        )
    t.log("root %s: %d VAs (%d mapped) agree with gva2gpa" % (root, len(vas), mapped))


def check_root(t, root):
    L = t.layout
    t.check(t.root() == L.root_pa[root], "live root %#x is not root %s" % (t.root(), root))
    if L.mode.halves == 2:
        t.check(t.root_hi() == L.root_pa_hi[root], "live upper root %#x is not %s's" % (t.root_hi(), root))
    t.check(t.root_tag() == L.asid, "root register tag (PCID/ASID) %#x, layout %#x" % (t.root_tag(), L.asid))


def check_tbi(t):
    """Top-byte-ignore: a tagged pointer translates like its untagged form."""
    L = t.layout
    n = 0
    for m in L.maps:
        if m.root == L.roots[0] and L.mode.half(m.va) == 0:
            for tag in (0x5A, 0xFF, 0x01):
                va = m.va + 0x10
                tagged = tag << 56 | va
                t.check(t.gva2gpa(tagged) == L.translate(va), "gva2gpa of tagged %#x" % tagged)
                n += 1
    t.log("TBI: %d tagged pointers translate like their untagged forms" % n)


def check_second_root(t):
    """Root B: switched by GDB on x86, by the guest elsewhere (it stops at root_b_live)."""
    L = t.layout
    root = L.roots[1]
    if t.can_set_root():
        t.set_root(root)
        check_translation(t, root, 1)
        t.set_root(L.roots[0])
    else:
        t.run_to("root_b_live")
        check_root(t, root)
        check_translation(t, root, 1)


def check_patterns(t):
    L = t.layout
    n = 0
    for base, size in L.patterns:
        for off in (0, 8, 0x1000, size // 2, size - 16):
            pa = base + (off & ~7)
            got = t.xp(pa, 2, 8)
            t.check(got == [L.pattern_word(pa), L.pattern_word(pa + 8)], "xp %#x: %s" % (pa, [hex(w) for w in got]))
            n += 1
    # The same bytes read through every mapping of root A that reaches a pattern.
    for m in L.maps:
        if m.root != L.roots[0]:
            continue
        for off in (0, m.size // 2, m.size - 16):
            va = m.va + (off & ~7)
            pa = L.translate(va)
            if L.pattern_word(pa) is None or L.pattern_word(pa + 8) is None:
                continue
            data = t.read_virt(va, 16)
            want = L.pattern_word(pa).to_bytes(8, "little") + L.pattern_word(pa + 8).to_bytes(8, "little")
            t.check(data == want, "%s: x/16xb %#x reads %s, pattern of PA %#x expected" % (m.name, va, data.hex(), pa))
            n += 1
    t.log("%d pattern reads agree" % n)


def check_info_tlb(t):
    L = t.layout
    got = t.info_tlb()
    # QEMU 7.2's `info tlb` prints 32-bit PDEs without their PSE-36 bits (PA 39:32).
    pa_mask = 0xFFFFFFFF if L.mode.name == "i386" else (1 << 64) - 1
    want = {lf.va: (lf.pa & pa_mask, norm_flags(lf.flags)) for lf in L.leaf_list()}
    for va in sorted(set(got) | set(want)):
        g, w = got.get(va), want.get(va)
        t.check(
            g == w,
            "info tlb %#x: QEMU %s, layout %s"
            % (va, "(%#x, %s)" % g if g else "nothing", "(%#x, %s)" % w if w else "nothing"),
        )
    t.log("info tlb: %d leaves agree with the layout" % len(want))


def check_cpus(t):
    """With several CPUs, CPU 0 runs on root A and the others on root B: QEMU's MMU agrees
    for each CPU (HMP `cpu N` selects the CPU gva2gpa uses; GDB thread N+1 is CPU N)."""
    L = t.layout
    a, b = L.roots[0], L.roots[1]
    vas = L.sample_vas(20, t.seed + 7, b)
    for cpu in range(1, L.cpus):
        t.gdb("thread %d" % (cpu + 1))
        check_root(t, b)
        t.monitor("cpu %d" % cpu)
        for va in vas:
            want, got = L.translate(va, b), t.gva2gpa(va)
            t.check(got == want, "cpu %d: gva2gpa %#x = %s, root %s says %s" % (cpu, va, got, b, want))
    t.monitor("cpu 0")
    t.gdb("thread 1")
    check_root(t, a)
    t.log("%d CPUs: CPU 0 on root %s, the others on root %s" % (L.cpus, a, b))


def check_counter(t):
    L = t.layout
    pa = L.translate(L.counter)
    loop = t.symbol("counter_loop")
    bp = gdbside.gdb.Breakpoint("*%#x" % loop, internal=True)
    t.gdb("continue")
    c0 = t.read_word(L.counter)
    t.check(t.xp(pa, 1, L.mode.word)[0] == c0, "counter: virtual and physical reads differ")
    bp.ignore_count = COUNT_STEPS - 1
    t.gdb("continue")
    c1 = t.read_word(L.counter)
    t.check(c1 == c0 + COUNT_STEPS, "counter: %d after %d more iterations from %d" % (c1, COUNT_STEPS, c0))
    bp.delete()
    last = c1
    for _ in range(2):
        t.interrupt_after(0.3)
        c = t.read_word(L.counter)
        t.check(c > last, "counter did not move while the guest ran: %d then %d" % (last, c))
        t.check(t.xp(pa, 1, L.mode.word)[0] == c, "counter: xp disagrees with the virtual read")
        last = c
    t.log("counter moved %d -> %d -> %d" % (c0, c1, last))


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    check_root(t, L.roots[0])
    if L.cpus > 1:
        check_cpus(t)
    check_tables(t)
    check_translation(t, L.roots[0], 0)
    if L.tbi:
        check_tbi(t)
    check_patterns(t)
    if L.mode.family == "x86":
        check_info_tlb(t)
    check_second_root(t)
    check_counter(t)


gdbside.run(main)
