#!/usr/bin/env python3
"""bench_maps - the complete page-table dump of a Linux-like x86-64 guest (an espfix-like
area of 65,536 aliases and thousands of ordinary mappings: qemu-tests guest x86_64_espfix),
from stock GDB: `monitor maps` through rspbridge, cold (cache flushed) and warm, its --all
and --json forms, against QEMU's own `monitor info tlb` on an identical guest with GDB
connected to QEMU directly, in interleaved rounds of the same run.  Also the first output
on a new connection against the next one.  Prints times and ratios; never asserts timings.

    bench_maps.py --bridge RSPBRIDGE --build-dir BUILD [--rounds N] [--short]

Exit 77 (skip) when QEMU, GDB or the guest is missing, 1 with RSP_NO_SKIP=1.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "..", "qemu-tests", "harness")
sys.path.insert(0, HARNESS)
import layout  # noqa: E402
import procs  # noqa: E402
import runner  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--bridge-arg", action="append", default=[])
    args = ap.parse_args()
    no_skip = os.environ.get("RSP_NO_SKIP") == "1"
    guest = os.path.join(args.build_dir, "qemu-tests", "guests", "x86_64_espfix")
    lay_path = os.path.join(HERE, "..", "..", "qemu-tests", "layouts", "x86_64_espfix.layout")
    kernel, elf = os.path.join(guest, "guest.img"), os.path.join(guest, "guest.elf")
    rc = 1
    try:
        lay = layout.Layout(lay_path)
        argv = runner.gdb_argv(lay, os.path.join(HERE, "maps_gdb.py"))
        with runner.session(lay, kernel) as direct, runner.session(lay, kernel, args.bridge, bridge_args=args.bridge_arg) as via:
            env = dict(os.environ)
            env.update(
                RSPT_PORT=str(via.port),
                RSPT_DIRECT_PORT=str(direct.port),
                RSPT_LAYOUT=os.path.abspath(lay_path),
                RSPT_ELF=os.path.abspath(elf),
                RSPT_BRIDGE="1",
                RSPB_ROUNDS=str(2 if args.short else args.rounds),
            )
            g = procs.spawn(argv, env=env)
            try:
                rc = g.wait(900)
            except subprocess.TimeoutExpired:
                print("bench_maps: timeout", file=sys.stderr)
                rc = 1
            finally:
                procs.reap(g)
    except procs.Skip as e:
        print("bench_maps: %s" % e, file=sys.stderr)
        return 1 if no_skip else procs.SKIP
    finally:
        procs.reap_all()
    return rc


if __name__ == "__main__":
    sys.exit(main())
