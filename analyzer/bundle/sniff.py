"""Decide what an input (or a nested archive) is from its first bytes, never from its name.

A customer's ``case.tgz`` may really be a zip, a plain log, or garbage; file names are not
evidence. The head of the data is enough:

=============  ==================================================================
``zip``        ``PK\\x03\\x04`` (first local header) or ``PK\\x05\\x06`` (empty zip)
``gzip``       ``1f 8b``; the first decompressed block says ``tar.gz`` vs a single gzip file
``xz``         ``fd 37 7a 58 5a 00``; decoded with a ``memlimit`` to tell ``tar.xz`` apart
``bzip2``      ``BZh`` -> rejected ("unsupported compression")
``tar``        ``ustar`` at offset 257, or a valid old-style (v7) header checksum,
               or a short all-zero stream (an empty tar: 1 KiB to 20 KiB of NULs)
``plain``      anything else that looks like text (a single log or XML file)
=============  ==================================================================

>>> sniff_head(b"2024-01-31T10:00:00.000000Z INFO Daemon ...\\n", Limits()).format
'plain'
>>> sniff_head(b"", Limits()).format
'empty'
"""

from __future__ import annotations

import lzma
import os
import stat
import zlib
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import BudgetExceeded
from analyzer.settings import Limits

from .budget import format_bytes
from .decompress import GZIP_MAGIC, XZ_MAGIC

SNIFF_BYTES = 64 * 1024
"""Raw bytes read for sniffing (xz needs some input before it produces the first block)."""

BLOCK = 512
EMPTY_TAR_MAX = 20 * 1024
"""An empty tar is its end-of-archive blocks padded to a record (10 KiB for GNU and Python
tar); anything longer that is all NULs is not taken for a tar."""

_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x1f\x9d", "compress (.Z)"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x7fELF", "ELF executable"),
    (b"%PDF", "PDF"),
)


class InputFormat:
    """Values of ``Sniffed.format``."""

    DIRECTORY = "directory"
    TAR = "tar"
    TAR_GZ = "tar.gz"
    TAR_XZ = "tar.xz"
    ZIP = "zip"
    GZIP = "gzip"
    """A single gzip-compressed file (``waagent.log.1.gz``)."""
    XZ = "xz"
    """A single xz-compressed file."""
    BZIP2 = "bzip2"
    PLAIN = "plain"
    EMPTY = "empty"
    UNKNOWN = "unknown"

    ARCHIVES = frozenset({TAR, TAR_GZ, TAR_XZ, ZIP})


@dataclass(frozen=True)
class Sniffed:
    format: str
    detail: str = ""
    """Why an input is UNKNOWN (e.g. ``7z``), for the rejection message."""


def looks_like_tar(block: bytes, *, complete: bool = False) -> bool:
    """True for a POSIX/GNU tar header or an old v7 header with a valid checksum.

    With ``complete`` (``block`` is the whole data), a short all-NUL stream counts as an
    empty tar; a long run of NULs (a gzip bomb of zeros, a preallocated log) does not.
    """
    if len(block) < BLOCK:
        return False
    header = block[:BLOCK]
    if header[257:262] == b"ustar":
        return True
    if header.count(0) == BLOCK:
        return complete and 2 * BLOCK <= len(block) <= EMPTY_TAR_MAX and not block.strip(b"\0")
    if header[0] == 0:
        return False
    field = header[148:156].replace(b"\x00", b" ").strip()
    if not field or any(ch not in b"01234567" for ch in field):
        return False
    stored = int(field, 8)
    # v7 readers disagree on signedness: accept both sums (the checksum field counts as spaces).
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    signed = sum((b - 256 if b > 127 else b) for b in header[:148] + header[156:]) + 8 * 32
    return stored in (unsigned, signed)


