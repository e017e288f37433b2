"""GDB helper commands for rspbridge.

    (gdb) source /usr/share/rspbridge/rspbridge.py     # or gdb/rspbridge.py in the tree

adds commands that take GDB expressions (registers, symbols, arithmetic) where the
bridge's monitor commands take numbers:

    vtop EXPR [--root EXPR]          monitor vtop: virtual -> physical, like `vtop $rsp`
    pte EXPR [--root EXPR]           monitor pte: every level of the walk, like `pte $pc+8`
    ptov EXPR [--root EXPR]          monitor ptov: every VA mapping a physical address
    phys read EXPR LEN [--width N | --file NAME]
                                     monitor phys read: hex dump of physical memory, or
                                     the raw bytes saved in NAME in the bridge's --save-dir

and the convenience functions $vtop(va [, root]) (the physical address) and
$ptov(pa [, root]) (the first virtual address mapping it), for expressions such as
`x/4gx $ptov($vtop($sp))` or `phys read $vtop(&init_task) 0x40`.

Every command also exists under the `rsp` prefix (`rsp vtop $rsp`).  A name that is
already taken when this file is sourced (GEF, pwndbg, a `define`) is left alone and only
the `rsp` form is added; the same for $vtop and $ptov, which then become $rsp_vtop and
$rsp_ptov.  Sourcing the file again is harmless.

The bridge does the work: each command becomes `monitor CMD 0x...`, and the functions
read the `--json` answer.  Errors are GDB errors (a script stops), with the bridge's own
message.  Works in gdb and gdb-multiarch (GDB 12 or later), on any architecture the
bridge walks.
"""

import json
import os
import re
import tempfile

import gdb

_NAMES = ("vtop", "pte", "ptov", "phys")
_FUNCTIONS = ("vtop", "ptov")

# Names this file registered in an earlier `source`: taking them again is not clobbering.
_owned = getattr(gdb, "_rspbridge_owned", set())
gdb._rspbridge_owned = _owned


# ---------------------------------------------------------------------------------------
# Talking to the bridge.


def _connected():
    inf = gdb.selected_inferior()
    conn = getattr(inf, "connection", None)
    if conn is not None:
        return conn.type in ("remote", "extended-remote")
    return inf.pid != 0 or bool(inf.threads())  # GDB < 12: no connection object


def _logging_capture(cmd):
    """The output of a monitor command whose reply was an error.  GDB drops what
    to_string collected when the command fails, so the command runs again with GDB's
    logging redirected to a file; the user's logging settings are put back.  None when
    that is not possible (the user's own logging is on, or GDB is too old)."""
    keys = ("file", "overwrite", "redirect", "debugredirect")
    try:
        if gdb.parameter("logging enabled"):
            return None
        saved = {k: gdb.parameter("logging " + k) for k in keys}
    except RuntimeError:
        return None
    fd, path = tempfile.mkstemp(prefix="rspbridge-gdb-", suffix=".log")
    os.close(fd)

    def setting(k, v):
        if isinstance(v, bool):
            v = "on" if v else "off"
        gdb.execute("set logging %s %s" % (k, v), to_string=True)

    try:
        for k, v in (("file", path), ("overwrite", True), ("redirect", True), ("debugredirect", True)):
            setting(k, v)
        # Not to_string here: logging would attach to the string buffer and vanish.
        gdb.execute("set logging enabled on")
        try:
            gdb.execute(cmd)
        except gdb.error:
            pass
        finally:
            gdb.execute("set logging enabled off")
        with open(path, errors="replace") as f:
            return f.read()
    finally:
        for k in keys:
            if saved[k] is not None:
                setting(k, saved[k])
        os.unlink(path)


def _monitor(what, args):
    """(output, ok) of `monitor WHAT ARGS`; a GdbError when there is no remote target."""
    if not _connected():
        raise gdb.GdbError("%s: not connected (target remote HOST:PORT of rspbridge first)" % what)
    cmd = "monitor %s %s" % (what, args)
    try:
        return gdb.execute(cmd, to_string=True).replace("\r", ""), True
    except gdb.error as e:
        out = _logging_capture(cmd)
        if out is None or not out.strip():
            out = str(e)
        return out.replace("\r", ""), False


def _not_bridge(what, out):
    first = out.strip().splitlines()[0] if out.strip() else "nothing"
    return gdb.GdbError(
        "%s: the target answered %r: is GDB connected through rspbridge?" % (what, first[:200])
    )


