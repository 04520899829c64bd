"""Tar members whose declared size the stream cannot hold (#11 item 3), and the other
stream-shape attacks of #11 item 8 (prepended zip data, long gzip headers, tiny first gzip
member). Each failed before its fix."""

from __future__ import annotations

import struct
import tarfile
import time
import zlib

import pytest
from bundle_helpers import LOG, gz, tar_bytes, walk_data, zip_bytes

HUGE = 10**12


def pax_claim(name: str, claimed: int) -> bytes:
    """A PAX member header saying ``size=claimed`` followed by no data."""
    info = tarfile.TarInfo(name)
    info.pax_headers = {"size": str(claimed)}
    return info.tobuf(format=tarfile.PAX_FORMAT)


def base256_claim(name: str, claimed: int) -> bytes:
    """A GNU header whose size field is base-256 (high bit set) saying ``claimed``."""
    header = bytearray(tarfile.TarInfo(name).tobuf(format=tarfile.GNU_FORMAT))
    header[124:136] = b"\x80" + claimed.to_bytes(11, "big")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header[:512])
    return bytes(header)


def lying_tar(claim: bytes) -> bytes:
    """A good waagent.log member, then the lying header, then a little padding: ~2 KiB."""
    good = tar_bytes([("var/log/waagent.log", LOG)])
    return good[: good.find(b"\0" * 1024, 1024)] + claim + b"\0" * 1024


@pytest.mark.parametrize("claim", [pax_claim, base256_claim], ids=["pax", "base256"])
@pytest.mark.parametrize("wrap", ["tar", "tar.gz", "logs.zip"])
def test_a_size_claim_the_stream_cannot_hold_ends_the_walk_fast(claim, wrap) -> None:
    data = lying_tar(claim("var/log/huge.log", HUGE))
    assert len(data) < 4096
    name, inner_prov = "case.tar", "case.tar"
    if wrap == "tar.gz":
        data, name, inner_prov = gz(data), "case.tgz", "case.tgz"
    elif wrap == "logs.zip":
        data = zip_bytes([("logs.tar", data), ("var/log/waagent.log.1", LOG)])
        name, inner_prov = "case.zip", "case.zip!logs.tar"
    started = time.monotonic()
    walked = walk_data(data, name)
    assert time.monotonic() - started < 5
    # The member read before the lie keeps its data...
    assert walked.contents[f"{inner_prov}!var/log/waagent.log"] == LOG
    # ...the lie is named...
    lie = [p.message for p in walked.problems if p.member == f"{inner_prov}!var/log/huge.log"]
    assert (
        "truncated: declared size 931.3 GiB is more than the rest of the archive can hold; "
        "stopped reading this archive"
    ) in lie
    # ...and in a zip, the later members are still read.
    if wrap == "logs.zip":
        assert walked.contents["case.zip!var/log/waagent.log.1"] == LOG


def test_a_truthful_large_member_is_not_taken_for_a_lie() -> None:
    body = LOG * 20_000  # ~1.5 MiB, read in full
    walked = walk_data(tar_bytes([("var/log/waagent.log", body), ("var/log/b.log", LOG)]), "c.tar")
    assert walked.contents["c.tar!var/log/waagent.log"] == body
    assert walked.problems == []


def gzip_with_long_header(body: bytes, name_len: int, comment_len: int, hcrc: bool) -> bytes:
    """A gzip member whose FNAME and FCOMMENT are longer than one 256 KiB read."""
    flags = 0x08 | 0x10 | (0x02 if hcrc else 0)
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    header += b"N" * name_len + b"\0" + b"C" * comment_len + b"\0"
    if hcrc:
        header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = deflate.compress(body) + deflate.flush()
    return header + data + struct.pack("<II", zlib.crc32(body), len(body))


@pytest.mark.parametrize("hcrc", [False, True])
def test_gzip_header_longer_than_one_read_is_decoded(hcrc: bool) -> None:
    body = LOG * 50
    data = gzip_with_long_header(body, 300_000, 300_000, hcrc)
    walked = walk_data(data, "waagent.log.1.gz")
    assert walked.problems == []
    assert walked.contents["waagent.log.1.gz"] == body
    # ...also as the second member of a multi-member stream, and inside a tar.gz
    walked = walk_data(gz(b"first\n") + data, "waagent.log.2.gz")
    assert walked.contents["waagent.log.2.gz"] == b"first\n" + body


def test_gzip_header_crc_mismatch_is_corrupt() -> None:
    data = bytearray(gzip_with_long_header(LOG, 10, 10, True))
    data[10 + 11 + 11] ^= 0xFF  # the header CRC
    walked = walk_data(bytes(data), "waagent.log.1.gz")
    assert walked.messages() == [
        "waagent.log.1.gz: corrupt: invalid compressed data (header crc mismatch)"
    ]


def test_tar_gz_whose_first_gzip_member_is_tiny_is_read_as_a_tar() -> None:
    """``cat empty.gz case.tar.gz``: the first member decodes to nothing, the tar follows."""
    tar = tar_bytes([("var/log/waagent.log", LOG)])
    data = gz(b"") + gz(tar[:100]) + gz(tar[100:])
    walked = walk_data(data, "case.tgz")
    assert walked.problems == []
    assert walked.contents == {"case.tgz!var/log/waagent.log": LOG}


def test_a_huge_sparse_input_is_refused_before_anything_reads_it(tmp_path) -> None:
    """#11 item 8: the input was hashed before its size was checked (103 s for 50 GiB)."""
    from analyzer.errors import InputRejected
    from analyzer.pipeline import AnalyzeOptions, analyze_path

    sparse = tmp_path / "case.tgz"
    with sparse.open("wb") as handle:
        handle.truncate(50 * 1024**3)
    started = time.monotonic()
    with pytest.raises(InputRejected, match="input is 50 GiB, more than the limit 1 GiB"):
        analyze_path(sparse, AnalyzeOptions(isolate=False))
    assert time.monotonic() - started < 5
