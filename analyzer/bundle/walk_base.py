"""What every reader of the walk shares: the container being walked, the errors that end one
archive or one member, and the walker's interface the tar, zip, folder and nested-archive readers
are written against."""

from __future__ import annotations

import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from analyzer.settings import Limits

from .budget import Budget
from .model import Member
from .read_errors import CorruptData, StreamTruncated, describe_read_error

LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    UnicodeError,
    OverflowError,
    IndexError,
    KeyError,
)
"""What tarfile/zipfile/zlib/lzma and the OS raise on hostile or broken input. Anything in this
list coming out of a library call is turned into a problem or an ``InputRejected``."""

MEMBER_ERRORS: tuple[type[BaseException], ...] = (StreamTruncated, CorruptData, *LIBRARY_ERRORS)
"""Errors that end one member's data (or one archive), never the whole walk."""

SPECIAL_TYPES = {
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}


class ArchiveError(Exception):
    """An archive (outer or nested) cannot be read any further. Internal: the walker turns it
    into ``InputRejected`` (outer, nothing read) or a ``Problem``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message



@dataclass
class Ctx:
    """One container being walked (the input, or a nested archive)."""

    prov: str
    """Provenance of the container itself."""
    level: int
    """Archive nesting level: the input is 1, ``logs.zip`` inside it 2, ..."""
    separator: str
    """How member names are appended: ``!`` in archives, ``/`` in directories."""
    logical_base: str | None
    """Where the container's relative members are placed (``None`` for the input)."""
    ancestors: tuple[bytes, ...]
    """SHA-256 of each enclosing nested archive (self-containing archive detection)."""
    backslash_separator: bool = False

    def __post_init__(self) -> None:
        self.seen: dict[str, int] = {}


def corrupt(prefix: str, exc: BaseException) -> str:
    """``corrupt zip: bad magic number ...`` (without repeating "corrupt")."""
    return f"{prefix}: {describe_read_error(exc).removeprefix('corrupt: ')}"



def add_member_problem(member: Member, message: str) -> None:
    if message not in member.problems:
        member.problems.append(message)




class WalkerBase:
    """The walker as its readers see it (``_Walker`` in ``walker.py`` implements ``emit`` and
    ``walk_archive``; the readers are mixed into it)."""

    limits: Limits
    label: str
    budget: Budget

    def member_problem(self, member: Member, message: str) -> None:
        self.budget.problem(member.provenance, message)
        add_member_problem(member, message)

    def emit(
        self,
        ctx: Ctx,
        raw_name: str,
        *,
        size: int,
        mtime: float | None,
        source: Any,
        provenance: str | None = None,
        compressed_hint: bool = False,
        xz_ok: bool = False,
        not_archive: bool = False,
    ) -> Iterator[Member]:
        raise NotImplementedError

    def walk_archive(self, raw: Any, fmt: str, ctx: Ctx) -> Iterator[Member]:
        raise NotImplementedError
