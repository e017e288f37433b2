"""Guest layouts: one text file per paging mode, read by the guest build and the tests.

A layout file (qemu-tests/layouts/*.layout) lists every mapping of a guest, its holes, a
counter, byte patterns and the QEMU command line.  This module parses it, builds the page
tables the guest will run on (the guest image carries them at their physical addresses), and
answers what the tests ask: where does VA go under root R, which walk stops where, what bytes
live at PA.  The same code runs at build time (gen.py) and inside GDB (the tests), so the
guest and the tests can never disagree about the layout.

Grammar, one directive per line, '#' starts a comment, numbers are hex with 0x or decimal:

    mode     NAME                       paging mode (see MODES)
    qemu     ARGS...                    QEMU program and machine arguments (no -kernel/-gdb)
    gdb      PROGRAM                    gdb or gdb-multiarch
    ram      BASE SIZE                  guest RAM
    image    BASE                       load address of the guest image
    tables   BASE SIZE                  pool for the generated page tables
    root     NAME                       an address space; the first one is live at the stop
    map      ROOT VA PA SIZE PAGE FLAGS NAME
                                        SIZE bytes of PAGE-sized leaves; FLAGS letters r w x
                                        u (user) g (global) d (device, uncached), p (x86 PAT
                                        bit: 12 in large pages, 7 in 4K PTEs), b (RISC-V
                                        Svpbmt PBMT=IO, bits 62:61), n (RISC-V Svnapot: 4K
                                        PTEs forming 64 KiB pages); '-' ignored
    hole     ROOT VA LEVEL              VA must be unmapped, the walk stopping at LEVEL
    parent   ROOT VA LEVEL FLAGS        the table entry at LEVEL on the walk of VA grants only
                                        FLAGS (of r w x u): effective permissions below it
                                        are the leaf's ANDed with these (x86, AArch64)
    pattern  BASE SIZE                  fill: the 64-bit LE word at PA p is PATTERN_TAG | p
    device   BASE SIZE NAME             an MMIO region (not RAM)
    counter  VA                         a 64-bit (32-bit on 32-bit guests) word the guest
                                        increments forever once its tables are live
    stop     SYMBOL                     the guest calls SYMBOL once its tables are live
    cpus     N                          CPUs (QEMU -smp N): CPU 0 runs on the first root, the
                                        others on the second (RISC-V guests)
    asid     N                          the root register carries tag N: PCID in CR3 (x86-64,
                                        CR4.PCIDE), ASID in TTBR0 (AArch64) or satp (RISC-V)
    tbi                                 AArch64 TCR_EL1.TBI0: tagged TTBR0 pointers
    alias    ROOT VA PA PAGES STRIDE COUNT FLAGS NAME [CYCLE]
                                        an aliased area like Linux's espfix: COUNT copies,
                                        STRIDE bytes apart from VA on, of PAGES 4K pages at
                                        PA (copy i at PA + (i % CYCLE) * PAGES * 4K); every
                                        last-level table of the area is the same one, so the
                                        image stays small.  The table span (2 MiB on x86-64)
                                        must be a multiple of STRIDE and of CYCLE copies; VA
                                        and COUNT * STRIDE multiples of it.  Not in
                                        leaf_list(): see alias_leaves()
    spread   ROOT VA PA COUNT VASTEP PASTEP PAGE FLAGS NAME
                                        COUNT one-page mappings: VA + i*VASTEP -> PA + i*PASTEP
"""

import os
import random

PATTERN_TAG = 0x5A00000000000000
PAGE = 4096

SIZE_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class LayoutError(Exception):
    pass


def parse_num(text):
    t = text.strip()
    if t and t[-1].upper() in SIZE_SUFFIX:
        return int(t[:-1], 0) * SIZE_SUFFIX[t[-1].upper()]
    return int(t, 0)


# --------------------------------------------------------------------------------------------
# Paging modes: levels as data, entry encodings as small functions.


class Level:
    def __init__(self, name, shift, bits, leaf):
        self.name = name
        self.shift = shift
        self.bits = bits
        self.leaf = leaf  # may this level hold a leaf (a page of 1 << shift bytes)?

    @property
    def entries(self):
        return 1 << self.bits

    def index(self, va):
        return (va >> self.shift) & (self.entries - 1)


X86_P, X86_W, X86_U, X86_PWT, X86_PCD = 1, 2, 4, 8, 0x10
X86_A, X86_D, X86_PS, X86_G = 0x20, 0x40, 0x80, 0x100
X86_NX = 1 << 63


