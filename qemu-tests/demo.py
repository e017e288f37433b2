#!/usr/bin/env python3
"""The README demo: boots the bundled x86-64 guest (qemu-tests/guests/x86, 4-level paging,
known page tables) under QEMU, puts rspbridge in front of its gdbstub and has stock GDB run
monitor vtop, pte, maps and phys read on it, next to QEMU's own answers.

    demo.py [--build-dir build/release] [--interactive | --check]

--interactive leaves you at the (gdb) prompt once the tour is over; --check (used by CTest)
verifies the transcript against the layout.  QEMU and the bridge
listen on free loopback ports and are killed when GDB exits.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "harness"))
import layout  # noqa: E402
import procs  # noqa: E402
import runner  # noqa: E402


def tour(lay):
    """(comment, GDB command) pairs shown one after the other."""
    mmio = next(m for m in lay.maps if m.name == "lapic")
    alias = next(m for m in lay.maps if m.name == "alias_lo")
    hole = next(va for r, va, lvl in lay.holes if lvl == "PD")
    base, _size = lay.patterns[0]
    return [
        ("stop where the guest's page tables are live", "break %s" % lay.stop),
        (None, "continue"),
        (None, "info registers cr3 cr4"),
        ("bridge commands: translate a kernel VA that maps the local APIC", "monitor vtop %#x" % mmio.va),
        ("QEMU's own MMU agrees (unknown commands reach QEMU's monitor)", "monitor gva2gpa %#x" % mmio.va),
        ("every level of the walk, like WinDbg's !pte", "monitor pte %#x" % mmio.va),
        ("an unmapped address: where and why the walk stopped", "monitor vtop %#x" % hole),
        ("the whole address space, coalesced like ptdump", "monitor maps"),
        ("every VA of one physical page, like !ptov", "monitor ptov %#x" % alias.pa),
        ("physical memory, like !db", "monitor phys read %#x 0x40" % base),
        (None, "monitor xp/8gx %#x" % base),
        ("the guest's counter moves between stops; the cache never serves stale bytes", "break counter_loop"),
        (None, "continue"),
        (None, "x/gx %#x" % lay.counter),
        (None, "continue 100"),
        (None, "x/gx %#x" % lay.counter),
        (None, "delete"),
        ("GDB's own reads through another address space (root B), then back", "x/2gx 0x400000"),
        (None, "monitor context %#x" % lay.root_pa[lay.roots[1]]),
        (None, "x/2gx 0x400000"),
        (None, "monitor context default"),
        (None, "monitor cache stats"),
    ]


def script(lay, elf, port, interactive):
    """A Python script for GDB: echoes each command like a prompt, runs it, and carries on
    after errors (an unmapped vtop is an error reply, on purpose)."""
    steps = [("set pagination off", None), ("set confirm off", None), ("file " + elf, None)]
    steps.append(("target remote 127.0.0.1:%d" % port, None))
    body = [
        "import gdb",
        "STEPS = %r" % ([(None, c) for c, _ in steps] + tour(lay)),
        "for comment, cmd in STEPS:",
        "    if comment:",
        "        print('\\n# ' + comment)",
        "    if not cmd.startswith(('set ', 'file ')):",
        "        print('(gdb) ' + cmd)",
        "    try:",
        "        gdb.execute(cmd)",
        "    except gdb.error as e:",
        "        print('(error reply; GDB says: %s)' % e)",
    ]
    if interactive:
        body.append("print('\\n# your turn: try monitor help')")
    return "\n".join(body) + "\n"


def check(lay, out):
    """The transcript shows what the layout says (CTest runs the demo with --check)."""
    mmio = next(m for m in lay.maps if m.name == "lapic")
    alias = next(m for m in lay.maps if m.name == "alias_lo")
    base = lay.patterns[0][0]
    user_b = lay.translate(0x400000, lay.roots[1])
    want = [
        r"0x%x -> 0x%x\s+4K page" % (mmio.va, mmio.pa),
        r"gpa: 0x%x" % mmio.pa,
        r"PTE\s+0x1\s+0x[0-9a-f]+\s+0x[0-9a-f]*%x[0-9a-f]{3}\s+pfn 0x%x" % (mmio.pa >> 12, mmio.pa >> 12),
        r"not mapped: PDE\[0x3\]",
        r"\d+ runs, %d leaves" % len(lay.leaf_list()),
        r"%d virtual addresses map" % sum(lf.pa <= alias.pa < lf.pa + lf.size for lf in lay.leaf_list()),
        r"%016x  00 00 %02x" % (base, (base >> 16) & 0xFF),
        r"0x%x:\s+0x0*64\n" % lay.counter,
        r"0x400000:\s+0x%x" % lay.pattern_word(user_b),
    ]
    bad = [w for w in want if not re.search(w, out)]
    for w in bad:
        print("demo: the transcript lacks /%s/" % w, file=sys.stderr)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(HERE, "..", "build", "release"))
    ap.add_argument("--interactive", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--bridge", help="the rspbridge to run (default: BUILD_DIR/bridge/rspbridge)")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    lay = layout.Layout(os.path.join(HERE, "layouts", "x86_64.layout"))
    guest = os.path.join(build, "qemu-tests", "guests", "x86_64")
    img, elf = os.path.join(guest, "guest.img"), os.path.join(guest, "guest.elf")
    bridge = args.bridge or os.path.join(build, "bridge", "rspbridge")
    for path in (img, elf, bridge):
        if not os.path.exists(path):
            print("demo: %s is missing: build first (cmake --build %s)" % (path, build), file=sys.stderr)
            return 1
    try:
        gdb = procs.require(lay.gdb, "GDB")
        with runner.session(lay, img, bridge) as sess:
            port = sess.port
            with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
                f.write(script(lay, elf, port, args.interactive))
            try:
                argv = [gdb, "-nx", "-q", "-x", f.name]
                if not args.interactive:
                    argv.insert(1, "-batch")
                if not args.check:
                    return subprocess.call(argv)
                # GDB prints the target's monitor output on stderr when it is not a terminal.
                out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120).stdout
                print(out)
                return check(lay, out)
            finally:
                os.unlink(f.name)
    except procs.Skip as e:
        print("demo: %s" % e, file=sys.stderr)
        return procs.SKIP if args.check and os.environ.get("RSP_NO_SKIP") != "1" else 1
    finally:
        procs.reap_all()


if __name__ == "__main__":
    sys.exit(main())
