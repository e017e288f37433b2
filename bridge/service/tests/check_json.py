#!/usr/bin/env python3
"""Parses the --json output of every query (json_dump) and checks it against
the simulated target's layout (tests/sim.c)."""
import json
import subprocess
import sys

out = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout
docs = {}
cur = None
for line in out.splitlines(keepends=True):
    if line.startswith("### reply "):
        docs[cur]["reply"] = line[len("### reply "):].strip()
        cur = None
    elif line.startswith("### "):
        cur = line[4:].strip()
        docs[cur] = {"text": ""}
    else:
        docs[cur]["text"] += line

failures = []


def get(cmd):
    d = docs[cmd]
    try:
        d["json"] = json.loads(d["text"])
    except ValueError as e:
        failures.append(f"{cmd}: not JSON ({e}): {d['text'][:200]!r}")
        return None, d["reply"]
    return d["json"], d["reply"]


def check(cond, what):
    if not cond:
        failures.append(what)


def h(v):
    return int(v, 16)


j, r = get("vtop 0xffff800000001980 --json")
if j:
    check(r == "OK" and j["mapped"] and h(j["pa"]) == 0x201980, f"vtop 4K: {j}")
    check(h(j["page_size"]) == 0x1000 and j["level"] == "PTE", f"vtop 4K page: {j}")
    check(j["write"] and not j["user"] and not j["exec"] and j["prot"] == "rw-k", f"vtop 4K perms: {j}")
j, r = get("vtop 0xffff800000412345 --json")
if j:
    check(h(j["pa"]) == 0x412345 and h(j["page_size"]) == 0x200000 and j["exec"] and j["prot"][2] == "x",
          f"2M: {j}")
j, r = get("vtop 0x7f0000000000 --json")
if j:
    check(r == "OK" and j["mapped"] is False and j["stop"] == "not present", f"unmapped: {j}")
    check("PML4E[0xfe] at 0x17f0" in j["error"], f"unmapped error: {j}")
j, r = get("vtop 0x600000 --json")
if j:
    check(r == "OK" and j["mapped"] is True and h(j["pa"]) == 0x80000000 and j["backed"] == "none"
          and "error" not in j, f"nopage: {j}")
j, r = get("pte 0xffff800000001980 --json")
if j:
    lv = j["levels"]
    check([l["name"] for l in lv] == ["PML4E", "PDPTE", "PDE", "PTE"], f"pte names: {lv}")
    check(h(lv[0]["entry_pa"]) == 0x1000 + 0x100 * 8 and lv[0]["index"] == 0x100, f"pml4e: {lv[0]}")
    for a, b in zip(lv, lv[1:]):
        check(h(a["next_pa"]) == h(b["table_pa"]), f"pte chain: {a} {b}")
        check(h(b["entry_pa"]) == h(b["table_pa"]) + 8 * b["index"], f"pte entry: {b}")
    check(lv[3]["leaf"] and h(lv[3]["raw"]) == 0x8000000000201103, f"pte leaf: {lv[3]}")
    check(j["mapped"] and h(j["pa"]) == 0x201980, f"pte pa: {j}")
j, r = get("pte 0xffff800000200000 --json")
if j:
    check(r == "OK" and not j["mapped"] and len(j["levels"]) == 3, f"pte unmapped: {j}")
    check(j["stop"] == "not present" and j["reason"].startswith("PDE[0x1]"), f"pte stop: {j}")
j, r = get("pte 0x1000 --root 0x80000000 --json")
if j:
    check(r == "OK" and "levels" not in j and "cannot read entry: no physical page" in j["error"],
          f"pte unreadable: {j}")
RUN_KEYS = ["va", "size", "pa", "page_size", "level", "flags", "prot"]


def run_keys(x):
    """A run's keys in order: count only when the bounds cut a leaf."""
    return [k for k in x if k != "count"] == RUN_KEYS and (
        "count" not in x or list(x)[4] == "count")