class Mode:
    """A paging mode.  Subclasses give the entry encoding."""

    name = ""
    entry_size = 8
    levels = []
    va_bits = 0  # canonical width for sign-extended modes, else the VA width
    sign_extend = False
    root_align = PAGE
    pa_mask = (1 << 52) - 1
    word = 8  # size of the counter and of a pointer in the guest
    mmu_bits = 0
    granule = PAGE  # size and alignment of a table (but the root)
    halves = 1  # 2 when the top VA bit selects another root register (AArch64 TTBR1)
    family = ""

    def half(self, va):
        return 0

    def header_extra(self, lay):
        return []

    def leaf_address(self, raw, va, addr):
        """The page a leaf maps for va (Svnapot PTEs name a larger page than their own)."""
        return addr

    def canonical(self, va):
        if not self.sign_extend:
            return 0 <= va < (1 << self.va_bits)
        top = va >> (self.va_bits - 1)
        return top == 0 or top == (1 << (64 - self.va_bits + 1)) - 1

    def random_va(self, rnd):
        va = rnd.getrandbits(self.va_bits)
        if self.sign_extend and va >> (self.va_bits - 1):
            va |= ((1 << 64) - 1) ^ ((1 << self.va_bits) - 1)
        return va

    def va_mask(self):
        return (1 << 64) - 1 if self.sign_extend else (1 << self.va_bits) - 1

    def table_size(self, depth):
        return self.levels[depth].entries * self.entry_size

    def page_sizes(self):
        return [1 << lv.shift for lv in self.levels if lv.leaf]

    # Encoders, given a summary of what lies below a table entry (flags of every leaf).
    def table_entry(self, depth, next_pa, below, grant=None):
        """A table entry; grant (a set of r w x u) restricts everything below it."""
        raise NotImplementedError

    def leaf_entry(self, depth, pa, flags):
        raise NotImplementedError

    def decode(self, depth, raw):
        """Returns (present, leaf, address) of an entry at level depth."""
        raise NotImplementedError


class X86Mode(Mode):
    family = "x86"
    nx = True
    # Bits the MMU itself may set in the tables (accessed, dirty).  The generator sets them
    # in advance, except in PAE PDPTEs where they are reserved (QEMU 7.2 sets A there).
    mmu_bits = X86_A | X86_D

    def table_entry(self, depth, next_pa, below, grant=None):
        if grant is None:
            e = next_pa | X86_P | X86_W | X86_A
            return e | X86_U if "u" in below else e
        e = next_pa | X86_P | X86_A
        e |= X86_W if "w" in grant else 0
        e |= X86_U if "u" in grant else 0
        if "x" not in grant:
            if not self.nx:
                raise LayoutError("%s has no no-execute bit" % self.name)
            e |= X86_NX
        return e

    def leaf_entry(self, depth, pa, flags):
        e = pa | X86_P | X86_A | X86_D
        if depth != len(self.levels) - 1:
            e |= X86_PS
        if "w" in flags:
            e |= X86_W
        if "u" in flags:
            e |= X86_U
        if "g" in flags:
            e |= X86_G
        if "d" in flags:
            e |= X86_PCD | X86_PWT
        if "p" in flags:
            e |= 1 << 12 if depth != len(self.levels) - 1 else 1 << 7  # PAT, not address bits
        if "x" not in flags:
            if not self.nx:
                raise LayoutError("%s has no no-execute bit: use x on every mapping" % self.name)
            e |= X86_NX
        return e

    def decode(self, depth, raw):
        present = bool(raw & X86_P)
        last = depth == len(self.levels) - 1
        leaf = last or (self.levels[depth].leaf and bool(raw & X86_PS))
        if leaf:
            mask = ~((1 << self.levels[depth].shift) - 1)
        else:
            mask = ~(PAGE - 1)
        return present, leaf, raw & mask & self.pa_mask

    def flags_of(self, raw):
        """Flags letters of a leaf entry, for comparisons with info tlb and the layout."""
        f = "r"
        if raw & X86_W:
            f += "w"
        if not (raw & X86_NX) or not self.nx:
            f += "x"
        if raw & X86_U:
            f += "u"
        if raw & X86_G:
            f += "g"
        if raw & X86_PCD:
            f += "d"
        return f


class X86_64(X86Mode):
    name = "x86_64"
    levels = [
        Level("PML4", 39, 9, False),
        Level("PDPT", 30, 9, True),
        Level("PD", 21, 9, True),
        Level("PT", 12, 9, True),
    ]
    va_bits = 48
    sign_extend = True


class X86_64_LA57(X86_64):
    name = "x86_64_la57"
    levels = [Level("PML5", 48, 9, False)] + X86_64.levels
    va_bits = 57


class I386(X86Mode):
    """32-bit paging (no PAE) with 4 MiB pages (CR4.PSE)."""

    name = "i386"
    entry_size = 4
    levels = [Level("PD", 22, 10, True), Level("PT", 12, 10, True)]
    va_bits = 32
    pa_mask = (1 << 40) - 1  # 4 MiB pages reach 40 bits with PSE-36
    nx = False
    word = 4

    def leaf_entry(self, depth, pa, flags):
        e = super().leaf_entry(depth, pa & 0xFFFFFFFF, flags)
        if depth == 0:
            e |= ((pa >> 32) & 0xFF) << 13  # PSE-36: PA bits 39:32 in PDE bits 20:13
        elif pa >> 32:
            raise LayoutError("4 KiB pages of 32-bit paging reach 4 GiB only")
        return e

    def decode(self, depth, raw):
        present, leaf, addr = super().decode(depth, raw)
        if leaf and depth == 0:
            addr = (raw & 0xFFC00000) | ((raw >> 13) & 0xFF) << 32
        return present, leaf, addr & (0xFFFFFFFFFF if depth == 0 and leaf else 0xFFFFF000)


