#!/usr/bin/env python3
"""The rspbridge command line: --help, --version, usage errors (exit 2),
setup errors (exit 3).  Usage: cli_test.py RSPBRIDGE"""
import socket
import subprocess
import sys


def run(args, timeout=10):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def main():
    b = sys.argv[1]
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    rc, out, _ = run([b, "--help"])
    check(rc == 0, "--help exits 0")
    for want in ["--listen", "--stdio", "--exec", "127.0.0.1:3333", "--trace", "--read-only",
                 "--reconnect", "--cache-size", "--phys", "--root", "Exit codes", "serial:",
                 "--busy-poll"]:
        check(want in out, "--help mentions " + want)
    rc, out, _ = run([b, "--version"])
    check(rc == 0 and out.startswith("rspbridge "), "--version")
    for args in ([], ["a:1", "b:2"], ["--reconnect", "sometimes", "127.0.0.1:1"],
                 ["--bogus", "127.0.0.1:1"], ["--exec"], ["--listen", "nowhere", "x:1"],
                 ["--stdio", "--listen", ":1", "127.0.0.1:1"], ["--timeout", "0", "x:1"],
                 ["serial:/dev/null,12x"], ["--busy-poll", "-1", "x:1"],
                 ["--busy-poll", "2000000", "x:1"], ["--busy-poll", "fast", "x:1"]):
        rc, _, err = run([b] + args)
        check(rc == 2 and err.startswith("rspbridge: "), "usage error exits 2: %r" % args)
    # A port already taken: a setup error with a clear message.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    rc, _, err = run([b, "--listen", "127.0.0.1:%d" % port, "127.0.0.1:1"])
    s.close()
    check(rc == 3 and "cannot listen" in err, "taken port exits 3")
    rc, _, err = run([b, "--exec", "--", "/nonexistent/qemu-system-x86_64"])
    check(rc == 3 and "cannot start" in err, "missing QEMU exits 3")
    for f in fails:
        print("FAIL: " + f)
    print("%d failures" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
