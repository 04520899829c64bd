"""The pure zip structure checks of ``zip_structure``, on bytes built here."""

from __future__ import annotations

import io
import zipfile

import pytest
from bundle_helpers import LOG, overlapping_zip, tar_bytes, walk_data, zip_bytes

from analyzer.bundle.zip_structure import (
    ZipStructureError,
    check_overlaps,
    count_central_directory,
    prepended_bytes,
    read_eocd,
)


def test_read_eocd_finds_the_central_directory() -> None:
    data = zip_bytes([("a.log", LOG), ("b.log", LOG)])
    count, cd_start, cd_size = read_eocd(io.BytesIO(data))
    assert count == 2
    assert data[cd_start : cd_start + 4] == b"PK\x01\x02"
    assert cd_start + cd_size == data.rfind(b"PK\x05\x06")


def test_read_eocd_without_end_record_is_refused() -> None:
    with pytest.raises(ZipStructureError, match="end of central directory not found"):
        read_eocd(io.BytesIO(b"PK\x03\x04" + b"\0" * 200))


def test_count_central_directory_stops_past_the_limit() -> None:
    data = zip_bytes([(f"f{i}", b"x") for i in range(10)])
    _count, start, size = read_eocd(io.BytesIO(data))
    assert count_central_directory(io.BytesIO(data), start, size, 10) == 10
    with pytest.raises(ZipStructureError, match="too many entries"):
        count_central_directory(io.BytesIO(data), start, size, 9)


def test_overlapping_entries_are_refused() -> None:
    data = overlapping_zip(3)
    raw = io.BytesIO(data)
    _count, cd_start, _size = read_eocd(raw)
    with pytest.raises(ZipStructureError, match="overlapping entries"):
        check_overlaps(raw, zipfile.ZipFile(raw).infolist(), cd_start)


def test_prepended_bytes_counts_what_precedes_the_first_entry() -> None:
    plain = zip_bytes([("a.log", LOG)])
    for data, expected in ((plain, 0), (b"X" * 700 + plain, 700)):
        raw = io.BytesIO(data)
        _count, cd_start, _size = read_eocd(raw)
        assert prepended_bytes(zipfile.ZipFile(raw).infolist(), cd_start) == expected


def test_tar_zip_polyglot_is_reported() -> None:
    """A tar whose first member's data is a zip, the file's name field made to start with
    ``PK\\x03\\x04``: we sniff a zip, GNU tar reads a tar. Both readings must be flagged."""
    inner = zip_bytes([("var/log/waagent.log", LOG)])
    tar = bytearray(tar_bytes([("PK\x03\x04", inner)]))
    tar[148:156] = b" " * 8
    tar[148:156] = b"%06o\x00 " % sum(tar[:512])
    walked = walk_data(bytes(tar), "case.tar")
    assert walked.contents["case.tar!var/log/waagent.log"] == LOG
    assert [p.message for p in walked.problems if p.member == "case.tar"] == [
        "suspicious: 512 B of other data before the zip (the file is also another format, "
        "e.g. a tar/zip polyglot; other tools may show different contents); read as a zip"
    ]