class I386_PAE(X86Mode):
    """PAE paging: a 32-byte PDPT of four entries that hold only P (and PWT/PCD)."""

    name = "i386_pae"
    levels = [Level("PDPT", 30, 2, False), Level("PD", 21, 9, True), Level("PT", 12, 9, True)]
    va_bits = 32
    root_align = 32
    word = 4

    def table_entry(self, depth, next_pa, below, grant=None):
        if depth == 0:
            if grant is not None:
                raise LayoutError("PAE PDPTEs carry no permissions")
            return next_pa | X86_P  # R/W, U/S, A and NX are reserved in PDPTEs
        return super().table_entry(depth, next_pa, below, grant)


RV_V, RV_R, RV_W, RV_X, RV_U, RV_G, RV_A, RV_D = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80


class RiscvMode(Mode):
    """Sv32/Sv39/Sv48/Sv57.  Levels are named as in the privileged spec (VPN[i] -> Li)."""

    family = "riscv"
    mmu_bits = RV_A | RV_D
    satp_mode = 0
    ppn_bits = 44

    def __init__(self, name, nlevels, satp_mode):
        self.name = name
        self.satp_mode = satp_mode
        if name == "sv32":
            self.entry_size, self.word, self.va_bits, self.ppn_bits = 4, 4, 32, 22
            self.levels = [Level("L1", 22, 10, True), Level("L0", 12, 10, True)]
            self.pa_mask = (1 << 34) - 1
        else:
            self.sign_extend = True
            self.va_bits = 12 + 9 * nlevels
            self.levels = [Level("L%d" % i, 12 + 9 * i, 9, True) for i in reversed(range(nlevels))]
            self.pa_mask = (1 << 56) - 1

    def table_entry(self, depth, next_pa, below, grant=None):
        if grant is not None:
            raise LayoutError("RISC-V non-leaf PTEs carry no permissions")
        return (next_pa >> 12) << 10 | RV_V

    def leaf_entry(self, depth, pa, flags):
        e = (pa >> 12) << 10 | RV_V | RV_A | RV_D | RV_R
        for letter, bit in (("w", RV_W), ("x", RV_X), ("u", RV_U), ("g", RV_G)):
            if letter in flags:
                e |= bit
        if "b" in flags:
            if self.name == "sv32":
                raise LayoutError("Sv32 has no Svpbmt")
            e |= 2 << 61  # Svpbmt IO: bits 62:61, never address bits
        if "n" in flags:
            if self.name == "sv32" or depth != len(self.levels) - 1:
                raise LayoutError("Svnapot: RV64 4K PTEs only")
            # Sixteen PTEs alike: N (bit 63) and PPN[3:0] = 0b1000 for a 64 KiB page.
            e = (e & ~(((1 << self.ppn_bits) - 1) << 10)) | (((pa >> 12) & ~0xF) | 0x8) << 10 | 1 << 63
        return e  # "d" alone (device) has no bit: PMAs decide

    def decode(self, depth, raw):
        leaf = bool(raw & (RV_R | RV_X))
        ppn = (raw >> 10) & ((1 << self.ppn_bits) - 1)
        if leaf and raw >> 63 and self.name != "sv32":
            ppn &= ~0xF  # Svnapot: the 64 KiB page's base; VA bits 15:12 select the 4K
        return bool(raw & RV_V), leaf, ppn << 12

    def leaf_address(self, raw, va, addr):
        if raw >> 63 and self.name != "sv32":
            return addr | (va & 0xF000)
        return addr

    def satp(self, root_pa, asid=0):
        if self.name == "sv32":
            return 1 << 31 | asid << 22 | root_pa >> 12
        return self.satp_mode << 60 | asid << 44 | root_pa >> 12

    def header_extra(self, lay):
        return ["#define LAYOUT_SATP_%s 0x%x" % (r, self.satp(lay.root_pa[r], lay.asid)) for r in lay.roots]


A64_VALID, A64_TABLE, A64_AF, A64_NG = 1, 2, 1 << 10, 1 << 11
A64_AP_EL0, A64_AP_RO = 1 << 6, 1 << 7
A64_PXN, A64_UXN = 1 << 53, 1 << 54


