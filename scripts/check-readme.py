#!/usr/bin/env python3
"""Runs README.md's commands, so the README cannot drift.  Run by scripts/test.sh.

    scripts/check-readme.py [README]

Every fenced block marked ```sh is a script the reader may paste: it runs with `sh -eu`
from the top of the tree, in README order (a later block may use what an earlier one
installed), with a 15-minute hang guard.  Blocks marked otherwise (```console, shown
sessions with elided arguments or a GDB prompt) are not run.  Two HTML comments,
invisible on the rendered page, refine this:

    <!-- readme-check: skip REASON -->   before a ```sh block: not run (the reason is printed)
    <!-- readme-check: expect REGEX -->  after a ```sh block: its output must match REGEX

The first ```sh block must be `sh scripts/demo.sh` and `sh scripts/test.sh` (a fresh
machine's first two commands).  A line running scripts/test.sh is not run: this check is part of that command.
`sudo` in a block works as root without sudo installed (the commands say "sudo" for
users; CI runs as root).  Without root or passwordless sudo nothing runs: a failure
with RSP_NO_SKIP=1, else a stated skip.  Exit 1 on the first failing block.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*readme-check:\s*(skip|expect)\s+(.*?)\s*-->\s*$")
SELF = re.compile(r"(^|\s)(sh\s+)?(\./)?scripts/test\.sh(\s|$)")


def blocks(text):
    """(line number, language, body lines, skip reason or None, [expect regexes])."""
    lines = text.splitlines()
    out, i, skip = [], 0, None
    while i < len(lines):
        m = MARK.match(lines[i])
        if m and m.group(1) == "skip":
            skip = m.group(2)
            i += 1
            continue
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start, body = m.group(1), i + 1, []
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        expects = []
        while i < len(lines):
            e = MARK.match(lines[i])
            if not e or e.group(1) != "expect":
                break
            expects.append(e.group(2))
            i += 1
        out.append((start, lang, body, skip, expects))
        skip = None
    return out


def run(script, env):
    """Runs script with sh -eu, echoing its output as it comes; (exit status or None after
    the hang guard killed it, output)."""
    p = subprocess.Popen(["sh", "-euc", script], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    timed_out = []

    def guard():
        timed_out.append(1)
        os.killpg(p.pid, signal.SIGKILL)  # the block's own process group only

    t = threading.Timer(900, guard)
    t.start()
    out = []
    try:
        for line in p.stdout:
            print(line, end="", flush=True)
            out.append(line)
        p.wait()
    finally:
        t.cancel()
    return (None if timed_out else p.returncode), "".join(out)


def main():
    readme = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "README.md")
    with open(readme, encoding="utf-8") as f:
        found = blocks(f.read())
    first = next((b for b in found if b[1] == "sh"), None)
    cmds = [c.split("#")[0].strip() for c in first[2]] if first else []
    if cmds[:2] != ["sh scripts/demo.sh", "sh scripts/test.sh"]:
        print("check-readme: the first sh block must be the demo and the test command, is %r" % cmds,
              file=sys.stderr)
        return 1
    prelude = ""
    if os.geteuid() == 0 and not shutil.which("sudo"):
        prelude = 'sudo() { "$@"; }\n'
    elif os.geteuid() != 0 and (not shutil.which("sudo") or subprocess.call(
            ["sudo", "-n", "true"], stderr=subprocess.DEVNULL) != 0):
        # The install steps need root; everything after them uses what they installed.
        print("check-readme: README's commands need root or passwordless sudo", file=sys.stderr)
        if os.environ.get("RSP_NO_SKIP") == "1":
            print("check-readme: FAILED (RSP_NO_SKIP=1)", file=sys.stderr)
            return 1
        print("check-readme: SKIPPED", file=sys.stderr)
        return 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    ran = 0
    for line, lang, body, skip, expects in found:
        if lang != "sh":
            continue
        where = "%s:%d" % (os.path.basename(readme), line)
        if skip:
            print("== %s: not run: %s" % (where, skip), flush=True)
            continue
        script = []
        for cmd in body:
            if SELF.search(cmd.split("#")[0]):
                print("== %s: not run (this check is part of it): %s" % (where, cmd.strip()), flush=True)
                script.append(":")
            else:
                script.append(cmd)
        print("== %s:\n%s" % (where, "\n".join("   $ " + c for c in body)), flush=True)
        t0 = time.monotonic()
        rc, output = run(prelude + "\n".join(script) + "\n", env)
        print("== %s: exit %s after %.0f s" % (where, rc, time.monotonic() - t0), flush=True)
        if rc is None:
            print("check-readme: %s did not finish in 15 minutes" % where, file=sys.stderr)
            return 1
        if rc != 0:
            print("check-readme: %s failed (exit %d)" % (where, rc), file=sys.stderr)
            return 1
        for rx in expects:
            if not re.search(rx, output, re.M):
                print("check-readme: the output of %s lacks /%s/" % (where, rx), file=sys.stderr)
                return 1
        ran += 1
    if ran == 0:
        print("check-readme: no ```sh block ran: is %s marked up?" % readme, file=sys.stderr)
        return 1
    print("check-readme: %d blocks of %s ran as written" % (ran, os.path.basename(readme)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
