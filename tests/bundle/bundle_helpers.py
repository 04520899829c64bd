"""Builders for in-memory test archives (no committed binaries) and a walk-and-read helper."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.bundle import walk, walk_bytes
from analyzer.bundle.model import Member
from analyzer.errors import BundleError, Problem
from analyzer.settings import Limits

LOG = b"2024-01-31T10:00:00.000000Z INFO Daemon Azure Linux Agent Version: 2.9.1.1\n"
GOAL_STATE = b"<?xml version='1.0'?><GoalState><Incarnation>3</Incarnation></GoalState>"
PLACEHOLDER = b"<xml>empty placeholder file</xml>"


@dataclass
class Entry:
    """One tar member to write."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""


def tar_bytes(entries: Iterable[Entry | tuple[str, bytes]], mode: str = "w") -> bytes:
    """A tar (``mode`` "w", "w:gz", "w:xz") holding ``entries`` (``(name, data)`` = file)."""
    if mode == "w:gz":
        # gzip with a fixed header time: the bytes (and test ids built from them) stay stable.
        return gzip.compress(tar_bytes(entries, "w"), mtime=0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tf:
        for item in entries:
            entry = Entry(*item) if isinstance(item, tuple) else item
            info = tarfile.TarInfo(entry.name)
            info.type = entry.type
            info.linkname = entry.linkname
            info.mtime = 1706695200
            if entry.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(entry.data)
                tf.addfile(info, io.BytesIO(entry.data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def tgz_bytes(entries: Iterable[Entry | tuple[str, bytes]]) -> bytes:
    return tar_bytes(entries, "w:gz")


def zip_bytes(
    files: Iterable[tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for item in files:
            if isinstance(item, zipfile.ZipInfo):
                zf.writestr(item, b"")
            else:
                name, data = item
                zf.writestr(name, data)
    return buf.getvalue()


def set_zip_flag(data: bytes, bit: int) -> bytes:
    """OR ``bit`` into the general-purpose flags of every local and central header."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = out.find(signature)
        while pos >= 0:
            (flags,) = struct.unpack_from("<H", out, pos + offset)
            struct.pack_into("<H", out, pos + offset, flags | bit)
            pos = out.find(signature, pos + 4)
    return bytes(out)


def overlapping_zip(copies: int = 20) -> bytes:
    """One deflated entry and a central directory with ``copies`` entries all pointing at it
    (the overlap construction behind zip bombs)."""
    payload = b"\x00" * 100_000
    single = zip_bytes([("a", payload)])
    local_end = single.find(b"PK\x01\x02")
    central_start = local_end
    eocd_at = single.rfind(b"PK\x05\x06")
    central = single[central_start:eocd_at]
    name_len = struct.unpack_from("<H", central, 28)[0]
    fixed = central[:46]
    entries = b""
    for i in range(copies):
        name = f"a{i:03d}".encode()
        header = bytearray(fixed)
        struct.pack_into("<H", header, 28, len(name))
        entries += bytes(header) + name
    assert name_len == 1
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, len(entries), local_end, 0)
    return single[:local_end] + entries + eocd


def sparse_header(name: str, declared: int) -> bytes:
    """A GNU sparse member header declaring ``declared`` bytes and carrying no data."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 0
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[483:495] = b"%012o" % declared  # the whole 12-byte field, no NUL needed
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header[:512])
    return bytes(header)


@dataclass
class Walked:
    members: list[Member]
    problems: list[Problem]
    contents: dict[str, bytes] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def by_prov(self, provenance: str) -> Member:
        matches = [m for m in self.members if m.provenance == provenance]
        assert matches, f"{provenance} not in {[m.provenance for m in self.members]}"
        return matches[0]

    @property
    def provenances(self) -> list[str]:
        return [m.provenance for m in self.members]

    def messages(self) -> list[str]:
        return [str(p) for p in self.problems]


def consume(iterator: Iterator[Member], problems: list[Problem], read: bool = True) -> Walked:
    """Run a walk, reading every readable member inside the loop (as consumers must)."""
    result = Walked([], problems)
    for member in iterator:
        result.members.append(member)
        if not read or member.opener is None:
            continue
        try:
            with member.open() as stream:
                result.contents[member.provenance] = stream.read()
        except BundleError as exc:
            result.errors[member.provenance] = str(exc)
    return result


def walk_data(data: bytes, name: str, limits: Limits | None = None, read: bool = True) -> Walked:
    problems: list[Problem] = []
    return consume(walk_bytes(data, name, limits or Limits(), problems), problems, read)


def walk_path(path: Path, limits: Limits | None = None, read: bool = True) -> Walked:
    problems: list[Problem] = []
    return consume(walk(path, limits or Limits(), problems), problems, read)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
