"""Reading a zip in place: its structure checked by ``zip_structure`` before ``zipfile``
parses it, every entry's CRC and size checked after its data was delivered."""

from __future__ import annotations

import contextlib
import stat
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from analyzer.errors import BudgetExceeded, BundleError

from . import names
from .budget import Budget, WalkStopped, format_bytes
from .model import PROVENANCE_SEPARATOR, Member
from .read_errors import CorruptData
from .sources import Source
from .streams import ExpansionCounter
from .walk_base import LIBRARY_ERRORS, SPECIAL_TYPES, ArchiveError, Ctx, WalkerBase, corrupt
from .zip_structure import (
    ZipStructureError,
    check_overlaps,
    count_central_directory,
    prepended_bytes,
    read_eocd,
)

_ZIP_METHODS = {
    1: "shrink",
    6: "implode",
    9: "deflate64",
    12: "bzip2",
    14: "lzma",
    93: "zstd",
    95: "xz",
    98: "ppmd",
}


class ZipSource(Source):
    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> None:
        self._zf = zf
        self._info = info
        self._budget = budget
        self._valid = True

    def open_raw(self) -> Any:
        if not self._valid:
            raise BundleError(f"{self.label}: no longer readable (its zip was closed)")
        handle = self._zf.open(self._info)
        raw: Any = handle
        if hasattr(handle, "_expected_crc"):
            # zipfile checks the CRC inside the read() that returns the last bytes and then
            # drops them; check it ourselves after the data has been delivered.
            handle._expected_crc = None
            raw = _CrcChecked(handle, self._info.CRC, self._info.file_size)
        if self._info.compress_type == zipfile.ZIP_DEFLATED:
            return ExpansionCounter(raw, self._budget, self.label)
        return raw

    def invalidate(self) -> None:
        self._valid = False


class _CrcChecked:
    """Verifies a zip entry's CRC-32 and size at end of data, after every byte was returned."""

    def __init__(self, raw: Any, expected: int, declared_size: int = -1) -> None:
        self._raw = raw
        self._expected = expected
        self._declared = declared_size
        self._crc = 0
        self._size = 0

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._raw.read(size)
        if data:
            self._crc = zlib.crc32(data, self._crc)
            self._size += len(data)
        elif size != 0:
            if self._crc != self._expected:
                raise CorruptData("corrupt: CRC mismatch")
            if 0 <= self._declared != self._size:
                raise CorruptData(f"corrupt: declared size {self._declared} bytes, "
                                  f"data holds {self._size}")
        return data

    def close(self) -> None:
        self._raw.close()



class ZipReading(WalkerBase):
    """The zip part of the walker."""

    def _check_prepended(self, ctx: Ctx, infos: list[zipfile.ZipInfo], cd_start: int) -> None:
        extra = prepended_bytes(infos, cd_start)
        if extra:
            self.budget.problem(
                ctx.prov,
                f"suspicious: {format_bytes(extra)} of other data before the zip (the file is "
                "also another format, e.g. a tar/zip polyglot; other tools may show different "
                "contents); read as a zip",
            )

    def walk_zip(self, raw: Any, ctx: Ctx) -> Iterator[Member]:
        ctx.backslash_separator = True
        try:
            count, cd_start, cd_size = read_eocd(raw)
            remaining = self.budget.remaining_entries()
            if count > remaining:
                raise ArchiveError(
                    f"rejected: too many entries ({count}, limit {self.limits.max_entries})"
                )
            actual = count_central_directory(raw, cd_start, cd_size, remaining)
            self.budget.count_entries(actual)
            zf = zipfile.ZipFile(raw)
        except ZipStructureError as exc:
            raise ArchiveError(exc.message) from None
        except (ArchiveError, WalkStopped, BudgetExceeded):
            raise
        except LIBRARY_ERRORS as exc:
            raise ArchiveError(corrupt("corrupt zip", exc)) from None
        sources: list[ZipSource] = []
        try:
            try:
                infos = zf.infolist()
                check_overlaps(raw, infos, cd_start)
                self._check_prepended(ctx, infos, cd_start)
            except ZipStructureError as exc:
                raise ArchiveError(exc.message) from None
            except LIBRARY_ERRORS as exc:
                raise ArchiveError(corrupt("corrupt zip", exc)) from None
            for info in infos:
                self.budget.check_running()
                raw_name = _zip_name(info)
                prov = f"{ctx.prov}{PROVENANCE_SEPARATOR}{names.display_name(raw_name)}"
                skip = _zip_skip_reason(info)
                if skip is not None:
                    if skip:
                        self.budget.problem(prov, skip)
                    continue
                source = ZipSource(zf, info, self.budget)
                sources.append(source)
                yield from self.emit(
                    ctx, raw_name, size=info.file_size, mtime=_zip_mtime(info), source=source
                )
        finally:
            for source in sources:
                source.invalidate()
            zf.close()


def _zip_skip_reason(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    ftype = stat.S_IFMT(mode)
    if info.orig_filename.endswith(("/", "\\")) or ftype == stat.S_IFDIR:
        return ""
    if ftype == stat.S_IFLNK:
        return "skipped: symbolic link"
    if ftype in SPECIAL_TYPES:
        return f"skipped: special file ({SPECIAL_TYPES[ftype]})"
    if info.flag_bits & 0x1:
        return "skipped: encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        label = _ZIP_METHODS.get(info.compress_type, "unknown")
        return f"skipped: unsupported compression method {info.compress_type} ({label})"
    return None



def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        # Zip stores local time without a zone; read it as UTC (it is only informational).
        return datetime(*info.date_time, tzinfo=UTC).timestamp()
    except (ValueError, OverflowError):
        return None


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The entry name as stored: without the UTF-8 flag zipfile decodes cp437, but Linux tools
    store raw (usually UTF-8) bytes; re-decode them with surrogateescape."""
    name = info.orig_filename
    if not info.flag_bits & 0x800:
        with contextlib.suppress(UnicodeError):
            name = name.encode("cp437").decode("utf-8", "surrogateescape")
    return name
