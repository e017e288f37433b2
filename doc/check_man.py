#!/usr/bin/env python3
"""CTest man_rspbridge / man_rspstub (label unit): the man page cannot drift from the program.

    check_man.py PROGRAM PAGE VERSION CHANGELOG [COMMANDS_C]

- every long option PROGRAM --help prints (--word) has its own entry in PAGE: a tagged
  paragraph (.TP) whose tag line names it;
- PROGRAM --version prints "NAME VERSION", PAGE's .TH says "rspbridge VERSION", and
  CHANGELOG has a "## [VERSION]" section: the version comes from CMake's project() alone;
- with COMMANDS_C (bridge/service/commands.c): every command of its help table has an entry
  in PAGE's MONITOR COMMANDS section.
"""

import os
import re
import subprocess
import sys


def roff_plain(line):
    """A roff line without font escapes and with \\- as -."""
    line = re.sub(r"\\f[BIRP]|\\f\(..|\\f\[[A-Z]*\]", "", line)
    line = line.replace("\\-", "-").replace("\\(aq", "'")
    return line


def entries(page_text):
    """The tag line of every .TP paragraph, as plain text."""
    lines = page_text.splitlines()
    tags = []
    for i, line in enumerate(lines):
        if line.strip() == ".TP" and i + 1 < len(lines):
            # ".BR "vtop " \fIVA\fP" -> "vtop VA"
            tag = re.sub(r"^\.[A-Z]{1,2}\s+", "", roff_plain(lines[i + 1]))
            tags.append(" ".join(tag.replace('"', " ").split()))
    return tags


def section_tags(page_text, title):
    """The .TP tags of one .SH section."""
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH |\Z)" % re.escape(title), page_text, re.M | re.S)
    return entries(m.group(1)) if m else []


def monitor_commands(source):
    """Command names of the help table in commands.c ({"name", "usage", "text"})."""
    m = re.search(r"help_tab\[\]\s*=\s*\{(.*?)\n\};", source, re.S)
    return re.findall(r'\{"([a-z][\w-]*)",\s*\n?\s*"', m.group(1)) if m else []


def long_options(help_text):
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text)))


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    prog, page, version, changelog = sys.argv[1:5]
    name = os.path.basename(prog)
    help_text = subprocess.run([prog, "--help"], stdout=subprocess.PIPE, text=True, check=True,
                               timeout=30).stdout
    with open(page, encoding="utf-8") as f:
        page_text = f.read()
    tags = entries(page_text)
    errors = []
    opts = long_options(help_text)
    if len(opts) < 3:
        errors.append("%s --help lists only %s: is this the usage text?" % (name, opts))
    for opt in opts:
        pat = re.compile(r"(?<![\w-])%s(?![\w-])" % re.escape(opt))
        if not any(pat.search(t) for t in tags):
            errors.append("%s --help prints %s, but %s has no .TP entry for it" % (name, opt, page))

    got = subprocess.run([prog, "--version"], stdout=subprocess.PIPE, text=True, check=True,
                         timeout=30).stdout.strip()
    if got != "%s %s" % (name, version):
        errors.append("%s --version printed %r, the project version is %s" % (name, got, version))
    th = next((l for l in page_text.splitlines() if l.startswith(".TH ")), "")
    if '"rspbridge %s"' % version not in th:
        errors.append("%s: .TH line %r does not carry version %s" % (page, th, version))
    with open(changelog, encoding="utf-8") as f:
        if not re.search(r"^## \[%s\]" % re.escape(version), f.read(), re.M):
            errors.append("%s has no '## [%s]' section" % (changelog, version))

    cmds = []
    if len(sys.argv) == 6:
        with open(sys.argv[5], encoding="utf-8") as f:
            cmds = monitor_commands(f.read())
        if len(cmds) < 3:
            errors.append("%s: found only %s in its help table" % (sys.argv[5], cmds))
        firsts = {t.split()[0] for t in section_tags(page_text, "MONITOR COMMANDS") if t.split()}
        for c in cmds:
            if c not in firsts:
                errors.append("monitor command %s (in %s) has no entry under MONITOR COMMANDS in %s"
                              % (c, os.path.basename(sys.argv[5]), page))

    for e in errors:
        print("check_man: " + e, file=sys.stderr)
    if not errors:
        print("check_man: %s: %d long options and %d monitor commands, each with an entry in %s;"
              " version %s everywhere" % (name, len(opts), len(cmds), os.path.basename(page), version))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