class Arm64Mode(Mode):
    """AArch64 stage 1, EL1&0, 48-bit VAs in both halves (TTBR0_EL1 below, TTBR1_EL1 above)."""

    family = "arm64"
    sign_extend = True
    va_bits = 48
    halves = 2
    pa_mask = (1 << 48) - 1

    def __init__(self, name, granule):
        self.name = name
        self.granule = granule
        if granule == 4 << 10:
            self.levels = [
                Level("L0", 39, 9, False),
                Level("L1", 30, 9, True),
                Level("L2", 21, 9, True),
                Level("L3", 12, 9, True),
            ]
            self.tg0, self.tg1 = 0, 2
        elif granule == 16 << 10:
            self.levels = [
                Level("L0", 47, 1, False),
                Level("L1", 36, 11, False),
                Level("L2", 25, 11, True),
                Level("L3", 14, 11, True),
            ]
            self.tg0, self.tg1 = 2, 1
        else:
            self.levels = [Level("L1", 42, 6, False), Level("L2", 29, 13, True), Level("L3", 16, 13, True)]
            self.tg0, self.tg1 = 1, 3

    def half(self, va):
        return (va >> 55) & 1

    def canonical(self, va):
        # T0SZ = T1SZ = 16: TTBR0 covers bits 63:48 all zero, TTBR1 all one (no TBI here).
        return (va >> 48) in (0, 0xFFFF)

    def random_va(self, rnd):
        va = rnd.getrandbits(48)
        return va | (0xFFFF << 48 if rnd.random() < 0.5 else 0)

    def table_entry(self, depth, next_pa, below, grant=None):
        e = next_pa | A64_VALID | A64_TABLE
        if grant is not None:
            e |= 0 if "w" in grant else 1 << 62  # APTable[1]: no write at any EL
            e |= 0 if "u" in grant else 1 << 61  # APTable[0]: no EL0 access
            e |= 0 if "x" in grant else 3 << 59  # UXNTable, PXNTable
        return e

    def leaf_entry(self, depth, pa, flags):
        e = pa | A64_VALID | A64_AF
        if depth == len(self.levels) - 1:
            e |= A64_TABLE  # a page descriptor has the table bit set
        if "d" in flags:
            e |= 1 << 2  # MAIR attribute 1: Device-nGnRE, not shareable
        else:
            e |= 3 << 8  # attribute 0: normal write-back, inner shareable
        if "u" in flags:
            e |= A64_AP_EL0
        if "w" not in flags:
            e |= A64_AP_RO
        if "g" not in flags:
            e |= A64_NG
        if "x" not in flags:
            e |= A64_PXN | A64_UXN
        elif "u" in flags:
            e |= A64_PXN  # user code: never executable at EL1
        else:
            e |= A64_UXN
        return e

    def decode(self, depth, raw):
        last = depth == len(self.levels) - 1
        if last:
            present, leaf = (raw & 3) == 3, True
        else:
            present, leaf = bool(raw & 1), not (raw & A64_TABLE)
        size = 1 << self.levels[depth].shift if leaf else self.granule
        return present, leaf, raw & self.pa_mask & ~(size - 1)

    def tcr(self, tbi=False):
        t0sz = t1sz = 64 - self.va_bits
        wbwa_ish = 1 << 8 | 1 << 10 | 3 << 12  # IRGN0, ORGN0 write-back, SH0 inner shareable
        return (
            t0sz
            | wbwa_ish
            | self.tg0 << 14
            | t1sz << 16
            | wbwa_ish << 16
            | self.tg1 << 30
            | 5 << 32  # IPS: 48-bit physical addresses
            | (1 << 37 if tbi else 0)  # TBI0: the top byte of TTBR0 addresses is ignored
        )

    def header_extra(self, lay):
        out = ["#define LAYOUT_TCR 0x%x" % self.tcr(lay.tbi), "#define LAYOUT_MAIR 0x4ff"]
        for r in lay.roots:
            out.append("#define LAYOUT_TTBR0_%s 0x%x" % (r, lay.asid << 48 | lay.root_pa[r]))
            out.append("#define LAYOUT_TTBR1_%s 0x%x" % (r, lay.root_pa_hi[r]))
        return out


MODES = {
    m.name: m
    for m in (
        X86_64(),
        X86_64_LA57(),
        I386(),
        I386_PAE(),
        RiscvMode("sv32", 2, 1),
        RiscvMode("sv39", 3, 8),
        RiscvMode("sv48", 4, 9),
        RiscvMode("sv57", 5, 10),
        Arm64Mode("arm64_4k", 4 << 10),
        Arm64Mode("arm64_16k", 16 << 10),
        Arm64Mode("arm64_64k", 64 << 10),
    )
}


# --------------------------------------------------------------------------------------------
# The layout itself.


class Mapping:
    def __init__(self, root, va, pa, size, page, flags, name):
        self.root, self.va, self.pa, self.size = root, va, pa, size
        self.page, self.flags, self.name = page, flags, name

    def contains(self, va):
        return self.va <= va < self.va + self.size

    def __repr__(self):
        return "map(%s %#x->%#x %#x/%#x %s %s)" % (
            self.root,
            self.va,
            self.pa,
            self.size,
            self.page,
            self.flags,
            self.name,
        )


