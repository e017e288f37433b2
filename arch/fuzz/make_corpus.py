#!/usr/bin/env python3
"""Regenerates the committed seed corpus of fuzz_arch: one small, valid
page-table image per paging mode (see the header layout in fuzz_arch.c)."""
import os
import struct


def hdr(mode, opts=0xff, flags=0, t0=16, t1=16, root=0, lo=0, hi=0xffffffffffffffff,
        va=0x1000, pabits=0, b38=0, b39=1, b40=0):
    return (bytes([mode, opts, flags, t0, t1]) + struct.pack('<QQQQ', root, lo, hi, va) +
            bytes([pabits, b38, b39, b40]))


def img(entries, size=0x6000, esize=8):
    b = bytearray(size)
    for pa, v in entries:
        b[pa:pa + esize] = v.to_bytes(esize, 'little')
    return bytes(b)


SEEDS = {
    'x86_32': hdr(1) + img([(0, 0x1007), (0x1004, 0x5007), (4, 0x400083)], esize=4),
    'x86_pae': hdr(2) + img([(0, 0x1001), (0x1000, 0x2007), (0x2008, 0x5007),
                             (0x1008, 0x200087)]),
    'x86_64': hdr(3, b38=2) + img([(0, 0x1007), (0x1000, 0x2007), (0x2000, 0x3007),
                                   (0x3008, 0x5007), (0x2008, 0x200087), (0x1008, 0x40000087),
                                   (0xff8, 0x1007)]),
    'x86_la57': hdr(4) + img([(0, 0x1007), (0x1000, 0x2007), (0x2000, 0x3007), (0x3000, 0x4007),
                              (0x4008, 0x5007)]),
    'aarch64_4k': hdr(5, flags=0) + img([(0, 0x1003), (0x1000, 0x2003), (0x2000, 0x3003),
                                         (0x3008, 0x5403 | (1 << 54)), (0x2008, 0x200401),
                                         (0x1008, 0x40000401)], 0x4000),
    'aarch64_16k': hdr(5, flags=0x01 | (1 << 2), b38=4, b40=40, va=0x4000) +
    img([(0, 0x4003), (0x4000, 0x8003), (0x8000, 0xc003), (0xc008, 0x10403)], 0xc010),
    'aarch64_64k': hdr(5, flags=0x02 | (2 << 2), t0=22, t1=22, va=0x10000) +
    img([(0, 0x10003), (0x10008, 0x20403), (0x8, 0x20000401)], 0x10010),
    'sv32': hdr(6) + img([(0, (1 << 10) | 1), (0x1004, (5 << 10) | 0xf),
                          (4, (0x400 << 10) | 0xf)], esize=4),
    'sv39': hdr(7, b38=2) + img([(0, (1 << 10) | 1), (0x1000, (2 << 10) | 1),
                                 (0x2008, (5 << 10) | 0xcf), (0x1008, (0x200 << 10) | 0x7)]),
    'sv48': hdr(8) + img([(0, (1 << 10) | 1), (0x1000, (2 << 10) | 1), (0x2000, (3 << 10) | 1),
                          (0x3008, (5 << 10) | 0xf | (1 << 61))]),
    'sv57': hdr(9) + img([(0, (1 << 10) | 1), (0x1000, (2 << 10) | 1), (0x2000, (3 << 10) | 1),
                          (0x3000, (4 << 10) | 1), (0x4008, (0x18 << 10) | 0xf | (1 << 63))]),
    # Every root entry points at the root itself: bounded only by the read budget.
    'selfref_x86_64': hdr(3) + img([(i * 8, 0x7) for i in range(512)], size=0x1000),
}

if __name__ == '__main__':
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
