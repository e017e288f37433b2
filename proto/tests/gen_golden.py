#!/usr/bin/env python3
"""Generates golden.h, the parser's golden table, from the entries below.

The wire bytes are written out literally in golden.h (checksums included), so
the table can be read and checked by hand; this script only saves computing
the checksums.  In a raw string, "#@@" is replaced by '#' and the checksum of
the bytes since the last '$' or '%'.  Run: python3 gen_golden.py > golden.h
"""

def ck(raw):
    out = bytearray()
    start = None
    i = 0
    while i < len(raw):
        if raw[i:i + 3] == b"#@@":
            s = sum(raw[start:i]) & 0xff
            out += b"#%02x" % s
            i += 3
            start = None
            continue
        if raw[i:i + 1] == b"$" or (raw[i:i + 1] == b"%" and start is None):
            start = i + 1
        elif raw[i:i + 1] == b"#":
            start = None
        out.append(raw[i])
        i += 1
    return bytes(out)

P, N, A, K, I, C, E = "P", "N", "+", "-", "I", "C", "E"

# (name, raw, cap, flags, complete, [events]); event = (kind, err or None, body)
G = [
    ("empty packet", b"$#@@", 0, 0, 1, [(P, None, b"")]),
    ("ok", b"$OK#@@", 0, 0, 1, [(P, None, b"OK")]),
    ("upper case checksum", b"$OK#9A", 0, 0, 1, [(P, None, b"OK")]),
    ("ack", b"+", 0, 0, 1, [(A, None, None)]),
    ("nak", b"-", 0, 0, 1, [(K, None, None)]),
    ("interrupt", b"\x03", 0, 0, 1, [(I, None, None)]),
    ("m request", b"$m1000,4#@@", 0, 0, 1, [(P, None, b"m1000,4")]),
    ("m reply", b"$00112233445566778899aabbccddeeff#@@", 0, 0, 1,
     [(P, None, b"00112233445566778899aabbccddeeff")]),
    ("notification", b"%Stop:T05thread:01;#@@", 0, 0, 1, [(N, None, b"Stop:T05thread:01;")]),
    ("escaped specials", b"$X0,4:}]}\x03}\x04}\x0a#@@", 0, 0, 1, [(P, None, b"X0,4:}#$*")]),
    ("escape of an ordinary byte", b"$a}Ab#@@", 0, 0, 1, [(P, None, b"aab")]),
    ("escape as last body byte", b"$ab}]#@@", 0, 0, 1, [(P, None, b"ab}")]),
    ("0x03 inside a packet", b"$a\x03b#@@", 0, 0, 1, [(P, None, b"a\x03b")]),
    ("+ - % inside a packet", b"$+-%+#@@", 0, 0, 1, [(P, None, b"+-%+")]),
    ("NUL and high bytes", b"$\x00\xff\x80#@@", 0, 0, 1, [(P, None, b"\x00\xff\x80")]),
    ("rle minimum", b"$0* #@@", 0, 0, 1, [(P, None, b"0000")]),
    ("rle maximum", b"$a*~#@@", 0, 0, 1, [(P, None, b"a" * 98)]),
    ("rle count is }", b"$x*}#@@", 0, 0, 1, [(P, None, b"x" * 97)]),
    ("rle count is *", b"$x**#@@", 0, 0, 1, [(P, None, b"x" * 14)]),
    ("rle count is + and -", b"$x*+y*-#@@", 0, 0, 1, [(P, None, b"x" * 15 + b"y" * 17)]),
    ("rle count is %", b"$x*%#@@", 0, 0, 1, [(P, None, b"x" * 9)]),
    ("rle of an escaped byte", b"$}]*\"#@@", 0, 0, 1, [(P, None, b"}" * 6)]),
    ("rle twice", b"$0* * #@@", 0, 0, 1, [(P, None, b"0" * 7)]),
    ("rle g reply", b"$00*\"10*!#@@", 0, 0, 1, [(P, None, b"0" * 7 + b"1" + b"0" * 5)]),
    ("garbage between packets", b"xyz\r\n+$OK#@@ junk-", 0, 0, 1,
     [(A, None, None), (P, None, b"OK"), (K, None, None)]),
    ("stray acks around a packet", b"++$qC#@@--", 0, 0, 1,
     [(A, None, None), (A, None, None), (P, None, b"qC"), (K, None, None), (K, None, None)]),
    ("exactly the buffer size", b"$0123456789abcdef#@@", 16, 0, 1,
     [(P, None, b"0123456789abcdef")]),
    ("one byte over", b"$0123456789abcdefg#@@+", 16, 0, 1,
     [(E, "RSP_EOVERFLOW", None), (A, None, None)]),
    ("rle up to the buffer size", b"$a*,#@@", 16, 0, 1, [(P, None, b"a" * 16)]),
    ("rle one over", b"$a*-#@@", 16, 0, 1, [(E, "RSP_EOVERFLOW", None)]),
    ("escape one over", b"$0123456789abcdef}]#@@", 16, 0, 1, [(E, "RSP_EOVERFLOW", None)]),
    ("overflow then new packet", b"$0123456789abcdefghij$OK#@@", 16, 0, 1,
     [(E, "RSP_EOVERFLOW", None), (P, None, b"OK")]),
    ("zero capacity", b"$#@@$a#@@", -1, 0, 1, [(P, None, b""), (E, "RSP_EOVERFLOW", None)]),
    ("bad checksum", b"$OK#00", 0, 0, 1, [(C, "RSP_ECHECKSUM", None)]),
    ("non-hex checksum", b"$OK#g0$OK#9z", 0, 0, 1,
     [(C, "RSP_ECHECKSUM", None), (C, "RSP_ECHECKSUM", None)]),
    ("noverify accepts any checksum", b"$OK#zz", 0, 1, 1, [(P, None, b"OK")]),
    ("bad notification checksum", b"%a#00%a#@@", 0, 0, 1,
     [(E, "RSP_ECHECKSUM", None), (N, None, b"a")]),
    ("noverify notification", b"%a#00", 0, 1, 1, [(N, None, b"a")]),
    ("truncated by $", b"$abc$OK#@@", 0, 0, 1, [(E, "RSP_ETRUNCATED", None), (P, None, b"OK")]),
    ("notification truncated by $", b"%abc$OK#@@", 0, 0, 1,
     [(E, "RSP_ETRUNCATED", None), (P, None, b"OK")]),
    ("$ in the checksum", b"$OK#9$OK#@@", 0, 0, 1, [(E, "RSP_ETRUNCATED", None), (P, None, b"OK")]),
    ("$ after }", b"$a}$OK#@@", 0, 0, 1, [(E, "RSP_ETRUNCATED", None), (P, None, b"OK")]),
    ("$ after *", b"$a*$OK#@@", 0, 0, 1, [(E, "RSP_ETRUNCATED", None), (P, None, b"OK")]),
    ("escape before #", b"$ab}#@@+", 0, 0, 1, [(E, "RSP_EBADESCAPE", None), (A, None, None)]),
    ("rle with no previous byte", b"$* #@@+", 0, 0, 1, [(E, "RSP_EBADRLE", None), (A, None, None)]),
    ("rle before #", b"$a*#@@-", 0, 0, 1, [(E, "RSP_EBADRLE", None), (K, None, None)]),
    ("rle count too small", b"$a*\x1f#@@", 0, 0, 1, [(E, "RSP_EBADRLE", None)]),
    ("rle count too large", b"$a*\x7f#@@", 0, 0, 1, [(E, "RSP_EBADRLE", None)]),
    ("errors reported once", b"$* * }#@@", 0, 0, 1, [(E, "RSP_EBADRLE", None)]),
    ("bad packet then good", b"$OK#00$OK#@@", 0, 0, 1,
     [(C, "RSP_ECHECKSUM", None), (P, None, b"OK")]),
    ("unfinished packet", b"$abc", 0, 0, 0, []),
    ("unfinished checksum", b"$abc#1", 0, 0, 0, []),
]