class Alias:
    def __init__(self, root, va, pa, pages, stride, count, flags, name, cycle):
        self.root, self.va, self.pa, self.pages, self.stride = root, va, pa, pages, stride
        self.count, self.flags, self.name, self.cycle = count, flags, name, cycle

    @property
    def span(self):
        return self.stride * self.count

    def instance(self, va):
        """The Mapping of the copy holding va, or None."""
        off = va - self.va
        if not 0 <= off < self.span:
            return None
        i, within = divmod(off, self.stride)
        if within >= self.pages * PAGE:
            return None
        pa = self.pa + (i % self.cycle) * self.pages * PAGE
        return Mapping(self.root, self.va + i * self.stride, pa, self.pages * PAGE, PAGE, self.flags, self.name)


class Shared(dict):
    """A table node that appears at several places of the tree: emitted once."""

    def __init__(self, flags):
        super().__init__()
        self.flags = flags


class Leaf:
    def __init__(self, va, pa, size, flags, mapping, raw, depth):
        self.va, self.pa, self.size, self.flags = va, pa, size, flags
        self.mapping, self.raw, self.depth = mapping, raw, depth


class Step:
    """One level of a walk: the entry read and what it says."""

    def __init__(self, depth, name, index, entry_pa, raw, present, leaf, address):
        self.depth, self.name, self.index, self.entry_pa, self.raw = depth, name, index, entry_pa, raw
        self.present, self.leaf, self.address = present, leaf, address


