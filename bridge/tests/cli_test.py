#!/usr/bin/env python3
"""The rspbridge command line: --help, --version, usage errors (exit 2),
setup errors (exit 3, also a first connection failing under --reconnect
never).  Usage: cli_test.py RSPBRIDGE"""
import os
import re
import socket
import subprocess
import sys
import tempfile


def run(args, timeout=10):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def unreachable(b, target):
    """--reconnect never, a target nobody listens on: the first client makes
    the bridge try once; it must exit 3 (cannot connect), not 1 (lost)."""
    p = subprocess.Popen([b, "--reconnect", "never", "--listen", "127.0.0.1:0", target],
                         stderr=subprocess.PIPE, text=True)
    try:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", p.stderr.readline())
        if not m:
            return -1, "no listening line"
        c = socket.create_connection(("127.0.0.1", int(m.group(1))), 5)
        c.sendall(b"$?#3f")
        rc = p.wait(10)
        c.close()
        return rc, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


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
                 "--busy-poll", "--save-dir"]:
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
    rc, _, err = run([b, "--listen"])
    check(rc == 2 and "option --listen needs an argument" in err, "missing argument named: %r" % err)
    rc, _, err = run([b, "--bogus", "127.0.0.1:1"])
    check(rc == 2 and "unknown option: --bogus" in err, "unknown option named: %r" % err)
    # --save-dir: an existing directory, or a usage error saying what is wrong.
    rc, _, err = run([b, "--save-dir", "/nonexistent/dir", "127.0.0.1:1"])
    check(rc == 2 and "--save-dir /nonexistent/dir: No such file" in err, "--save-dir missing: %r" % err)
    rc, _, err = run([b, "--save-dir", b, "127.0.0.1:1"])
    check(rc == 2 and "not a directory" in err, "--save-dir a file: %r" % err)
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
    with tempfile.TemporaryDirectory() as d:
        rc, err = unreachable(b, "unix:" + os.path.join(d, "nobody.sock"))
        check(rc == 3 and "cannot connect to target unix:" in err,
              "--reconnect never, unreachable unix target exits 3: %d %r" % (rc, err))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    rc, err = unreachable(b, "127.0.0.1:%d" % port)
    check(rc == 3 and "cannot connect to target 127.0.0.1:" in err,
          "--reconnect never, refused TCP target exits 3: %d %r" % (rc, err))
    for f in fails:
        print("FAIL: " + f)
    print("%d failures" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
