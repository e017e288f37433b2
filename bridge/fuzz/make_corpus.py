#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_bridge (bridge/fuzz/corpus/): short
scripts in the format fuzz_bridge.c reads, one per scenario.  Byte 0 is
the configuration, then ops; see run() in fuzz_bridge.c."""
import os
import sys

T = ["?", "g", "G0011", "p10", "P10=0011223344556677", "m1000,", "m", "M1000,4:", "X1000,4:",
     "c", "s", "C05", "vCont;c", "vCont;s:1", "vCont?", "D", "D;1", "k", "bc", "bs",
     "qSupported", "qXfer", "QStartNoAckMode", "Hg1", "Z0,1000,1", "z0,1000,1", "qC",
     "qAttached", "vFlashWrite:", "i", "vRun;", "qRcmd,", "", "F", "vKill;1"]
MON = ["help", "vtop ", "pte ", "phys read ", "phys write ", "phys fill ", "phys search ", "maps",
       "ptov ", "context ", "context default", "cache ", "cache stats --json", "uncached add ",
       "uncached list", "arch ", "info registers", "", "session", "session take"]

RLE, BADSUM, NOTIFY, SPLIT, NOSUM = 1, 2, 4, 8, 16
NOPUMP = 0x80


def pkt(name, arg=b"", enc=0, mon=None, nopump=0):
    out = bytes([0 | nopump, T.index(name), enc, len(arg)]) + arg
    if name == "qRcmd,":
        out += bytes([MON.index(mon)])
    return out


def obs(name, arg=b"", enc=0, mon=None):
    """A packet from the observer (config bit 6: --sessions 3)."""
    out = bytes([0x30, T.index(name), enc, len(arg)]) + arg
    if name == "qRcmd,":
        out += bytes([MON.index(mon)])
    return out


def reply(kind=0, arg=0, enc=0, body=b"", nopump=0):
    out = bytes([5 | nopump, kind, arg, enc])
    if kind == 11:
        out = bytes([5 | nopump, kind, len(body), enc]) + body
    return out


def answer_all(arg=0):
    return bytes([8, arg])


def raw(side, data):
    return bytes([3 if side == "c" else 9, len(data)]) + data


def cctl(v):  # 0 '+', 1 '-', 2 ^C
    return bytes([4, v])


def tctl(v):
    return bytes([10, v])


def timer(retry=0):
    return bytes([11, retry])


CLIENT_GONE, TARGET_GONE, LISTENER = bytes([12]), bytes([13]), bytes([14])
OBS_GONE = bytes([12 | 0x10])
SECOND = bytes([15])


def stall(target=0):
    return bytes([15 | 0x20, target])


def flood(k):
    return bytes([15 | 0x30, k])


def big(k, enc=0):
    return bytes([15 | 0x10, k, enc])


HANDSHAKE = pkt("qSupported", b":multiprocess+") + answer_all(1)

seeds = {
    "handshake": bytes([0]) + HANDSHAKE + pkt("qXfer") + answer_all() + pkt("?") + reply(0)
    + pkt("g") + reply(1) + pkt("m1000,", b"10") + answer_all() + pkt("c") + cctl(2)
    + reply(8, 5),
    "noack": bytes([0x08]) + HANDSHAKE + pkt("QStartNoAckMode") + pkt("m1000,", b"4")
    + reply(0) + cctl(1) + pkt("g", enc=BADSUM) + reply(2),
    "monitor_local": bytes([0]) + HANDSHAKE + pkt("qRcmd,", mon="help")
    + pkt("qRcmd,", mon="cache stats --json") + pkt("qRcmd,", b"on", mon="cache ")
    + pkt("qRcmd,", mon="uncached list"),
    "monitor_forward": bytes([0]) + HANDSHAKE + pkt("qRcmd,", mon="info registers")
    + reply(1, 3) + answer_all() + cctl(2) + answer_all(),
    "vtop": bytes([0]) + HANDSHAKE + pkt("qXfer") + answer_all() + pkt("qRcmd,", b"1000", mon="vtop ")
    + answer_all() * 8,
    "phys": bytes([0]) + HANDSHAKE + pkt("qRcmd,", b"0 40", mon="phys read ") + answer_all() * 6
    + pkt("qRcmd,", b"0 11 22", mon="phys write ") + answer_all() * 6,
    "cached_m": bytes([0]) + HANDSHAKE + pkt("m1000,", b"20") + answer_all() + pkt("m1000,", b"20")
    + pkt("M1000,4:", b"00112233") + answer_all() + pkt("m1000,", b"8") + answer_all(),
    "target_gone": bytes([0]) + HANDSHAKE + pkt("m1000,", b"8") + raw("t", b"$0011")
    + TARGET_GONE + timer(1) + answer_all() + pkt("?") + answer_all(),
    "listener_gone": bytes([0x06]) + HANDSHAKE + LISTENER + TARGET_GONE + pkt("g") + timer(1)
    + timer(1) + LISTENER + timer(1) + pkt("g") + answer_all(),
    "timeout": bytes([0]) + HANDSHAKE + pkt("m1000,", b"4") + timer(0) + pkt("g") + timer(0)
    + timer(0) + answer_all(),
    "resume_intr": bytes([0]) + HANDSHAKE + pkt("vCont;c") + cctl(2) + timer(0) + pkt("g")
    + timer(0) + answer_all(),
    "client_gone": bytes([0]) + HANDSHAKE + pkt("c") + CLIENT_GONE + reply(8) + SECOND
    + pkt("?") + answer_all() + pkt("D;1") + answer_all() + CLIENT_GONE,
    "second_client": bytes([0]) + HANDSHAKE + SECOND + pkt("qC") + answer_all(),
    "oversized": bytes([0]) + HANDSHAKE + big(200) + pkt("m1000,", b"800") + reply(10, 3)
    + big(40) + pkt("?") + answer_all(),
    "corrupt_target": bytes([0]) + HANDSHAKE + pkt("g") + reply(0, 0, BADSUM) * 7 + pkt("?")
    + reply(0, 0, SPLIT | RLE),
    "async": bytes([0]) + HANDSHAKE + reply(9) + reply(8) + reply(7) + pkt("c") + reply(7)
    + reply(12, 1) + pkt("qRcmd,", mon="maps") + reply(9) + answer_all(),
    "read_only": bytes([0x01]) + HANDSHAKE + pkt("M1000,4:", b"00112233") + pkt("P10=0011223344556677")
    + pkt("X1000,4:", b"abcd") + pkt("qRcmd,", b"0 11", mon="phys write ") + answer_all() * 4,
    "bcbs": bytes([0]) + HANDSHAKE + pkt("bc") + pkt("bs") + pkt("k") + answer_all(),
    "pipelined": bytes([0]) + pkt("qSupported", nopump=NOPUMP) + pkt("g", nopump=NOPUMP)
    + pkt("m1000,", b"4", nopump=NOPUMP) + pkt("qRcmd,", mon="help", nopump=NOPUMP)
    + pkt("?") + reply(0, 1, nopump=NOPUMP) + reply(0, nopump=NOPUMP) + answer_all(),
    "never": bytes([0x02]) + HANDSHAKE + pkt("g") + TARGET_GONE + pkt("g"),
    "naks": bytes([0x20]) + HANDSHAKE + pkt("?") + reply(0) + cctl(1) + cctl(1) + cctl(65)
    + tctl(1) + tctl(66) + pkt("g") + tctl(1) + reply(0),
    "reply_twice": bytes([0]) + HANDSHAKE + pkt("g") + reply(13) + pkt("qC") + reply(13)
    + answer_all(),
    "garbage": bytes([0xc0]) + HANDSHAKE + raw("c", b"junk$m0}#00$*a#00\x01\xff")
    + raw("t", b"junk\x01\x02%Stop#00") + pkt("g", enc=NOTIFY) + pkt("?", enc=NOSUM)
    + pkt("?", enc=SPLIT) + answer_all(),
    "backpressure": bytes([0]) + HANDSHAKE + stall(0) + flood(40) + flood(40) + pkt("qRcmd,", mon="help")
    + pkt("g") + stall(0) + answer_all() + stall(1) + pkt("M1000,4:", b"00112233") + big(250) * 8
    + stall(1) + answer_all(),
    # Console output without end while the worker waits for a reply (the
    # regression test is t_console_flood_is_bounded in tests/test_worker.c).
    "flood_during_job": bytes([0]) + HANDSHAKE + pkt("qRcmd,", b"0 40", mon="phys read ")
    + stall(0) + flood(71) + stall(0) + answer_all() * 4,
    # The bridge closes while a command waits for the target: the command is
    # interrupted and svc_finish() runs before the target connection closes.
    # GDB File-I/O: the target's F request ends the resume, the client's F
    # reply resumes it.
    "fileio": bytes([0]) + HANDSHAKE + pkt("c") + reply(0, 8) + pkt("m1000,", b"4") + answer_all()
    + pkt("F", b"4") + timer(0) + reply(0, 8) + pkt("F", b"-1,4,C") + reply(0, 0) + pkt("g")
    + answer_all(),
    # k and vKill: refused in read-only mode, a detach with --on-kill detach
    # (config bit 7), forwarded (W00, or the target closing) otherwise.
    "kill_ro": bytes([0x01]) + HANDSHAKE + pkt("k") + pkt("vKill;1") + pkt("?") + answer_all(),
    "kill_detach": bytes([0x80]) + HANDSHAKE + pkt("vKill;1") + answer_all() + pkt("k")
    + answer_all() + pkt("?") + answer_all(),
    "kill_forward": bytes([0]) + HANDSHAKE + pkt("k") + reply(12, 0) + TARGET_GONE + timer(1)
    + answer_all() + pkt("k") + TARGET_GONE + timer(1) + answer_all() + pkt("vKill;1")
    + TARGET_GONE,
    # Many pipelined requests (queued, the client paused, none dropped),
    # console output without end, a close right behind a request and an
    # immediate reconnect, NAK and '$' floods (counted in the log).
    "pipelined_many": bytes([0]) + HANDSHAKE + pkt("m1000,", b"4", nopump=NOPUMP) * 120
    + answer_all() * 3,
    "console_forever": bytes([0]) + HANDSHAKE + pkt("qC") + reply(7) * 30 + timer(0) + reply(7) * 5
    + timer(0) + cctl(2) + answer_all(),
    "reconnect_now": bytes([0]) + HANDSHAKE + pkt("qC", nopump=NOPUMP) + bytes([12 | 0x80])
    + pkt("?") + answer_all() + pkt("qC", nopump=NOPUMP) + bytes([12 | 0x80]) + SECOND + pkt("?")
    + answer_all(),
    "log_floods": bytes([0x40]) + HANDSHAKE + raw("c", b"$" * 200) + cctl(255) + cctl(193)
    + raw("c", b"$m0#00" * 40) + pkt("?") + answer_all(),
    "close_during_job": bytes([0]) + HANDSHAKE + pkt("qXfer") + answer_all()
    + pkt("qRcmd,", b"0 100000", mon="phys read ") + answer_all() * 3,
    # Several clients (--sessions): an observer reads, is refused writes and
    # run control, pauses the guest while the controller's resume is
    # outstanding (T02 swallowed, a real stop delivered), takes control.
    "sessions_observer": bytes([0x40]) + HANDSHAKE + obs("qSupported") + obs("m1000,", b"4")
    + answer_all() + obs("g") + answer_all() + obs("M1000,4:", b"00112233") + obs("c")
    + obs("Z0,1000,1") + obs("qRcmd,", mon="session") + obs("qRcmd,", b"0 11", mon="phys write ")
    + obs("QStartNoAckMode") + obs("?") + answer_all() + OBS_GONE,
    "sessions_pause": bytes([0x40]) + HANDSHAKE + obs("m1000,", b"4") + answer_all() + pkt("vCont;c")
    + obs("m1000,", b"4") + reply(8, 2) + answer_all() + obs("g") + reply(8, 5) + answer_all()
    + pkt("c") + obs("qRcmd,", b"1000", mon="vtop ") + reply(8, 2) + answer_all() * 6 + cctl(2)
    + answer_all(),
    "sessions_take": bytes([0x40]) + HANDSHAKE + obs("qC") + answer_all() + CLIENT_GONE
    + obs("qRcmd,", mon="session take") + obs("c") + answer_all() + SECOND + OBS_GONE,
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