j, r = get("maps --json")
if j:
    runs = j["runs"]
    check(j["runs_count"] == len(runs) == 5 and j["leaves"] == 516, f"maps count: {j}")
    vas = [h(x["va"]) for x in runs]
    check(vas == sorted(vas), "maps order")
    for x in runs:
        check(run_keys(x) and "count" not in x, f"maps run keys: {x}")
    # Leaves: size / page_size when there is no count.
    check(sum(h(x["size"]) // h(x["page_size"]) for x in runs) == j["leaves"], f"leaves: {runs}")
    k = [x for x in runs if h(x["va"]) == 0xffff800000000000][0]
    check(h(k["size"]) == 0x200000 and h(k["page_size"]) == 0x1000 and h(k["pa"]) == 0x200000,
          f"run: {k}")
    check(k["prot"] == "rw-k" and k["prot"][1] == "w", f"kernel NX run: {k}")
    u = [x for x in runs if h(x["va"]) == 0x400000][0]
    check(u["prot"] == "rwxu" and h(u["pa"]) == 0x300000, f"user run: {u}")
    big = [x for x in runs if h(x["va"]) == 0xffff800000400000][0]
    check(big["prot"] == "rwxk" and big["level"] == "PDE", f"2M run: {big}")
    check("va increased" in j["fold_rule"] and "end" not in j["fold_rule"], f"rule: {j}")
    check(not j["interrupted"], "maps interrupted")
# Bounds inside the first and last leaf: size 0x2000 over 3 leaves, "count" says so.
j, r = get("maps 0xffff800000000800 0xffff800000002800 --json")
if j:
    x = j["runs"][0] if len(j["runs"]) == 1 else {}
    check(run_keys(x) and x.get("count") == 3 and h(x["size"]) == 0x2000
          and h(x["va"]) == 0xffff800000000800 and h(x["pa"]) == 0x200800, f"clipped run: {j}")
# Bounds on leaf edges: nothing cut, no count (size / page_size = 2).
j, r = get("maps 0xffff800000000000 0xffff800000002000 --json")
if j:
    x = j["runs"][0] if len(j["runs"]) == 1 else {}
    check(run_keys(x) and "count" not in x and h(x["size"]) == 0x2000 and j["leaves"] == 2,
          f"unclipped run: {j}")
# A 2M page cut to 0x800 bytes: one leaf.
j, r = get("maps 0xffff800000400800 0xffff800000401000 --json")
if j:
    x = j["runs"][0] if len(j["runs"]) == 1 else {}
    check(run_keys(x) and x.get("count") == 1 and h(x["size"]) == 0x800
          and h(x["page_size"]) == 0x200000, f"clipped 2M run: {j}")
# Root 2: its user page is read-only and executable.
j, r = get("maps --root 0x2000 --json")
if j:
    check(len(j["runs"]) == 1 and j["runs"][0]["prot"] == "r-xu"
          and h(j["runs"][0]["pa"]) == 0x310000, f"root 2: {j}")
j, r = get("ptov 0x300004 --json")
if j:
    # The user page and the kernel's 4K map of 0x200000-0x400000 alias it.
    vas = sorted(h(x["va"]) for x in j["vas"])
    check(j["count"] == 2 and vas == [0x400004, 0xffff800000100004], f"ptov: {j}")
j, r = get("phys read 0x201980 0x10 --json")
if j:
    check(bytes.fromhex(j["data"]) == b"In memory......." and h(j["len"]) == 16, f"phys read: {j}")
j, r = get("phys read 0xfffff8 0x10 --json")
if j:
    check(r == "OK" and h(j["len"]) == 8 and len(j["data"]) == 16, f"phys partial: {j}")
    check("no physical page" in j["error"], f"phys partial error: {j}")
j, r = get("phys write 0x300000 --u16 0xbeef --json")
if j:
    check(j["written"] == 2 and h(j["pa"]) == 0x300000, f"phys write: {j}")
j, r = get("phys fill 0x300100 0x10 abcd --json")
if j:
    check(h(j["filled"]) == 0x10, f"phys fill: {j}")
j, r = get("phys search 0x200000 0x4000 496e206d --json")
if j:
    check(j["count"] == 1 and h(j["matches"][0]) == 0x201980, f"phys search: {j}")
j, r = get("phys backend --json")
if j:
    check(j["backend"] == "qemu" and j["ram_map"], f"backend: {j}")
j, r = get("phys map --json")
if j:
    kinds = [(h(x["lo"]), x["kind"]) for x in j["regions"]]
    check((0xfec00000, "io") in kinds and (0, "ram") in kinds, f"map: {j}")
j, r = get("context 0x2000 --json")
if j:
    check(j["context"] == "root" and h(j["root"]) == 0x2000, f"context: {j}")
j, r = get("context default --json")
if j:
    check(j["context"] == "default", f"context default: {j}")
j, r = get("cache stats --json")
if j:
    check(j["enabled"] and j["unit_bytes"] == 0x800 and j["upstream_requests"] > 0, f"cache: {j}")
j, r = get("uncached add fec00000 fec01000 --json")
if j:
    check(h(j["ranges"][0]["lo"]) == 0xfec00000 and h(j["ranges"][0]["hi"]) == 0xfec01000, f"unc: {j}")
j, r = get("arch --json")
if j:
    check(j["target"] == "i386:x86-64" and j["mode"] == "x86-64" and not j["forced"], f"arch: {j}")
j, r = get("vtop zz --json")
if j:
    check(r == "OK" and "bad VA" in j["error"], f"error json: {j}")
# Every error of a bridge command is one document and an OK reply (issue 12).
for cmd, want in (
    ("vtop 1 2 --json", "unexpected argument '2'"),
    ("vtop 1 --width 2 --json", "unknown option '--width'"),
    ("maps 0x1000 --root zz --json", "--root needs a hex address (not 'zz')"),
    ("phys read 0x1000 --json 0x10 0x20", "unexpected argument '0x20'"),
):
    j, r = get(cmd)
    if j:
        check(r == "OK" and want in j.get("error", ""), f"{cmd}: {r} {j}")
j, r = get("phys search 0x200000 0x4000 00 --max 3 --json")
if j:
    check(r == "OK" and j["count"] == 3 and j["truncated"] and h(j["max"]) == 3
          and h(j["next"]) == h(j["matches"][2]) + 1, f"search --max: {j}")
j, r = get("help --json")
if j:
    check(r == "OK" and len(j["commands"]) >= 10 and j["numbers"] == "hex", f"help: {j}")
j, r = get("help vtop --json")
if j:
    check(r == "OK" and [c["name"] for c in j["commands"]] == ["vtop"], f"help vtop: {j}")
j, r = get("help nosuch --json")
if j:
    check(r == "OK" and "no command 'nosuch'" in j["error"], f"help nosuch: {j}")
# Not a bridge command: the target's monitor answers (the simulator's HMP).
check("unknown command" in docs["nosuch-ours --json x"]["text"], "forwarded: %r" % docs["nosuch-ours --json x"])

for f in failures:
    print("FAIL:", f)
print(f"{len(docs)} documents, {len(failures)} failures")
sys.exit(1 if failures else 0)
