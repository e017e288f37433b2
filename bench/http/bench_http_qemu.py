#!/usr/bin/env python3
"""bench_http_qemu - `vtop VA --json` requests per second against a real QEMU guest
(qemu-tests guest x86_64): over HTTP keep-alive (rspbridge --http, the repo's Python
client) against the same command through stock GDB (`monitor vtop VA --json`), both
through one bridge, in interleaved rounds of the same run, with GDB connected and the
guest stopped.  Prints rates and their ratio; never asserts timings.

    bench_http_qemu.py --bridge RSPBRIDGE --build-dir BUILD [--rounds N] [--short]

Exit 77 (skip) when QEMU, GDB or the guest is missing, 1 with RSP_NO_SKIP=1.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "qemu-tests", "harness"))
import layout  # noqa: E402
import procs  # noqa: E402
import runner  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--short", action="store_true")
    args = ap.parse_args()
    no_skip = os.environ.get("RSP_NO_SKIP") == "1"
    guest = os.path.join(args.build_dir, "qemu-tests", "guests", "x86_64")
    lay_path = os.path.join(ROOT, "qemu-tests", "layouts", "x86_64.layout")
    kernel, elf = os.path.join(guest, "guest.img"), os.path.join(guest, "guest.elf")
    rc = 1
    try:
        lay = layout.Layout(lay_path)
        argv = runner.gdb_argv(lay, os.path.join(HERE, "vtop_gdb.py"))
        with runner.session(lay, kernel, args.bridge, bridge_args=["--http", "127.0.0.1:@HTTP_PORT@"]) as s:
            env = dict(os.environ)
            env.update(
                RSPT_PORT=str(s.port),
                RSPT_HTTP_PORT=str(s.http_port),
                RSPT_BRIDGE_PID=str(s.bridge_pid),
                RSPT_LAYOUT=os.path.abspath(lay_path),
                RSPT_ELF=os.path.abspath(elf),
                RSPT_BRIDGE="1",
                RSPB_ROUNDS=str(3 if args.short else args.rounds),
                RSPB_N=str(200 if args.short else 1000),
                RSPB_PY=os.path.join(ROOT, "python"),
            )
            g = procs.spawn(argv, env=env)
            try:
                rc = g.wait(600)
            except subprocess.TimeoutExpired:
                print("bench_http_qemu: timeout", file=sys.stderr)
                rc = 1
            finally:
                procs.reap(g)
    except procs.Skip as e:
        print("bench_http_qemu: %s" % e, file=sys.stderr)
        return 1 if no_skip else procs.SKIP
    finally:
        procs.reap_all()
    return rc


if __name__ == "__main__":
    sys.exit(main())
