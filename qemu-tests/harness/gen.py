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


def elf_image(lay, segs, elf_path):
    """An ELF with one loadable segment: the guest, its tables and patterns, and the zeros
    between them, at their physical addresses; class, machine and entry from the guest."""
    with open(elf_path, "rb") as f:
        hdr = f.read(64)
    blob = flat_image(lay, segs)
    cls64 = hdr[4] == 2
    machine, = struct.unpack_from("<H", hdr, 18)
    if cls64:
        entry, = struct.unpack_from("<Q", hdr, 24)
        flags, = struct.unpack_from("<I", hdr, 48)
        eh = struct.pack("<16sHHIQQQIHHHHHH", hdr[:16], 2, machine, 1, entry, 64, 0, flags, 64, 56, 1, 64, 0, 0)
        ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, lay.image_base, lay.image_base, len(blob), len(blob), 0x1000)
    else:
        entry, = struct.unpack_from("<I", hdr, 24)
        flags, = struct.unpack_from("<I", hdr, 36)
        eh = struct.pack("<16sHHIIIIIHHHHHH", hdr[:16], 2, machine, 1, entry, 52, 0, flags, 52, 32, 1, 40, 0, 0)
        ph = struct.pack("<IIIIIIII", 1, 0x1000, lay.image_base, lay.image_base, len(blob), len(blob), 7, 0x1000)
    head = eh + ph
    return head + bytes(0x1000 - len(head)) + blob


def main(argv):
    if len(argv) == 4 and argv[1] == "header":
        text = layout.Layout(argv[2]).header()
        out = argv[3]
    elif len(argv) == 5 and argv[1] == "image":
        lay = layout.Layout(argv[2])
        if lay.mode.family == "x86":
            text = flat_image(lay, elf_segments(argv[3]))  # multiboot, a.out kludge
        else:
            text = elf_image(lay, elf_segments(argv[3]), argv[3])
        out = argv[4]
    else:
        raise SystemExit(__doc__)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv)