def _json(what, args):
    """The bridge's --json answer as a dict; errors as GdbError.  Today a failing command
    replies with an error (its document is in the output); a bridge that always replies
    OK answers {"error": ...}: both end here as the same GdbError."""
    out, ok = _monitor(what, args + " --json")
    text = out.strip()
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        if not ok and text:
            raise gdb.GdbError(_message(what, text))
        raise _not_bridge(what, out)
    if "error" in doc:
        raise gdb.GdbError(_message(what, str(doc["error"])))
    if not ok:
        raise gdb.GdbError("%s: failed: %s" % (what, text[:300]))
    return doc


def _message(what, text):
    text = text.strip()
    return text if text.startswith(what + ":") else "%s: %s" % (what, text)


def _run_text(what, args):
    """A bridge command whose text answer is printed; a failure is a GdbError with the
    bridge's message (so a script stops there)."""
    out, ok = _monitor(what, args)
    if not ok:
        raise gdb.GdbError(_message(what, out))
    if "unknown command" in out and what.split()[0] in out:
        raise _not_bridge(what, out)
    gdb.write(out)


# ---------------------------------------------------------------------------------------
# Expressions.


def _mask():
    try:
        size = gdb.lookup_type("void").pointer().sizeof
    except gdb.error:
        size = 8
    return (1 << (8 * size)) - 1


def _as_address(v, what):
    """An integer address from a GDB value: pointers, integers, registers; a function or
    an array stands for its address, as in `x main`."""
    t = v.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_ARRAY) and v.address is not None:
        v = v.address
        t = v.type.strip_typedefs()
    not_address = gdb.GdbError("%s: a value of type '%s' is not an address" % (what, v.type))
    if t.code in (gdb.TYPE_CODE_FLT, gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION, gdb.TYPE_CODE_ARRAY,
                  gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_VOID):
        raise not_address
    try:
        return int(v) & _mask()  # also register flag types such as x86's $cr3
    except (gdb.error, ValueError, TypeError):
        raise not_address


def _eval(expr, what):
    expr = expr.strip()
    if not expr:
        raise gdb.GdbError("%s: an expression is missing (see `help %s`)" % (what, what))
    try:
        v = gdb.parse_and_eval(expr)
    except gdb.error as e:
        raise gdb.GdbError("%s: %s" % (what, e))
    return _as_address(v, what)


_OPT = re.compile(r"(?:^|\s)--(root|width|json|file)(?:\s+(\S+))?(?=\s|$)")


def _options(arg, what, allowed):
    """Splits `--root EXPR`, `--width N`, `--file NAME` and `--json` off the argument string
    (the rest is the expression, which may hold spaces); returns (rest, bridge options)."""
    opts = []

    def take(m):
        name, val = m.group(1), m.group(2)
        if name not in allowed:
            raise gdb.GdbError("%s: no option --%s" % (what, name))
        if name == "json":
            opts.append("--json")
            return " " + (val or "")
        if val is None:
            raise gdb.GdbError("%s: --%s needs a value" % (what, name))
        if name == "root":
            opts.append("--root %#x" % _eval(val, what))
        elif name == "file":
            opts.append("--file " + val)  # a name in the bridge's --save-dir, as written
        else:
            opts.append("--width %d" % _eval(val, what))
        return " "

    rest = _OPT.sub(take, arg)
    return rest.strip(), opts


# ---------------------------------------------------------------------------------------
# Commands.


