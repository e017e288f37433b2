"""The GDB helper commands (gdb/rspbridge.py) end to end (runs inside GDB; runner.py
--bridge ...): sourced into stock GDB (gdb on x86-64, gdb-multiarch on arm64), `vtop $rsp`
/ `$sp`, a symbol, `pte $pc+8`, `ptov`, `phys read` and the functions $vtop() / $ptov() must
agree with the bridge's own monitor answer and with QEMU's gva2gpa; errors are GDB errors
with the bridge's message; completion lists the subcommands; and a name already taken (as
GEF or pwndbg would) is left alone, the helper then answering under `rsp`."""

import os

import gdbside
from gdbside import gdb

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gdb", "rspbridge.py")


class StandInPte(gdb.Command):
    """A `pte` defined before the helper, as GEF or pwndbg define their own commands."""

    def __init__(self):
        super().__init__("pte", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        gdb.write("stand-in pte %s\n" % arg)


class StandInPtov(gdb.Function):
    def __init__(self):
        super().__init__("ptov")

    def invoke(self, *args):
        return gdb.Value(42)


def error_of(t, cmd):
    """The message of a command expected to fail, or None if it succeeded."""
    try:
        t.gdb(cmd)
    except gdb.error as e:
        return str(e)
    return None


def val(expr):
    return int(gdb.parse_and_eval(expr)) & ((1 << 64) - 1)


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    StandInPte()
    StandInPtov()
    notice = t.gdb("source " + HELPER)
    t.check("pte" in notice and "$ptov" in notice and "rsp pte" in notice,
            "no notice that pte and $ptov were left alone: %r" % notice)
    t.check(t.gdb("pte 0x1234").strip() == "stand-in pte 0x1234", "the existing pte was replaced")
    t.check(val("$ptov(0)") == 42, "the existing $ptov was replaced")

    sp_name = "rsp" if L.mode.family == "x86" else "sp"
    sp = t.reg(sp_name)
    qemu_pa = t.gva2gpa(sp)
    j, ok = t.monitor_json("vtop %#x" % sp)
    t.require(ok and "pa" in j, "monitor vtop %#x --json: %s" % (sp, j))
    pa = int(j["pa"], 16)
    t.check(qemu_pa == pa, "vtop $%s: bridge %#x, gva2gpa %s" % (sp_name, pa, qemu_pa))
    t.check(val("$vtop($%s)" % sp_name) == pa, "$vtop($%s) != %#x" % (sp_name, pa))
    text = t.gdb("vtop $%s" % sp_name)
    t.check(text == t.monitor("vtop %#x" % sp), "vtop $%s printed %r" % (sp_name, text))
    t.check(text.startswith("%#x -> %#x" % (sp, pa)), "vtop $%s: %r" % (sp_name, text))
    t.check(t.gdb("rsp vtop $%s" % sp_name) == text, "rsp vtop differs from vtop")

    sym = L.stop
    addr = t.symbol(sym)
    spa = t.gva2gpa(addr)
    j, ok = t.monitor_json("vtop %#x" % addr)
    t.check(ok and spa is not None and int(j["pa"], 16) == spa,
            "vtop &%s: bridge %s, gva2gpa %s" % (sym, j, spa))
    t.check(val("$vtop(&%s)" % sym) == spa, "$vtop(&%s) != gva2gpa %s" % (sym, spa))
    t.check(t.gdb("vtop &%s" % sym) == t.monitor("vtop %#x" % addr), "vtop &%s differs" % sym)

    pc = t.reg("pc")
    t.check(t.gdb("rsp pte $pc+8") == t.monitor("pte %#x" % (pc + 8)),
            "rsp pte $pc+8 differs from monitor pte %#x" % (pc + 8))

    # ptov: $rsp_ptov (the stand-in holds $ptov) gives one VA mapping the PA back.
    vas = [int(v["va"], 16) for v in t.monitor_json("ptov %#x" % spa)[0].get("vas", [])]
    va = val("$rsp_ptov($vtop(&%s))" % sym)
    t.check(va in vas, "$rsp_ptov(%#x) = %#x, not in ptov's %s" % (spa, va, [hex(v) for v in vas]))
    t.check(t.gva2gpa(va) == spa, "gva2gpa($rsp_ptov(%#x)) != %#x" % (spa, spa))
    t.check(t.gdb("ptov $vtop(&%s)" % sym) == t.monitor("ptov %#x" % spa), "ptov differs")

    t.check(t.gdb("phys read $vtop(&%s) + 0 0x20" % sym) == t.monitor("phys read %#x 0x20" % spa),
            "phys read $vtop(&%s) differs from monitor phys read" % sym)
    t.check(t.gdb("phys read $vtop($%s) 16 --width 8" % sp_name)
            == t.monitor("phys read %#x 0x10 --width 8" % pa), "phys read --width differs")

    # Errors: one GDB error with the bridge's message, the user's logging left as it was.
    hole = next(va for root, va, _ in L.holes if root == L.roots[0])
    j, _ = t.monitor_json("vtop %#x" % hole)
    want = j.get("error", "")
    keys = ("file", "overwrite", "redirect", "debugredirect", "enabled")
    logging = {k: gdb.parameter("logging " + k) for k in keys}  # as the harness left them
    for cmd in ("vtop %#x" % hole, "p $vtop(%#x)" % hole):
        msg = error_of(t, cmd)
        t.check(msg is not None and "not mapped" in msg and want and want in msg,
                "%s: error %r, the bridge says %r" % (cmd, msg, want))
    after = {k: gdb.parameter("logging " + k) for k in keys}
    t.check(after == logging, "logging settings changed by an error: %s, were %s" % (after, logging))
    for cmd, part in (("vtop no_such_symbol_here", "No symbol"), ("vtop", "missing"),
                      ("phys read 0x1000", "usage"), ("p $vtop(1, 2, 3)", "optional root"),
                      # --file goes to the bridge as written: this one has no --save-dir.
                      ("phys read $vtop(&%s) 8 --file x.bin" % sym, "--save-dir DIR (not given)")):
        msg = error_of(t, cmd)
        t.check(msg is not None and part in msg and "Python" not in msg,
                "%s: error %r" % (cmd, msg))

    # A bridge that answers every --json command OK with a document, errors as
    # {"error": ...} (DESIGN.md), stood in for by the helper's transport function (the
    # sourced file's globals live in __main__): the same answers and errors.
    import __main__

    real = __main__._monitor
    fakes = (
        ('{"va":"0x1000","mapped":false,"error":"0x1000 not mapped: stand-in"}\n', None,
         "0x1000 not mapped: stand-in"),
        ('{"va":"0x1000","mapped":true,"pa":"0x5000"}\n', 0x5000, None),
        ("unknown command: 'vtop'\n", None, "through rspbridge"),
        ('{"error":"cannot read the page tables"}\n', None, "cannot read the page tables"),
    )
    try:
        for answer, pa_want, err_want in fakes:
            __main__._monitor = lambda what, args, a=answer: (a, True)
            if pa_want is not None:
                t.check(val("$vtop(0x1000)") == pa_want, "$vtop on OK + %r" % answer)
            else:
                msg = error_of(t, "p $vtop(0x1000)")
                t.check(msg is not None and err_want in msg, "$vtop on OK + %r: %r" % (answer, msg))
    finally:
        __main__._monitor = real

    comp = t.gdb("complete rsp p").split()
    t.check({"phys", "pte", "ptov"} <= set(comp), "complete rsp p: %r" % comp)
    t.check("read" in t.gdb("complete rsp phys r").split(), "complete rsp phys r")
    t.check("vtop" in t.gdb("complete vto").split(), "complete vto")

    # Sourced again: no error, the helper's own names kept, the stand-ins too.
    t.gdb("source " + HELPER)
    t.check(t.gdb("vtop $%s" % sp_name) == text, "vtop after sourcing again")
    t.check(t.gdb("pte 1").strip() == "stand-in pte 1", "pte replaced by sourcing again")
    t.log("gdb helper: vtop $%s -> %#x, &%s -> %#x, agreeing with the bridge and gva2gpa"
          % (sp_name, pa, sym, spa))


gdbside.run(main)