def _looks_binary(head: bytes) -> bool:
    """Heuristic for "not a text file": control bytes other than the usual whitespace/ESC.

    NUL runs are ignored (crash-truncated or preallocated logs contain them).
    """
    sample = head[:8192].replace(b"\x00", b"")
    if not sample:
        return False
    allowed = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x08, 0x1B}
    controls = sum(1 for b in sample if (b < 0x20 and b not in allowed) or b == 0x7F)
    return controls * 100 > len(sample)


def _inflate_head(head: bytes) -> tuple[bytes, bool]:
    """First decompressed bytes and whether they are the whole content.

    Members are decoded one after the other (``cat a.gz b.gz`` is one gzip stream): a tar.gz
    whose first member holds only a few bytes is still seen as a tar."""
    parts: list[bytes] = []
    got = 0
    rest = head
    while rest.startswith(GZIP_MAGIC) and got <= EMPTY_TAR_MAX:
        decoder = zlib.decompressobj(wbits=31)
        try:
            out = decoder.decompress(rest, EMPTY_TAR_MAX + 1 - got)
        except zlib.error:
            break
        parts.append(out)
        got += len(out)
        if not decoder.eof:
            return b"".join(parts), False
        rest = decoder.unused_data
    return b"".join(parts), not rest.strip(b"\0")


def _unxz_head(head: bytes, limits: Limits) -> tuple[bytes, bool]:
    decoder = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=limits.xz_memlimit)
    try:
        out = decoder.decompress(head, EMPTY_TAR_MAX + 1)
    except lzma.LZMAError as exc:
        if "memory" in str(exc).lower():
            raise BudgetExceeded(
                f"xz memory requirement exceeds limit {format_bytes(limits.xz_memlimit)}"
            ) from None
        return b"", False
    return out, bool(decoder.eof)


def sniff_head(head: bytes, limits: Limits) -> Sniffed:
    """Classify data from its first bytes (``SNIFF_BYTES`` of it, or all of it if shorter).

    Raises ``BudgetExceeded`` for an xz stream whose dictionary exceeds ``limits.xz_memlimit``.

    >>> import gzip, io, tarfile
    >>> buf = io.BytesIO()
    >>> with tarfile.open(fileobj=buf, mode="w:gz") as tf:
    ...     tf.addfile(tarfile.TarInfo("a"), io.BytesIO())
    >>> sniff_head(buf.getvalue(), Limits()).format
    'tar.gz'
    >>> sniff_head(gzip.compress(b"log line\\n"), Limits()).format
    'gzip'
    """
    if not head:
        return Sniffed(InputFormat.EMPTY)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Sniffed(InputFormat.ZIP)
    if head.startswith(GZIP_MAGIC):
        inner, complete = _inflate_head(head)
        is_tar = looks_like_tar(inner, complete=complete)
        return Sniffed(InputFormat.TAR_GZ if is_tar else InputFormat.GZIP)
    if head.startswith(XZ_MAGIC):
        inner, complete = _unxz_head(head, limits)
        is_tar = looks_like_tar(inner, complete=complete)
        return Sniffed(InputFormat.TAR_XZ if is_tar else InputFormat.XZ)
    if head.startswith(b"BZh"):
        return Sniffed(InputFormat.BZIP2)
    # ``head`` is the whole input when it is shorter than what the callers read.
    if looks_like_tar(head, complete=len(head) < SNIFF_BYTES):
        return Sniffed(InputFormat.TAR)
    for magic, label in _OTHER_MAGIC:
        if head.startswith(magic):
            return Sniffed(InputFormat.UNKNOWN, label)
    if _looks_binary(head):
        return Sniffed(InputFormat.UNKNOWN, "binary data")
    return Sniffed(InputFormat.PLAIN)


def sniff_path(path: Path, limits: Limits) -> Sniffed:
    """Sniff a path given by the user: a directory, or a regular file by content.

    The path itself may be a symlink (the user typed it); nothing below it is followed.
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        return Sniffed(InputFormat.DIRECTORY)
    if not stat.S_ISREG(st.st_mode):
        return Sniffed(InputFormat.UNKNOWN, "not a regular file or directory")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return sniff_head(head, limits)
