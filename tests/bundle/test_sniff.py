"""Input type from magic bytes, never from names."""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile

import pytest
from bundle_helpers import LOG, gz, tar_bytes, zip_bytes

from analyzer.bundle.sniff import InputFormat, looks_like_tar, sniff_head, sniff_path
from analyzer.errors import BudgetExceeded
from analyzer.settings import Limits

LIMITS = Limits()


def v7_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("waagent.log")
        info.size = len(LOG)
        tf.addfile(info, io.BytesIO(LOG))
    data = bytearray(buf.getvalue())
    # Turn it into a pre-POSIX header: no magic/version, checksum recomputed.
    data[257:265] = b"\x00" * 8
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\x00 " % sum(data[:512])
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (tar_bytes([("a", b"x")]), InputFormat.TAR),
        (tar_bytes([("a", b"x")], "w:gz"), InputFormat.TAR_GZ),
        (tar_bytes([("a", b"x")], "w:xz"), InputFormat.TAR_XZ),
        (zip_bytes([("a", b"x")]), InputFormat.ZIP),
        (zip_bytes([]), InputFormat.ZIP),  # empty zip starts with PK\x05\x06
        (gz(LOG), InputFormat.GZIP),
        (lzma.compress(LOG), InputFormat.XZ),
        (bz2.compress(LOG), InputFormat.BZIP2),
        (LOG, InputFormat.PLAIN),
        (b"<?xml version='1.0'?><GoalState/>", InputFormat.PLAIN),
        (b"\x00" * 10240, InputFormat.TAR),  # empty tar: only end-of-archive blocks
        (v7_tar(), InputFormat.TAR),
        (b"", InputFormat.EMPTY),
        (b"7z\xbc\xaf\x27\x1c rest", InputFormat.UNKNOWN),
        (bytes(range(256)) * 4, InputFormat.UNKNOWN),
        (LOG + b"\x00" * 4096 + LOG, InputFormat.PLAIN),  # NUL runs do not make a log binary
    ],
    # Stable ids: archives built at collection time carry the current time in their headers.
    ids=lambda value: value if isinstance(value, str) else "data",
)
def test_sniff_head(data: bytes, fmt: str) -> None:
    assert sniff_head(data[:65536], LIMITS).format == fmt


def test_names_do_not_matter(tmp_path) -> None:
    fake = tmp_path / "case.tgz"
    fake.write_bytes(zip_bytes([("a", b"x")]))
    assert sniff_path(fake, LIMITS).format == InputFormat.ZIP
    assert sniff_path(tmp_path, LIMITS).format == InputFormat.DIRECTORY


def test_v7_checksum_must_match() -> None:
    data = bytearray(v7_tar())
    data[0] ^= 0x01
    assert not looks_like_tar(bytes(data))


def test_xz_dictionary_over_memlimit_is_refused() -> None:
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 64 * 1024 * 1024}]
    data = lzma.compress(b"x" * 1000, format=lzma.FORMAT_XZ, filters=filters)
    with pytest.raises(BudgetExceeded, match="xz memory requirement exceeds limit 1 MiB"):
        sniff_head(data, Limits().with_overrides(xz_memlimit=1024 * 1024))