class Layout:
    def __init__(self, path):
        self.path = path
        self.mode = None
        self.qemu = []
        self.gdb = "gdb"
        self.ram = []
        self.image_base = None
        self.tables_base = self.tables_size = None
        self.roots = []  # names, first is live at the stop
        self.maps = []
        self.holes = []  # (root, va, level name)
        self.parents = []  # (root, va, level name, granted flags)
        self.patterns = []  # (base, size)
        self.devices = []  # (base, size, name)
        self.counter = None
        self.stop = None
        self.cpus = 1
        self.asid = 0
        self.tbi = False
        self.aliases = []
        self._parse()
        self._build()

    # ---- parsing
    def _parse(self):
        with open(self.path) as f:
            lines = f.readlines()
        for n, line in enumerate(lines, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            try:
                self._directive(words[0], words[1:])
            except (ValueError, IndexError, KeyError) as e:
                raise LayoutError("%s:%d: %s: %s" % (self.path, n, line.strip(), e)) from e
        if self.mode is None or not self.roots or self.counter is None or self.stop is None:
            raise LayoutError("%s: mode, root, counter and stop are required" % self.path)

    def _directive(self, d, a):
        if d == "mode":
            self.mode = MODES[a[0]]
        elif d == "qemu":
            self.qemu = a
        elif d == "gdb":
            self.gdb = a[0]
        elif d == "ram":
            self.ram.append((parse_num(a[0]), parse_num(a[1])))
        elif d == "image":
            self.image_base = parse_num(a[0])
        elif d == "tables":
            self.tables_base, self.tables_size = parse_num(a[0]), parse_num(a[1])
        elif d == "root":
            self.roots.append(a[0])
        elif d == "map":
            root, va, pa, size, page, flags, name = a
            if root not in self.roots:
                raise KeyError("unknown root " + root)
            flags = flags.replace("-", "")
            if set(flags) - set("rwxugdpbn"):
                raise ValueError("bad flags")
            m = Mapping(root, parse_num(va), parse_num(pa), parse_num(size), parse_num(page), flags, name)
            if m.va % m.page or m.pa % m.page or m.size % m.page or m.size == 0:
                raise ValueError("VA, PA and size must be multiples of the page size")
            if "n" in flags and (m.page != PAGE or (m.va | m.pa | m.size) & 0xFFFF):
                raise ValueError("NAPOT mappings are 4K PTEs, VA, PA and size 64K-aligned")
            self.maps.append(m)
        elif d == "spread":
            root, va, pa, count, vastep, pastep, page, flags, name = a
            if root not in self.roots:
                raise KeyError("unknown root " + root)
            va, pa, page = parse_num(va), parse_num(pa), parse_num(page)
            vastep, pastep = parse_num(vastep), parse_num(pastep)
            flags = flags.replace("-", "")
            for i in range(parse_num(count)):
                self._directive("map", [root, str(va + i * vastep), str(pa + i * pastep), str(page), str(page), flags, name])
        elif d == "alias":
            root, va, pa, pages, stride, count, flags, name = a[:8]
            if root not in self.roots:
                raise KeyError("unknown root " + root)
            flags = flags.replace("-", "")
            if set(flags) - set("rwxugdp"):
                raise ValueError("bad flags")
            al = Alias(root, parse_num(va), parse_num(pa), parse_num(pages), parse_num(stride),
                       parse_num(count), flags, name, parse_num(a[8]) if len(a) > 8 else 1)
            if al.pages < 1 or al.stride % PAGE or al.pages * PAGE > al.stride or al.count < 1 or al.cycle < 1:
                raise ValueError("PAGES within STRIDE, STRIDE a multiple of 4K")
            self.aliases.append(al)
        elif d == "parent":
            grant = set(a[3].replace("-", ""))
            if grant - set("rwxu"):
                raise ValueError("bad flags")
            self.parents.append((a[0], parse_num(a[1]), a[2], grant))
        elif d == "hole":
            self.holes.append((a[0], parse_num(a[1]), a[2]))
        elif d == "pattern":
            self.patterns.append((parse_num(a[0]), parse_num(a[1])))
        elif d == "device":
            self.devices.append((parse_num(a[0]), parse_num(a[1]), a[2]))
        elif d == "counter":
            self.counter = parse_num(a[0])
        elif d == "stop":
            self.stop = a[0]
        elif d == "cpus":
            self.cpus = int(a[0])
        elif d == "asid":
            self.asid = parse_num(a[0])
        elif d == "tbi":
            self.tbi = True
        else:
            raise ValueError("unknown directive")

    # ---- page-table construction
    def _alloc(self, size, align):
        pa = (self._next + align - 1) & ~(align - 1)
        if pa + size > self.tables_base + self.tables_size:
            raise LayoutError("%s: page-table pool too small" % self.path)
        self._next = pa + size
        return pa

    def _build(self):
        mode = self.mode
        self.mem = {}  # page PA -> bytearray, the tables only
        self._next = self.tables_base
        self.root_pa = {}
        self.root_pa_hi = {}  # the TTBR1 half, when the mode has two
        gran = mode.granule
        for r in self.roots:
            if mode.root_align < PAGE:
                # PAE: roots are 32-byte PDPTs; keep them off the page start, as Linux does.
                if self._next % PAGE == 0:
                    self._next += mode.root_align
                self.root_pa[r] = self._alloc(mode.table_size(0), mode.root_align)
            else:
                self.root_pa[r] = self._alloc(gran, gran)
            if mode.halves == 2:
                self.root_pa_hi[r] = self._alloc(gran, gran)
        self._next = (self._next + gran - 1) & ~(gran - 1)
        # Summaries of flags below each table entry: decided before encoding.
        self.leaves = {r: {} for r in self.roots}  # (va, size) -> Leaf
        tree = {(r, h): {} for r in self.roots for h in range(mode.halves)}  # index -> subtree or Leaf
        below = {}  # (root, depth, prefix) -> set of flag letters
        for m in self.maps:
            depth = self._depth_for(m.page)
            for off in range(0, m.size, m.page):
                va, pa = (m.va + off) & mode.va_mask(), m.pa + off
                if not mode.canonical(va):
                    raise LayoutError("%r: VA %#x not canonical" % (m, va))
                node = tree[(m.root, mode.half(va))]
                path = (mode.half(va),)
                for d in range(depth):
                    idx = mode.levels[d].index(va)
                    path += (idx,)
                    below.setdefault((m.root, path), set()).update(m.flags)
                    node = node.setdefault(idx, {})
                    if isinstance(node, Leaf):
                        raise LayoutError("%r overlaps a larger page" % m)
                idx = mode.levels[depth].index(va)
                if idx in node:
                    raise LayoutError("%r overlaps another mapping at %#x" % (m, va))
                raw = mode.leaf_entry(depth, pa, m.flags)
                leaf = Leaf(va, pa, m.page, m.flags, m, raw, depth)
                node[idx] = leaf
                self.leaves[m.root][(va, m.page)] = leaf
        self._shared = {}  # id(Shared node) -> its table's PA
        for al in self.aliases:
            self._build_alias(al, tree, below)
        self.grants = {}  # (root, path to a table entry) -> granted flags
        names = [lv.name for lv in mode.levels]
        for root, va, level, grant in self.parents:
            depth = names.index(level)
            path = (mode.half(va),) + tuple(mode.levels[d].index(va) for d in range(depth + 1))
            if (root, path) not in below:
                raise LayoutError("parent %#x %s: no table entry there" % (va, level))
            self.grants[(root, path)] = grant
        for r in self.roots:
            self._emit(r, tree[(r, 0)], 0, self.root_pa[r], (0,), below)
            if mode.halves == 2:
                self._emit(r, tree[(r, 1)], 0, self.root_pa_hi[r], (1,), below)
        self._check()

    def _build_alias(self, al, tree, below):
        """One last-level table holding the copies of a table span, hung under every
        table span of the area."""
        mode = self.mode
        last = len(mode.levels) - 1
        span = 1 << mode.levels[last - 1].shift
        per = span // al.stride if span % al.stride == 0 else 0
        if not per or per % al.cycle or al.va % span or al.span % span:
            raise LayoutError("alias %s: stride, cycle, VA or size do not fit a %#x table span" % (al.name, span))
        pt = Shared(set(al.flags))
        for i in range(per):
            for p in range(al.pages):
                off = i * al.stride + p * PAGE
                pa = al.pa + (i % al.cycle) * al.pages * PAGE + p * PAGE
                raw = mode.leaf_entry(last, pa, al.flags)
                pt[mode.levels[last].index(off)] = Leaf(None, pa, PAGE, al.flags, None, raw, last)
        for base in range(al.va, al.va + al.span, span):
            va = base & mode.va_mask()
            if not mode.canonical(va) or not mode.canonical((base + span - 1) & mode.va_mask()):
                raise LayoutError("alias %s: VA %#x not canonical" % (al.name, va))
            node = tree[(al.root, mode.half(va))]
            path = (mode.half(va),)
            for d in range(last):
                idx = mode.levels[d].index(va)
                path += (idx,)
                below.setdefault((al.root, path), set()).update(al.flags)
                if d == last - 1:
                    if idx in node:
                        raise LayoutError("alias %s overlaps a mapping at %#x" % (al.name, va))
                    node[idx] = pt
                else:
                    node = node.setdefault(idx, {})
                    if isinstance(node, (Leaf, Shared)):
                        raise LayoutError("alias %s overlaps a mapping at %#x" % (al.name, va))

    def alias_leaves(self, root=None):
        """Every 4K leaf of the aliased areas of root: (va, pa, flags), sorted by VA."""
        root = root or self.roots[0]
        out = []
        for al in sorted((a for a in self.aliases if a.root == root), key=lambda a: a.va):
            for i in range(al.count):
                pa = al.pa + (i % al.cycle) * al.pages * PAGE
                for p in range(al.pages):
                    out.append(((al.va + i * al.stride + p * PAGE) & self.mode.va_mask(), pa + p * PAGE, al.flags))
        return out

    def _depth_for(self, page):
        for d, lv in enumerate(self.mode.levels):
            if lv.leaf and (1 << lv.shift) == page:
                return d
        raise LayoutError("%s has no %#x-byte pages" % (self.mode.name, page))

    def _write(self, pa, value, size):
        page = pa & ~(PAGE - 1)
        buf = self.mem.setdefault(page, bytearray(PAGE))
        off = pa - page
        buf[off : off + size] = value.to_bytes(size, "little")

    def _emit(self, root, node, depth, table_pa, path, below):
        mode = self.mode
        first = table_pa & ~(PAGE - 1)
        for page in range(first, max(first + PAGE, table_pa + mode.table_size(depth)), PAGE):
            self.mem.setdefault(page, bytearray(PAGE))
        for idx in sorted(node):
            child = node[idx]
            entry_pa = table_pa + idx * mode.entry_size
            if isinstance(child, Leaf):
                self._write(entry_pa, child.raw, mode.entry_size)
                continue
            if isinstance(child, Shared) and id(child) in self._shared:
                flags = below[(root, path + (idx,))]
                sub = self._shared[id(child)]
                self._write(entry_pa, mode.table_entry(depth, sub, flags, None), mode.entry_size)
                continue
            sub = self._alloc(mode.granule, mode.granule)
            if isinstance(child, Shared):
                self._shared[id(child)] = sub
            flags = below[(root, path + (idx,))]
            grant = self.grants.get((root, path + (idx,)))
            self._write(entry_pa, mode.table_entry(depth, sub, flags, grant), mode.entry_size)
            self._emit(root, child, depth + 1, sub, path + (idx,), below)

    def read_table(self, pa, size):
        page = pa & ~(PAGE - 1)
        buf = self.mem.get(page)
        if buf is None:
            return None
        return int.from_bytes(buf[pa - page : pa - page + size], "little")

    def walk(self, va, root=None):
        """The reference walk over the generated tables: a list of Steps, top level first."""
        mode = self.mode
        root = root or self.roots[0]
        table = self.root_pa_hi[root] if mode.half(va) else self.root_pa[root]
        steps = []
        for depth, lv in enumerate(mode.levels):
            idx = lv.index(va)
            entry_pa = table + idx * mode.entry_size
            raw = self.read_table(entry_pa, mode.entry_size)
            if raw is None:
                raise LayoutError("walk left the generated tables at %#x" % entry_pa)
            present, leaf, addr = mode.decode(depth, raw)
            if present and leaf:
                addr = mode.leaf_address(raw, va, addr)
            steps.append(Step(depth, lv.name, idx, entry_pa, raw, present, leaf, addr))
            if not present or leaf:
                break
            table = addr
        return steps

    def _check(self):
        # Every hole really is one, stopping where the layout says.
        for root, va, level in self.holes:
            if self.translate(va, root) is not None:
                raise LayoutError("hole %#x is mapped" % va)
            if level == "noncanonical":
                if self.mode.canonical(va):
                    raise LayoutError("hole %#x is canonical" % va)
                continue
            steps = self.walk(va, root)
            if steps[-1].name != level or steps[-1].present:
                raise LayoutError("hole %#x stops at %s, not %s" % (va, steps[-1].name, level))
        # Every leaf is found again by the walk.
        for r in self.roots:
            for leaf in self.leaves[r].values():
                st = self.walk(leaf.va, r)[-1]
                if not (st.present and st.leaf and st.address == leaf.pa):
                    raise LayoutError("walk of %#x disagrees with the layout" % leaf.va)
        # Aliased areas: the first, last and a few copies in between.
        for al in self.aliases:
            for i in sorted({0, 1, al.count // 2, al.count - 1}):
                va = (al.va + i * al.stride) & self.mode.va_mask()
                st = self.walk(va, al.root)[-1]
                if not (st.present and st.leaf and st.address == self.translate(va, al.root)):
                    raise LayoutError("walk of alias %#x disagrees with the layout" % va)
        m = self.mapping_at(self.counter)
        if m is None or "w" not in m.flags:
            raise LayoutError("counter %#x is not mapped writable in %s" % (self.counter, self.roots[0]))

    # ---- questions the tests ask
    def mapping_at(self, va, root=None):
        root = root or self.roots[0]
        va &= self.mode.va_mask()
        for m in self.maps:
            if m.root == root and m.contains(va):
                return m
        for al in self.aliases:
            if al.root == root:
                m = al.instance(va)
                if m is not None:
                    return m
        return None

    def effective(self, va, root=None):
        """Flags of the mapping of VA after the restrictions of its parent entries."""
        root = root or self.roots[0]
        m = self.mapping_at(va, root)
        if m is None:
            return None
        flags = set(m.flags)
        mode = self.mode
        va &= mode.va_mask()
        for r, pva, level, grant in self.parents:
            d = [lv.name for lv in mode.levels].index(level)
            same = mode.half(pva) == mode.half(va) and all(
                mode.levels[i].index(pva) == mode.levels[i].index(va) for i in range(d + 1)
            )
            if r == root and same:
                flags -= set("wxu") - grant
        return "".join(c for c in "rwxugdpb" if c in flags)

    def translate(self, va, root=None):
        """Expected PA of VA under root (the first root by default), or None if unmapped."""
        if not self.mode.canonical(va & self.mode.va_mask()):
            return None
        m = self.mapping_at(va, root)
        if m is None:
            return None
        return m.pa + ((va & self.mode.va_mask()) - m.va)

    def leaf_list(self, root=None):
        """Every leaf of root, sorted by VA."""
        return sorted(self.leaves[root or self.roots[0]].values(), key=lambda lf: lf.va)

    def pattern_word(self, pa):
        """The expected 64-bit word at 8-aligned PA, or None if PA holds no pattern."""
        for base, size in self.patterns:
            if base <= pa < base + size:
                return PATTERN_TAG | pa
        return None

    def is_ram(self, pa):
        return any(b <= pa < b + s for b, s in self.ram)

    def is_device(self, pa):
        return any(b <= pa < b + s for b, s, _n in self.devices)

    def sample_vas(self, count, seed, root=None):
        """VAs worth asking about: both ends and the middle of every mapping, every hole,
        a random byte of every page, and a seeded random sample (inside mappings, next to
        them, anywhere)."""
        root = root or self.roots[0]
        rnd = random.Random(seed)
        vas = []
        mine = [m for m in self.maps if m.root == root]
        for m in mine:
            vas += [m.va, m.va + m.size // 2 + 0x123, m.va + m.size - 1, m.va - 1, m.va + m.size]
        vas += [va for r, va, _ in self.holes if r == root]
        # Every page: one random byte of each leaf.
        vas += [lf.va + rnd.randrange(lf.size) for lf in self.leaf_list(root)]
        mode = self.mode
        for _ in range(count):
            kind = rnd.random()
            if kind < 0.5:
                m = rnd.choice(mine)
                va = m.va + rnd.randrange(m.size)
            elif kind < 0.75:
                m = rnd.choice(mine)
                va = m.va + m.size + rnd.randrange(-4 * PAGE, 4 * PAGE)
            else:
                va = mode.random_va(rnd)
            vas.append(va & ((1 << 64) - 1))
        out = []
        for va in vas:
            if mode.sign_extend:
                va &= (1 << 64) - 1
            elif not 0 <= va < (1 << mode.va_bits):
                continue
            if mode.canonical(va):
                out.append(va)
        return out

    # ---- build-time outputs
    def header(self):
        """A C/assembler header with the layout's constants for the guest."""
        lines = [
            "/* Generated from %s by qemu-tests/harness/gen.py: do not edit. */" % os.path.basename(self.path),
            "#ifndef LAYOUT_H",
            "#define LAYOUT_H",
            "#define LAYOUT_IMAGE_BASE 0x%x" % self.image_base,
            "#define LAYOUT_COUNTER_VA 0x%x" % self.counter,
            "#define LAYOUT_CPUS %d" % self.cpus,
            "#define LAYOUT_ASID 0x%x" % self.asid,
        ]
        for r in self.roots:
            lines.append("#define LAYOUT_ROOT_%s 0x%x" % (r, self.root_pa[r]))
        lines += self.mode.header_extra(self)
        lines += ["#endif", ""]
        return "\n".join(lines)

    def image_chunks(self):
        """(PA, bytes) regions the image must carry besides the guest code: tables, patterns."""
        chunks = []
        for page in sorted(self.mem):
            chunks.append((page, bytes(self.mem[page])))
        for base, size in self.patterns:
            data = bytearray()
            for pa in range(base, base + size, 8):
                data += (PATTERN_TAG | pa).to_bytes(8, "little")
            chunks.append((base, bytes(data)))
        return chunks
