"""Zip structure checks done by us before/around ``zipfile``: pure functions over a seekable
file object, testable on their own. Each raises ``ZipStructureError`` with the problem text."""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any


class ZipStructureError(Exception):
    """The zip's structure is refused (message is the problem text)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")


def read_eocd(raw: Any) -> tuple[int, int, int]:
    """``(entry count, central directory start, central directory size)`` from the end
    records, read by us so an absurd entry count is rejected before ``ZipFile`` parses it."""
    size = raw.seek(0, io.SEEK_END)
    tail_len = min(size, _EOCD.size + 0xFFFF)
    raw.seek(size - tail_len)
    tail = raw.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0 and len(tail) - pos < _EOCD.size:
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if pos < 0:
        raise ZipStructureError("corrupt zip: end of central directory not found")
    _sig, _disk, _cd_disk, _n_disk, count, cd_size, _cd_offset, _clen = _EOCD.unpack_from(tail, pos)
    eocd_at = size - tail_len + pos
    end_of_cd = eocd_at
    if eocd_at >= _EOCD64_LOCATOR.size + _EOCD64.size:
        raw.seek(eocd_at - _EOCD64_LOCATOR.size)
        locator = raw.read(_EOCD64_LOCATOR.size)
        if len(locator) == _EOCD64_LOCATOR.size and locator[:4] == b"PK\x06\x07":
            at = eocd_at - _EOCD64_LOCATOR.size - _EOCD64.size
            raw.seek(at)
            record = raw.read(_EOCD64.size)
            if len(record) == _EOCD64.size and record[:4] == b"PK\x06\x06":
                fields = _EOCD64.unpack(record)
                count, cd_size = fields[7], fields[8]
                end_of_cd = at
    cd_start = end_of_cd - cd_size
    if cd_start < 0:
        raise ZipStructureError("corrupt zip: bad central directory offset")
    return count, cd_start, cd_size


def count_central_directory(raw: Any, start: int, size: int, limit: int) -> int:
    """Walk the central directory headers (without keeping them) and reject the zip once
    more than ``limit`` entries are found; the end record's count can lie."""
    raw.seek(start)
    done = 0
    count = 0
    while done < size:
        header = raw.read(_CENTRAL.size)
        if len(header) != _CENTRAL.size or header[:4] != b"PK\x01\x02":
            raise ZipStructureError("corrupt zip: bad central directory")
        fields = _CENTRAL.unpack(header)
        skip = fields[12] + fields[13] + fields[14]
        raw.seek(skip, io.SEEK_CUR)
        done += _CENTRAL.size + skip
        count += 1
        if count > limit:
            raise ZipStructureError(f"rejected: too many entries (more than {limit})")
    return count


def check_overlaps(raw: Any, infos: list[zipfile.ZipInfo], cd_start: int) -> None:
    """Reject zips whose entries share bytes (Fifield-style overlap bombs; Python 3.11.7's
    zipfile does not check). Each entry spans its local header, name, extra and data."""
    spans: list[tuple[int, int]] = []
    for info in infos:
        start = info.header_offset
        raw.seek(start)
        header = raw.read(_LOCAL.size)
        if len(header) != _LOCAL.size or header[:4] != b"PK\x03\x04":
            # zipfile will refuse to open this entry; it cannot overlap anything we read.
            continue
        fields = _LOCAL.unpack(header)
        end = start + _LOCAL.size + fields[10] + fields[11] + info.compress_size
        spans.append((start, end))
    spans.sort()
    previous_end = -1
    for start, end in spans:
        if start < previous_end:
            raise ZipStructureError("rejected: overlapping entries (possible zip bomb)")
        previous_end = end
    if spans and previous_end > cd_start:
        raise ZipStructureError("rejected: overlapping entries (possible zip bomb)")


def prepended_bytes(infos: list[zipfile.ZipInfo], cd_start: int) -> int:
    """Bytes before the first entry (or before the central directory of an empty zip).

    A zip is read from its end, so data placed in front of it goes unnoticed by ``zipfile``,
    which even shifts every offset to make room for it. Such a file is two formats at once
    (a tar whose first member name is ``PK\\x03\\x04``, a self-extracting stub): GNU tar and
    unzip then show different contents. Zero for a zip that starts at its first entry.
    """
    return min((info.header_offset for info in infos), default=cd_start)
