"""Inside GDB, started by bench_maps.py: inferior 1 behind the bridge, inferior 2 on an
identical QEMU directly.  Times with GDB's own output capture (to_string), which costs the
same for both sides: the O packets are received, unhexed and collected."""

import os
import statistics
import time

import gdb
import gdbside


def timed(cmd):
    t0 = time.perf_counter()
    out = gdb.execute(cmd, to_string=True)
    return time.perf_counter() - t0, out


def main(t):
    rounds = int(os.environ.get("RSPB_ROUNDS", "5"))
    t.connect()
    t.to_stop()
    # The first large output on this new connection, then the same again (both cold).
    first, out1 = timed("monitor maps")
    gdb.execute("monitor cache flush", to_string=True)
    second, _ = timed("monitor maps")
    # A bridge from before folding has no --all: its maps lists every run.
    _, ok = t.monitor_full("maps --all 0 0x1000")
    ALL = " --all" if ok else ""
    if not ok:
        t.log("this bridge has no maps --all: maps lists every run")
    gdb.execute("add-inferior -no-connection", to_string=True)
    gdb.execute("inferior 2", to_string=True)
    gdb.execute("file " + t.elf, to_string=True)
    gdb.execute("target remote 127.0.0.1:%s" % os.environ["RSPT_DIRECT_PORT"], to_string=True)
    t.run_to(t.layout.stop)
    res = {k: [] for k in ("tlb", "cold", "warm", "all_cold", "all_warm", "json", "text_all", "json_folded")}
    lines = {}
    for _ in range(rounds):
        gdb.execute("inferior 2", to_string=True)
        dt, out = timed("monitor info tlb")
        res["tlb"].append(dt)
        lines["tlb"] = out.count("\n")
        gdb.execute("inferior 1", to_string=True)
        for key, opt in (("", ""), ("all_", ALL)):
            gdb.execute("monitor cache flush", to_string=True)
            dt, out = timed("monitor maps" + opt)
            res[key + "cold"].append(dt)
            lines[key + "maps"] = out.count("\n")
            dt, out = timed("monitor maps" + opt)
            res[key + "warm"].append(dt)
        dt, out = timed("monitor maps --json")
        res["json_folded"].append(dt)
        dt, out = timed("monitor maps --json" + ALL)
        res["json"].append(dt)
        dt, out = timed("monitor maps" + ALL)
        res["text_all"].append(dt)
    med = {k: statistics.median(v) for k, v in res.items()}
    t.log("lines: info tlb %d, maps %d, maps --all %d" % (lines["tlb"], lines["maps"], lines["all_maps"]))
    for k in ("tlb", "cold", "warm", "all_cold", "all_warm", "json", "text_all", "json_folded"):
        t.log("%-9s median %7.1f ms of %d" % (k, med[k] * 1e3, rounds))
    t.log("ratio maps cold / info tlb:       %.3f (goal <= 0.5)" % (med["cold"] / med["tlb"]))
    t.log("ratio maps warm / info tlb:       %.3f (goal <= 0.25)" % (med["warm"] / med["tlb"]))
    t.log("ratio maps --all cold / info tlb: %.3f" % (med["all_cold"] / med["tlb"]))
    t.log("ratio maps --all warm / info tlb: %.3f" % (med["all_warm"] / med["tlb"]))
    t.log("ratio maps --json / maps (warm):  %.3f (goal <= 1.5)" % (med["json_folded"] / med["warm"]))
    t.log("ratio maps --all --json / text:   %.3f (goal <= 1.5)" % (med["json"] / med["text_all"]))
    t.log("first output on a new connection: %.1f ms, the same again %.1f ms (%d lines)" % (first * 1e3, second * 1e3, out1.count("\n")))
    t.check(lines["maps"] > 0 and lines["tlb"] > 0, "no output")


gdbside.run(main)
