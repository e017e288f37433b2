"""The page at GET / of rspbridge --http against a qemu-tests guest, in headless chromium
(runs inside GDB; runner.py --bridge ... --bridge-arg=--http --bridge-arg=127.0.0.1:@HTTP_PORT@).

GDB stops the guest at the layout's stop symbol and takes, with `monitor ... --json`, what
the page must show: the target, the mapped ranges, the walk of one range, the VAs of one
physical address, the walk of a hole.  bridge/http/tests/test_page.py then loads the page
in chromium (Debian's python3-selenium and chromium-driver, with the system python3) and
compares what it draws with that.  Afterwards the guest is where it was (the page only
reads).  Skips without selenium or chromium (fails under RSP_NO_SKIP=1)."""

import json
import os
import subprocess
import tempfile
import time

import gdbside
import procs

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PAGE_TEST = os.path.join(ROOT, "bridge", "http", "tests", "test_page.py")


def main(t):
    port = int(os.environ.get("RSPT_HTTP_PORT") or 0)
    t.require(port, "no RSPT_HTTP_PORT: register this test with --http 127.0.0.1:@HTTP_PORT@")
    pid = int(os.environ.get("RSPT_BRIDGE_PID") or 0)
    deadline = time.monotonic() + 20  # hang guard: the bridge starts HTTP right after GDB's port
    while not procs.listening(port, pid or None):
        t.require(time.monotonic() < deadline, "rspbridge does not listen on HTTP port %d" % port)
        time.sleep(0.05)
    L = t.layout
    t.connect()
    t.to_stop()
    pc = t.reg("pc")

    def doc(cmd):
        j, ok = t.monitor_json(cmd)
        t.require(ok, "monitor %s --json: %s" % (cmd, j))
        return j

    maps = doc("maps")
    t.require(maps.get("runs"), "maps lists no range")

    def first(run):
        return run["runs"][0] if "fold" in run else run

    kernel = [r for r in maps["runs"] if first(r)["prot"][3] == "k"]
    click = (kernel or maps["runs"])[0]["va"]
    user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
    hole = next((va for r, va, _ in L.holes if r == L.roots[0]), None)
    t.require(hole is not None, "the layout has no hole under its first root")
    unmapped = doc("pte %#x" % hole)
    t.require(unmapped.get("mapped") is False, "pte %#x: %s" % (hole, unmapped))
    exp = {
        "arch": doc("arch"),
        "maps": maps,
        "click": click,
        "walk": doc("pte %s" % click),
        "pa": "%#x" % (user.pa + 4),
        "ptov": doc("ptov %#x" % (user.pa + 4)),
        "unmapped": "%#x" % hole,
        "unmapped_walk": unmapped,
    }
    t.require(exp["ptov"].get("vas"), "ptov %#x lists no VA" % (user.pa + 4))

    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"  # Debian's selenium
    fd, path = tempfile.mkstemp(prefix="rspt-page-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(exp, f)
        p = procs.spawn([py, PAGE_TEST, "--url", "http://127.0.0.1:%d" % port, "--expect", path],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=240)  # hang guard
        finally:
            procs.reap(p)
    finally:
        os.unlink(path)
    for line in out.splitlines():
        t.log("page: " + line)
    if p.returncode == procs.SKIP:
        raise gdbside.SkipTest("the page test skipped: " + out.strip()[-200:])
    t.check(p.returncode == 0 and "page OK" in out, "the page in chromium: exit %s" % p.returncode)
    t.check(t.reg("pc") == pc, "the guest moved while the page looked at it")
    t.log("http_page: %d ranges drawn as maps lists them; walk of %s, ptov, a hole" % (len(maps["runs"]), click))


gdbside.run(main)
