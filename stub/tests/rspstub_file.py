#!/usr/bin/env python3
"""rspstub when its dump file changes or is not a file (no QEMU needed).

    rspstub_file.py --rspstub PATH

Serves a raw image over --stdio, truncates it as QEMU's dump-guest-memory does when run
again to the same path, and checks that reads answer an error packet and the server
stays up (a mapped file killed it with SIGBUS), and that `monitor reopen` serves the new
contents.  Then a FIFO and a character device given
as the dump are refused at start, with a message naming them, instead of blocking.
"""

import argparse
import os
import subprocess
import sys
import tempfile

SIZE = 0x10000


def checksum(body):
    return "%02x" % (sum(body.encode()) & 0xFF)


class Stub:
    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def ask(self, body):
        """Sends one packet and returns the body of the reply (acks handled)."""
        self.p.stdin.write(("$%s#%s" % (body, checksum(body))).encode())
        self.p.stdin.flush()
        return self.ask_reply()

    def ask_reply(self):
        data = b""
        while True:
            c = self.p.stdout.read(1)
            if not c:
                try:
                    rc = self.p.wait(10)  # -7: SIGBUS
                except subprocess.TimeoutExpired:
                    rc = None
                raise RuntimeError("rspstub closed the connection (exit status %s)" % rc)
            if c == b"+" and not data:
                continue
            data += c
            if len(data) >= 3 and data[-3:-2] == b"#" and data.startswith(b"$"):
                self.p.stdin.write(b"+")
                self.p.stdin.flush()
                return data[1:-3].decode()

    def monitor(self, cmd):
        """qRcmd: the output it sent (O packets) up to OK, or the error reply."""
        body = "qRcmd," + cmd.encode().hex()
        self.p.stdin.write(("$%s#%s" % (body, checksum(body))).encode())
        self.p.stdin.flush()
        out = ""
        while True:
            r = self.ask_reply()
            if r.startswith("O") and r != "OK":
                out += bytes.fromhex(r[1:]).decode()
                continue
            return out if r == "OK" else r

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(10)
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            f.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rspstub", required=True)
    a = ap.parse_args()
    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
            print("FAIL: " + msg)

    tmp = tempfile.mkdtemp(prefix="rspstub_file_")
    img = os.path.join(tmp, "mem.raw")
    with open(img, "wb") as f:
        f.write(bytes(i & 0xFF for i in range(SIZE)))
    regs = ["--reg", "cr0=0", "--reg", "cr3=0", "--reg", "cr4=0", "--reg", "efer=0"]
    s = Stub([a.rspstub, "--stdio", "--raw", "--arch", "x86_64"] + regs + [img])
    try:
        check(s.ask("m8000,8") == "0001020304050607", "read before the change")
        os.truncate(img, 0x1000)  # the first step of dump-guest-memory to the same path
        for addr in ("8000", "10", "fff8"):
            r = s.ask("m%s,8" % addr)
            check(r.startswith("E"), "m%s,8 after the truncation: %r, not an error" % (addr, r))
        with open(img, "r+b") as f:  # and written again, to its old size
            f.truncate(SIZE)
        # The kernel stamps writes with a coarse clock: move the time as a real dump's
        # seconds would, so the test does not depend on the timing.
        st = os.stat(img)
        os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
        r = s.ask("m8000,8")
        check(r.startswith("E"), "m8000,8 after the rewrite: %r, not an error" % r)
        check(s.ask("g") != "" and s.p.poll() is None, "rspstub did not survive the change")
        # monitor reopen serves what the file holds now (zeros past 0x1000).
        out = s.monitor("reopen")
        check("reopened" in out, "monitor reopen: %r" % out)
        check(s.ask("m8000,8") == "00" * 8, "m8000,8 after reopen: not the new contents")
        check(s.ask("m10,4") == "10111213", "m10,4 after reopen")
        os.unlink(img)  # a file that cannot be opened: the current one stays served
        out = s.monitor("reopen")
        check(out.startswith("E") and s.ask("m10,4") == "10111213",
              "monitor reopen of a missing file: %r" % out)
    except RuntimeError as e:
        check(False, str(e))
    finally:
        s.close()

    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    for path, kind, extra in ((fifo, "a FIFO", []), ("/dev/zero", "a character device",
                                                     ["--raw", "--arch", "x86_64"])):
        try:
            r = subprocess.run([a.rspstub, "--stdio"] + extra + [path], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 1 and kind in r.stderr,
                  "rspstub on %s: exit %d, %r" % (path, r.returncode, r.stderr))
        except subprocess.TimeoutExpired:
            check(False, "rspstub on %s did not refuse it (still running after 30 s)" % path)
    for n in os.listdir(tmp):
        os.unlink(os.path.join(tmp, n))
    os.rmdir(tmp)
    print("rspstub_file: %d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
