"""A byte-for-byte reproducible zip writer that copies members still compressed."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

DEFLATE_LEVEL = 6


class Entry(NamedTuple):
    """One archive member as it will be stored."""

    method: int  # zipfile.ZIP_STORED or zipfile.ZIP_DEFLATED
    crc: int
    size: int  # uncompressed
    payload: bytes  # the stored bytes (compressed when method is DEFLATED)
    mode: int


def deflated(data: bytes, mode: int = 0o644) -> Entry:
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)  # raw deflate, as in zip
    payload = compressor.compress(data) + compressor.flush()
    return Entry(zipfile.ZIP_DEFLATED, zlib.crc32(data), len(data), payload, mode)


def stored(data: bytes, mode: int = 0o644) -> Entry:
    return Entry(zipfile.ZIP_STORED, zlib.crc32(data), len(data), data, mode)


def deflate_all(files: Mapping[str, bytes], mode: int = 0o644) -> dict[str, Entry]:
    # zlib releases the GIL, so threads use every core.
    with ThreadPoolExecutor() as pool:
        entries = pool.map(lambda data: deflated(data, mode), files.values())
        return dict(zip(files, entries, strict=True))


def raw_entry(stream: zipfile.ZipFile, info: zipfile.ZipInfo, mode: int) -> Entry:
    """Copy a wheel member still compressed: no inflate and deflate for 60 MB of libraries."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return deflated(stream.read(info), mode)
    fp = stream.fp
    assert fp is not None
    fp.seek(info.header_offset)
    header = fp.read(30)
    if header[:4] != b"PK\x03\x04":
        raise SystemExit(f"{stream.filename}: bad local header for {info.filename}")
    name_length, extra_length = struct.unpack("<2H", header[26:30])
    fp.seek(info.header_offset + 30 + name_length + extra_length)
    payload = fp.read(info.compress_size)
    return Entry(info.compress_type, info.CRC, info.file_size, payload, mode)


def zip_bytes(entries: Mapping[str, Entry], prefix: bytes = b"") -> bytes:
    """A byte-for-byte reproducible zip: sorted names, one fixed time, fixed modes.

    Written by hand rather than with zipfile so that members can be copied still
    compressed from the wheels. Offsets are absolute, so a prefix (the shebang line) is
    part of the file as far as every zip reader, zipimport included, is concerned.
    """
    out = bytearray(prefix)
    central = bytearray()
    time, date = 0, (0 << 9) | (1 << 5) | 1  # DOS time: 1980-01-01 00:00:00
    for name in sorted(entries):
        entry, raw = entries[name], name.encode()
        flags = 0 if raw.isascii() else 0x800  # bit 11: the name is UTF-8
        common = (entry.method, time, date, entry.crc, len(entry.payload), entry.size)
        offset = len(out)
        out += struct.pack("<4s2H3H3L2H", b"PK\x03\x04", 20, flags, *common, len(raw), 0)
        out += raw + entry.payload
        attributes = (0o100000 | entry.mode) << 16  # regular file with its Unix mode
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 0x0314, 20, flags, *common,
            len(raw), 0, 0, 0, 0, attributes, offset,
        )  # fmt: skip
        central += raw
    if len(entries) > 0xFFFF or len(out) + len(central) > 0xFFFFFFFF:
        raise SystemExit("the archive would need zip64, which this writer does not do")
    footer = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0
    )
    return bytes(out + central + footer)