def cstr(b):
    out = '"'
    prev_hex = False
    for c in b:
        ch = chr(c)
        if ch in '"\\':
            out += "\\" + ch
            prev_hex = False
        elif 32 <= c < 127 and not (prev_hex and ch in "0123456789abcdefABCDEF"):
            out += ch
            prev_hex = False
        else:
            out += "\\x%02x" % c
            prev_hex = True
    return out + '"'


print("/* golden.h - generated by gen_golden.py; the parser's golden table. */")
print("/* clang-format off */")
print("static const golden goldens[] = {")
for name, raw, cap, flags, complete, evs in G:
    raw = ck(raw)
    print("  {")
    print("    .name = %s," % cstr(name.encode()))
    print("    .raw = %s, .raw_len = %d," % (cstr(raw), len(raw)))
    if cap:
        print("    .cap = %d," % (0 if cap < 0 else cap))
        print("    .fixed_cap = 1,")
    if flags:
        print("    .flags = RSP_PARSER_NOVERIFY,")
    print("    .complete = %d," % complete)
    print("    .nev = %d," % len(evs))
    print("    .ev = {")
    for kind, err, body in evs:
        s = "      {.kind = '%s'" % kind
        if err:
            s += ", .err = %s" % err
        if body is not None:
            s += ", .body = %s, .len = %d" % (cstr(body), len(body))
        print(s + "},")
    print("    },")
    print("  },")
print("};")
print("/* clang-format on */")