class _Query(gdb.Command):
    """vtop / pte / ptov: one expression, sent as a number."""

    def __init__(self, name, what, doc):
        self.what = what
        self.__doc__ = doc
        super().__init__(name, gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        rest, opts = _options(arg, self.what, ("root", "json"))
        addr = _eval(rest, self.what)
        _run_text(self.what, " ".join(["%#x" % addr] + opts))


class _PhysPrefix(gdb.Command):
    """Physical memory through rspbridge.
Usage: phys read EXPR LEN [--width 1|2|4|8 | --file NAME]"""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        raise gdb.GdbError("phys: a subcommand is missing (read)" if not arg.strip()
                           else "phys: no subcommand %r (read)" % arg.split()[0])


class _PhysRead(gdb.Command):
    """Hex and ASCII dump of physical memory (monitor phys read).
Usage: phys read EXPR LEN [--width 1|2|4|8 | --file NAME]
EXPR and LEN are GDB expressions; LEN is the last word, e.g.
  phys read $vtop($sp) 0x40
  phys read 0x1000 + 8 16
--file NAME saves the raw bytes in a new file NAME in the directory the bridge
was started with (--save-dir), like QEMU's pmemsave."""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        rest, opts = _options(arg, "phys read", ("width", "json", "file"))
        parts = rest.rsplit(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("phys read: usage: phys read EXPR LEN [--width N | --file NAME]")
        pa = _eval(parts[0], "phys read")
        n = _eval(parts[1], "phys read")
        _run_text("phys read", " ".join(["%#x" % pa, "%#x" % n] + opts))


class _RspPrefix(gdb.Command):
    """rspbridge helper commands: vtop, pte, ptov, phys read (see `help rsp vtop`).
They take GDB expressions and ask the bridge (monitor vtop 0x...)."""

    def __init__(self):
        super().__init__("rsp", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class _Function(gdb.Function):
    def __init__(self, name, what):
        self.what = what
        super().__init__(name)

    def invoke(self, *argv):
        if len(argv) not in (1, 2):
            raise gdb.GdbError("$%s takes an address and an optional root: $%s(EXPR [, ROOT])"
                               % (self.what, self.what))
        a = _as_address(argv[0], "$" + self.what)
        args = "%#x" % a
        if len(argv) == 2:
            args += " --root %#x" % _as_address(argv[1], "$" + self.what)
        doc = _json(self.what, args)
        if self.what == "vtop":
            if doc.get("mapped") is False or "pa" not in doc:
                raise gdb.GdbError("$vtop: %#x is not mapped" % a)
            return _value(int(doc["pa"], 16))
        vas = doc.get("vas") or []
        if not vas:
            raise gdb.GdbError("$ptov: no virtual address maps %#x" % a)
        return _value(int(vas[0]["va"], 16))


def _value(n):
    try:
        return gdb.Value(n).cast(gdb.lookup_type("unsigned long long"))
    except gdb.error:
        return gdb.Value(n)


_DOCS = {
    "vtop": """Translate a virtual address with the bridge's page-table walk (monitor vtop).
Usage: vtop EXPR [--root EXPR] [--json]
EXPR is any GDB expression: vtop $rsp, vtop &init_task, vtop $pc+8.
Prints the physical address, the page size and level, and the effective permissions.""",
    "pte": """Show every level of the walk for a virtual address (monitor pte).
Usage: pte EXPR [--root EXPR] [--json]
Each level: name, index, where the entry is, its raw value, what it points to, flags.""",
    "ptov": """List every virtual address that maps a physical address (monitor ptov).
Usage: ptov EXPR [--root EXPR] [--json]""",
}


def _command_exists(name):
    """An exact GDB command (built-in, Python, `define`, alias) of that name."""
    try:
        out = gdb.execute("complete %s" % name, to_string=True)
    except gdb.error:
        return False
    return name in (line.strip() for line in out.splitlines())


def _function_exists(name):
    try:
        return gdb.parse_and_eval("$" + name).type.code == gdb.TYPE_CODE_INTERNAL_FUNCTION
    except gdb.error:
        return False


def _register():
    _RspPrefix()
    for what in ("vtop", "pte", "ptov"):
        _Query("rsp " + what, what, _DOCS[what])
    _PhysPrefix("rsp phys")
    _PhysRead("rsp phys read")
    skipped = []
    for name in _NAMES:
        if _command_exists(name) and name not in _owned:
            skipped.append(name)
            continue
        _owned.add(name)
        if name == "phys":
            _PhysPrefix("phys")
            _PhysRead("phys read")
        else:
            _Query(name, name, _DOCS[name])
    for name in _FUNCTIONS:
        key = "$" + name
        if _function_exists(name) and key not in _owned:
            skipped.append(key)
            _Function("rsp_" + name, name)
            continue
        _owned.add(key)
        _Function(name, name)
    if skipped:
        gdb.write(
            "rspbridge: %s already defined (GEF, pwndbg?): left alone; use `rsp vtop`, `rsp pte`, "
            "`rsp ptov`, `rsp phys read`%s.\n"
            % (", ".join(skipped), ", $rsp_vtop(), $rsp_ptov()" if any(s.startswith("$") for s in skipped) else "")
        )


_register()
