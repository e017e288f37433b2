"""`monitor maps` folding on a Linux-like guest (x86_64_espfix: 65,536 aliases of one page,
a cycle of 4 pages aliased 2,048 times, 4,000 ordinary mappings), through rspbridge: the
folded JSON and text, expanded by their stated rules, are exactly `maps --all`, and --all
lists every leaf of the layout.  Logs the times (never asserts them)."""

import re
import time

import gdbside

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


def hexint(s):
    return int(s, 16)


def human(n):
    if n and not n & 1023:
        k = -1
        while n and not n & 1023 and k < 5:
            n >>= 10
            k += 1
        return "%d%s" % (n, "KMGTPE"[k])
    return "%d" % n


def unhuman(s):
    return int(s[:-1]) * UNITS[s[-1]] if s[-1] in UNITS else int(s)


def expand_json(j):
    out = []
    for e in j["runs"]:
        if "fold" not in e:
            out.append(e)
            continue
        f = e["fold"]
        period, stride = f["period"], hexint(f["stride"])
        for i in range(f["count"]):
            r = dict(e["runs"][i % period])
            r["va"] = "0x%x" % (hexint(r["va"]) + (i // period) * stride)
            out.append(r)
    return out


LINE = re.compile(r"0x([0-9a-f]{16})-0x([0-9a-f]{16}) +(\S+) (\S+) +(\S+) x(\d+) +(\S+) -> 0x([0-9a-f]+)(.*)")
ENTRY = re.compile(r" ?\+0x([0-9a-f]+) (\S+) -> 0x([0-9a-f]+)(?: \[(\S+) (\S+) (\S+)\])?")


def text_line(va, size, level, page, flags, pa):
    return "0x%016x-0x%016x %7s %-5s %5s x%-6d %s -> 0x%x" % (
        va, (va + size) & ((1 << 64) - 1), human(size), level, human(page), size // page, flags, pa)


def expand_text(text):
    """The run lines of a folded `maps` text, each fold expanded by the rule in maps.c."""
    out = []
    for line in text.splitlines():
        m = LINE.fullmatch(line)
        if not m:
            continue
        rest = m.group(9)
        if not rest:
            out.append(line)
            continue
        f = re.fullmatch(r"  folded: (\d+) runs, period (\d+), stride 0x([0-9a-f]+):(.*)", rest)
        if not f:
            raise gdbside.Fail("maps: cannot read %r" % line)
        count, period, stride = int(f.group(1)), int(f.group(2)), int(f.group(3), 16)
        va0 = int(m.group(1), 16)
        base = []
        for e in f.group(4).split(","):
            g = ENTRY.fullmatch(e)
            if not g:
                raise gdbside.Fail("maps: cannot read entry %r of %r" % (e, line))
            level, page, flags = (g.group(4), g.group(5), g.group(6)) if g.group(4) else (m.group(4), m.group(5), m.group(7))
            base.append((int(g.group(1), 16), unhuman(g.group(2)), level, unhuman(page), flags, int(g.group(3), 16)))
        for i in range(count):
            off, size, level, page, flags, pa = base[i % period]
            out.append(text_line(va0 + off + (i // period) * stride, size, level, page, flags, pa))
    return out


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    t0 = time.monotonic()
    jall, ok = t.monitor_json("maps --all")
    t1 = time.monotonic()
    t.require(ok, "maps --all --json failed: %s" % str(jall)[:300])
    j, ok = t.monitor_json("maps")
    t2 = time.monotonic()
    t.require(ok, "maps --json failed: %s" % str(j)[:300])
    t.log("maps --all --json: %d runs in %.2f s; maps --json: %d entries in %.2f s" % (len(jall["runs"]), t1 - t0, len(j["runs"]), t2 - t1))

    # --all lists every leaf of the layout (aliases included), and nothing else.
    want = {lf.va: lf.pa for lf in L.leaf_list()}
    want.update({va: pa for va, pa, _f in L.alias_leaves()})
    got = {}
    for r in jall["runs"]:
        t.check("fold" not in r and "count" not in r, "maps --all folded or cut %s" % str(r)[:200])
        va, pa, ps = hexint(r["va"]), hexint(r["pa"]), hexint(r["page_size"])
        for k in range(hexint(r["size"]) // ps):
            got[va + k * ps] = pa + k * ps
    t.check(jall["leaves"] == len(want), "maps --all: %d leaves, the layout has %d" % (jall["leaves"], len(want)))
    bad = [va for va in set(want) | set(got) if want.get(va) != got.get(va)]
    for va in sorted(bad)[:5]:
        t.check(False, "maps --all %#x: bridge %s, layout %s" % (va, got.get(va), want.get(va)))
    t.check(not bad, "maps --all: %d leaves differ from the layout" % len(bad))

    # The folded JSON expands to --all exactly.
    t.check(j["runs_count"] == jall["runs_count"] == len(jall["runs"]), "runs_count %s / %s" % (j["runs_count"], jall["runs_count"]))
    t.check("fold_rule" in j and j["entries"] == len(j["runs"]), "maps --json: no fold_rule or entries")
    exp = expand_json(j)
    # A fold's size reaches the end of its last run (va + size, as for a run).
    for e in j["runs"]:
        if "fold" in e:
            f = e["fold"]
            last = e["runs"][(f["count"] - 1) % f["period"]]
            end = hexint(last["va"]) + (f["count"] - 1) // f["period"] * hexint(f["stride"]) + hexint(last["size"])
            t.check(hexint(e["va"]) + hexint(e["size"]) == end, "fold %s: size does not reach its last run" % str(e)[:300])
    t.check(exp == jall["runs"], "maps --json expanded (%d runs) differs from maps --all (%d runs)" % (len(exp), len(jall["runs"])))
    folds = {(hexint(e["va"]), e["fold"]["count"], e["fold"]["period"], hexint(e["fold"]["stride"])) for e in j["runs"] if "fold" in e}
    for al in L.aliases:
        per = al.cycle if al.pages * 4096 < al.stride else 1
        key = (al.va, al.count if al.pages * 4096 < al.stride else 1, per, al.stride * per)
        t.check(key in folds, "alias %s not folded as %s: folds %s" % (al.name, key, sorted(folds)[:5]))
    t.check(len(j["runs"]) < 5000, "maps --json: %d entries, folding did not happen" % len(j["runs"]))

    # The text form too: each folded line expanded is --all's lines.
    text_all = t.monitor("maps --all")
    text = t.monitor("maps")
    lines_all = [ln for ln in text_all.splitlines() if LINE.fullmatch(ln)]
    exp_text = expand_text(text)
    t.check(len(lines_all) == len(jall["runs"]), "maps --all: %d lines for %d runs" % (len(lines_all), len(jall["runs"])))
    diff = [i for i, (a, b) in enumerate(zip(exp_text, lines_all)) if a != b]
    t.check(len(exp_text) == len(lines_all) and not diff,
            "maps text expanded differs from --all: %d vs %d lines, first difference %r vs %r" % (
                len(exp_text), len(lines_all), exp_text[diff[0]] if diff else None, lines_all[diff[0]] if diff else None))
    t.log("maps: %d lines folded, %d with --all; summary: %s" % (len(text.splitlines()), len(text_all.splitlines()), text.splitlines()[-1]))


gdbside.run(main)
