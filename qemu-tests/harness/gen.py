#!/usr/bin/env python3
"""Build-time generator for the guests, driven by a layout file.

    gen.py header LAYOUT OUT.h           constants for the guest sources (roots, counter VA)
    gen.py image  LAYOUT GUEST.elf OUT   the image QEMU boots: the guest's loadable segments
                                         plus the page tables and byte patterns, each at its
                                         physical address.  A flat binary (multiboot a.out
                                         kludge) for x86; other architectures get an ELF.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layout  # noqa: E402


def elf_segments(path):
    """(paddr, bytes incl. zeroed bss) of every PT_LOAD segment of a little-endian ELF."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[5] != 1:
        raise SystemExit("%s: not a little-endian ELF" % path)
    segs = []
    if data[4] == 2:
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        for i in range(phnum):
            p_type, _flags, off, _va, pa, filesz, memsz, _al = struct.unpack_from(
                "<IIQQQQQQ", data, phoff + i * phentsize
            )
            if p_type == 1 and memsz:
                segs.append((pa, data[off : off + filesz] + bytes(memsz - filesz)))
    else:
        phoff, = struct.unpack_from("<I", data, 0x1C)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
        for i in range(phnum):
            p_type, off, _va, pa, filesz, memsz, _flags, _al = struct.unpack_from(
                "<IIIIIIII", data, phoff + i * phentsize
            )
            if p_type == 1 and memsz:
                segs.append((pa, data[off : off + filesz] + bytes(memsz - filesz)))
    return segs


def place(chunks):
    """Checks that no two chunks overlap."""
    chunks = sorted(chunks, key=lambda c: c[0])
    for (a, da), (b, _db) in zip(chunks, chunks[1:]):
        if a + len(da) > b:
            raise SystemExit("image: %#x+%#x overlaps %#x" % (a, len(da), b))
    return chunks


def flat_image(lay, segs):
    chunks = place(segs + lay.image_chunks())
    base = lay.image_base
    if chunks[0][0] < base:
        raise SystemExit("image: %#x lies below the image base %#x" % (chunks[0][0], base))
    end = max(a + len(d) for a, d in chunks)
    out = bytearray(end - base)
    for a, d in chunks:
        out[a - base : a - base + len(d)] = d
    return bytes(out)


def main(argv):
    if len(argv) == 4 and argv[1] == "header":
        text = layout.Layout(argv[2]).header()
        out = argv[3]
    elif len(argv) == 5 and argv[1] == "image":
        lay = layout.Layout(argv[2])
        text = flat_image(lay, elf_segments(argv[3]))
        out = argv[4]
    else:
        raise SystemExit(__doc__)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv)
