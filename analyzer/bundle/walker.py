"""Walk an untrusted input and yield its regular files as ``Member`` objects.

Nothing is ever extracted. Archives are read member by member through byte-counting readers
(``reader.py``); only regular files are read; links, devices, FIFOs and sparse members are
reported and skipped; every limit of ``Limits`` is enforced on bytes actually read.

Inputs (decided by ``sniff``, never by name): a directory, tar / tar.gz / tar.xz (one pass,
stream mode), zip (its central directory checked by us before ``zipfile`` sees it), a single
gzip/xz-compressed file, or a single plain file.

Provenance (always escaped, printable, no control characters; ``!`` inside a name is shown as
``\\x21`` so a name cannot fake a nesting level):

* archive input: ``case.tgz!var/log/waagent.log`` (the member name as stored, so ``./`` or a
  case folder stays visible);
* nested archive: ``case.tgz!var/lib/waagent/logcollector/logs.zip!var/log/waagent.log``;
* directory input: ``<dir basename>/<relative path>``, e.g. ``case-1234/var/log/waagent.log``
  (nested archives continue with ``!``);
* single file input: its basename, e.g. ``waagent.log.1.gz``;
* the n-th member with an already-seen name in the same archive gets a ``#n`` suffix.

Logical path (``Member.logical_path``): see ``names.normalise_path``. Members of a nested
archive whose names are relative (``history/*.zip`` holds flat ``GoalState.xml``) are placed
where the archive would unpack: ``var/lib/waagent/history/<ts>__3/GoalState.xml``. Names that
start at a VM root (``var/``, ``etc/``, ``run/``) or are collector root files (``results.txt``,
``truncated_*``) are taken as they are.

Tar streams: a ``Member`` of a tar is readable only while the loop body for it runs; the walker
drains the rest of it when the consumer asks for the next member. Read inside the loop::

    for member in walk(path, limits, problems):
        if member.kind == SourceKind.WAAGENT_LOG:
            with member.open() as stream:
                parse(stream)

Zip members stay readable until the walk leaves that zip; directory and single-file members
can be reopened at any time.

Errors: ``walk`` raises only the project's errors. ``InputRejected`` when the input as a whole
cannot be read and nothing was yielded; otherwise every problem becomes a ``Problem`` in the
caller's list and the walk goes on (or stops, for bundle-wide budgets, keeping what was read).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import lzma
import os
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Self, cast

from analyzer.errors import BudgetExceeded, BundleError, InputRejected, Problem
from analyzer.settings import Limits

from . import names
from .classify import (
    READ_KINDS,
    cap_name,
    classify,
    member_cap,
    refine_kind,
    strip_archive_suffix,
)
from .model import PROVENANCE_SEPARATOR, Member, SourceKind
from .reader import (
    CHUNK,
    GZIP_MAGIC,
    XZ_MAGIC,
    BoundedReader,
    Budget,
    CorruptData,
    CountingReader,
    DecompressStream,
    ExpansionCounter,
    Prefixed,
    StreamTruncated,
    WalkStopped,
    describe_read_error,
    format_bytes,
)
from .sniff import SNIFF_BYTES, InputFormat, Sniffed, sniff_head

HEAD_BYTES = 512
"""Bytes peeked from each parsed member before it is yielded (gzip magic, placeholder)."""

SPOOL_MEMORY_BYTES = 4 * 1024 * 1024
"""Nested archives up to this size stay in memory; bigger ones spill to the private temp dir."""

_LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
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

_MEMBER_ERRORS: tuple[type[BaseException], ...] = (StreamTruncated, CorruptData, *_LIBRARY_ERRORS)
"""Errors that end one member's data (or one archive), never the whole walk."""

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

_SPECIAL_TYPES = {
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}


class _ArchiveError(Exception):
    """An archive (outer or nested) cannot be read any further. Internal: the walker turns it
    into ``InputRejected`` (outer, nothing read) or a ``Problem``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def walk(path: Path, limits: Limits, problems: list[Problem]) -> Iterator[Member]:
    """Yield every regular file of the input at ``path`` (file or directory).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "waagent.log").write_bytes(b"2024-01-31T10:00:00.000000Z INFO Daemon x\\n")
    >>> [(m.provenance, m.kind) for m in walk(d / "waagent.log", Limits(), [])]
    [('waagent.log', 'waagent_log')]
    """
    path = Path(path)
    base = path.name or Path(os.path.abspath(path)).name or str(path)
    walker = _Walker(limits, problems, names.display_name(base), base)
    return walker.run(lambda: walker.walk_path(path))


def walk_bytes(data: bytes, name: str, limits: Limits, problems: list[Problem]) -> Iterator[Member]:
    """Like ``walk`` for input held in memory; ``name`` is its file name (provenance only).

    >>> import gzip
    >>> [m.logical_path for m in walk_bytes(gzip.compress(b"x"), "waagent.log.1.gz", Limits(), [])]
    ['waagent.log.1.gz']
    """
    base = Path(name).name or name or "input"
    walker = _Walker(limits, problems, names.display_name(base), base)
    return walker.run(lambda: walker.walk_data(data))


def walk_root(
    root: Path, paths: Iterable[str], limits: Limits, problems: list[Problem]
) -> Iterator[Member]:
    """Walk selected paths of a live file system (``self-check`` on the VM itself).

    ``paths`` are relative to ``root``; the last component may be a glob
    (``var/log/waagent.log*``). Missing paths are skipped silently (not every VM has every
    DHCP client); links anywhere on the way are reported and not followed, exactly as for a
    directory input. Provenance is the real path (``/var/log/waagent.log`` for root ``/``),
    the logical path is the path below ``root``.

    >>> import tempfile, pathlib
    >>> r = pathlib.Path(tempfile.mkdtemp())
    >>> (r / "etc").mkdir()
    >>> _ = (r / "etc/waagent.conf").write_bytes(b"Logs.Verbose=n\\n")
    >>> found = walk_root(r, ["etc/waagent.conf", "var/log"], Limits(), [])
    >>> [(m.logical_path, m.kind) for m in found]
    [('etc/waagent.conf', 'waagent_conf')]
    """
    root = Path(root)
    label = names.display_name(str(root))
    walker = _Walker(limits, problems, label, str(root))
    return walker.run(lambda: walker.walk_selected(root, list(paths)))


# --------------------------------------------------------------------------------------
# Contexts and member sources
# --------------------------------------------------------------------------------------


@dataclass
class _Ctx:
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


class _Source:
    """Where a member's raw (as stored) bytes come from."""

    reopenable = True
    member: Member | None = None

    def bind(self, member: Member) -> None:
        """The member built for this source (its provenance labels read errors)."""
        self.member = member

    @property
    def label(self) -> str:
        return self.member.provenance if self.member is not None else ""

    def open_raw(self) -> Any:
        raise NotImplementedError

    def invalidate(self) -> None:
        """The walk moved past this member."""


class _FileSource(_Source):
    """A regular file on disk (directory member or single-file input)."""

    def __init__(self, path: str, budget: Budget, *, follow: bool = False) -> None:
        self._path = path
        self._budget = budget
        self._follow = follow

    def open_raw(self) -> Any:
        # Members of a directory are opened with O_NOFOLLOW (a link swapped in after the
        # listing is refused); only the input path the user typed may itself be a link.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
        if not self._follow:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self._path, flags)
        try:
            # The entry was a regular file when listed; make sure it still is (no FIFO that
            # would block, no device) now that it is open.
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CorruptData("skipped: no longer a regular file")
            handle = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        return CountingReader(handle, self._budget)


class _BytesSource(_Source):
    def __init__(self, data: bytes, budget: Budget) -> None:
        self._data = data
        self._budget = budget

    def open_raw(self) -> Any:
        return CountingReader(io.BytesIO(self._data), self._budget)


class _Guard:
    """Refuses reads once the walk has moved past a streamed member."""

    def __init__(self, raw: Any, label: str) -> None:
        self._raw = raw
        self._label = label
        self.valid = True

    def read(self, size: int = -1, /) -> bytes:
        if not self.valid:
            raise BundleError(
                f"{self._label}: no longer readable (tar members must be read inside the loop)"
            )
        data: bytes = self._raw.read(size)
        return data

    def close(self) -> None:
        """Closing the consumer's stream must not end the tar stream below it."""


class _TarSource(_Source):
    reopenable = False

    def __init__(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        self._tf = tf
        self._info = info
        self._guard: _Guard | None = None
        self.cut = False
        """Draining the member hit the end of the data (already reported for it)."""

    def open_raw(self) -> Any:
        if self._guard is None:
            extracted = self._tf.extractfile(self._info)
            if extracted is None:
                raise CorruptData("corrupt: member has no data")
            self._guard = _Guard(extracted, self.label)
        return self._guard

    def drain(self) -> None:
        """Read the rest of the member so a cut in its data is reported against it."""
        raw = self.open_raw()
        while raw.read(CHUNK):
            pass

    def invalidate(self) -> None:
        if self._guard is not None:
            self._guard.valid = False


class _ZipSource(_Source):
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


class _Opener:
    """``Member.opener``: builds the bounded (and gunzipped) stream on demand."""

    def __init__(
        self,
        walker: _Walker,
        member: Member,
        source: _Source,
        cap: int,
        peeked: tuple[bytes, Any] | None,
        counted: bool,
        xz_ok: bool,
    ) -> None:
        self._xz_ok = xz_ok
        self._walker = walker
        self._member = member
        self._source = source
        self._cap = cap
        self._peeked = peeked
        self._counted = counted
        self._used = False

    def release(self) -> None:
        self._peeked = None

    def __call__(self) -> BinaryIO:
        member = self._member
        budget = self._walker.budget
        if self._used and not self._source.reopenable:
            raise BundleError(f"{member.provenance}: a streamed tar member can be opened once")
        self._used = True
        if not self._counted:
            budget.count_member_read(member.provenance)
            self._counted = True
        if self._peeked is not None:
            head, raw = self._peeked
            self._peeked = None
        else:
            try:
                raw = self._source.open_raw()
            except (WalkStopped, BudgetExceeded):
                raise
            except _MEMBER_ERRORS as exc:
                message = describe_read_error(exc)
                self._walker.member_problem(member, message)
                raise BundleError(f"{member.provenance}: {message}") from None
            # A read error here is raised again by the layer below on the next read, where
            # the BoundedReader records it after delivering the head.
            head, _error = _read_head(raw)
        stream: Any = Prefixed(head, raw)
        # Decided by magic, not by name: a ".gz" that is not gzip is read as it is.
        fmt = _compression(head, self._xz_ok)
        member.compressed = fmt is not None
        if fmt is not None:
            stream = DecompressStream(stream, fmt, budget, label=member.provenance)
        reader = BoundedReader(
            stream,
            self._cap,
            budget,
            member.provenance,
            cap_message=(
                f"truncated: decompressed size exceeds {cap_name(member.kind)} "
                f"{format_bytes(self._cap)}"
            ),
            on_problem=lambda message: _add_member_problem(member, message),
        )
        return cast(BinaryIO, reader)


def _corrupt(prefix: str, exc: BaseException) -> str:
    """``corrupt zip: bad magic number ...`` (without repeating "corrupt")."""
    return f"{prefix}: {describe_read_error(exc).removeprefix('corrupt: ')}"


def _read_head(raw: Any) -> tuple[bytes, BaseException | None]:
    """Up to ``HEAD_BYTES`` from ``raw``, keeping what was read before an error.

    The layers below raise data errors again on the next read (tar and decompression errors
    are sticky, a CRC mismatch repeats at end of data), so the error is not lost either.
    """
    parts: list[bytes] = []
    got = 0
    try:
        while got < HEAD_BYTES:
            data = raw.read(HEAD_BYTES - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
    except (WalkStopped, BudgetExceeded):
        raise
    except BundleError as exc:
        if not isinstance(exc, (StreamTruncated, CorruptData)):
            raise
        return b"".join(parts), exc
    except _LIBRARY_ERRORS as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def _compression(head: bytes, xz_ok: bool) -> str | None:
    """gzip members are decompressed anywhere; xz only for a single xz-compressed input."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if xz_ok and head.startswith(XZ_MAGIC):
        return "xz"
    return None


def _add_member_problem(member: Member, message: str) -> None:
    if message not in member.problems:
        member.problems.append(message)


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


# --------------------------------------------------------------------------------------
# The walker
# --------------------------------------------------------------------------------------


class _Walker:
    def __init__(self, limits: Limits, problems: list[Problem], label: str, raw_name: str) -> None:
        self.limits = limits
        self.label = label
        self.raw_name = raw_name
        self.budget = Budget(limits, problems, label)
        self.yielded = 0
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None

    # -- top level -------------------------------------------------------------------------
    def run(self, body: Callable[[], Iterator[Member]]) -> Iterator[Member]:
        try:
            yield from body()
        except WalkStopped:
            return
        except InputRejected:
            raise
        except _ArchiveError as exc:
            self._fail(exc.message)
        except BundleError as exc:
            self._fail(names.escape_text(str(exc)))
        except _MEMBER_ERRORS as exc:
            self._fail(f"unreadable input ({describe_read_error(exc)})")
        finally:
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
                self._tmpdir = None

    def _fail(self, message: str) -> None:
        if self.yielded == 0:
            raise InputRejected(f"{self.label}: {message}")
        self.budget.problem(self.label, message)

    def walk_path(self, path: Path) -> Iterator[Member]:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise InputRejected(
                f"{self.label}: cannot read input ({names.escape_text(exc.strerror or '')})"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            ctx = _Ctx(self.label, 1, "/", None, ())
            yield from self._walk_dir(str(path), [], ctx)
            return
        if not stat.S_ISREG(st.st_mode):
            raise InputRejected(f"{self.label}: not a regular file or directory")
        self._check_input_size(st.st_size)
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
            handle.seek(0)
            counted = CountingReader(handle, self.budget)
            source = _FileSource(str(path), self.budget, follow=True)
            yield from self._walk_input(counted, head, st.st_size, st.st_mtime, source)

    def walk_data(self, data: bytes) -> Iterator[Member]:
        self._check_input_size(len(data))
        counted = CountingReader(io.BytesIO(data), self.budget)
        source = _BytesSource(data, self.budget)
        yield from self._walk_input(counted, data[:SNIFF_BYTES], len(data), None, source)

    def _check_input_size(self, size: int) -> None:
        if size == 0:
            raise InputRejected(f"{self.label}: empty input")
        if size > self.limits.max_input_bytes:
            raise InputRejected(
                f"{self.label}: input is {format_bytes(size)}, more than the limit "
                f"{format_bytes(self.limits.max_input_bytes)}"
            )

    def _walk_input(
        self, raw: CountingReader, head: bytes, size: int, mtime: float | None, source: _Source
    ) -> Iterator[Member]:
        sniffed = self._sniff_outer(head)
        ctx = _Ctx(self.label, 1, PROVENANCE_SEPARATOR, None, ())
        fmt = sniffed.format
        if fmt in InputFormat.ARCHIVES:
            yield from self._walk_archive(raw, fmt, ctx)
        elif fmt in (InputFormat.GZIP, InputFormat.XZ, InputFormat.PLAIN):
            yield from self._single_file(source, size, mtime, fmt)
        else:  # pragma: no cover - _sniff rejects the rest
            raise InputRejected(f"{self.label}: unsupported format")

    def _sniff_outer(self, head: bytes) -> Sniffed:
        where = self.label
        try:
            sniffed = sniff_head(head, self.limits)
        except BudgetExceeded as exc:
            raise InputRejected(f"{where}: rejected: {exc}") from None
        if sniffed.format == InputFormat.EMPTY:
            raise InputRejected(f"{where}: empty input")
        if sniffed.format == InputFormat.BZIP2:
            raise InputRejected(f"{where}: rejected: unsupported compression (bzip2)")
        if sniffed.format == InputFormat.UNKNOWN:
            raise InputRejected(f"{where}: rejected: unsupported format ({sniffed.detail})")
        return sniffed

    def _walk_archive(self, raw: Any, fmt: str, ctx: _Ctx) -> Iterator[Member]:
        if fmt == InputFormat.ZIP:
            yield from self._walk_zip(raw, ctx)
            return
        stream: Any = raw
        if fmt in (InputFormat.TAR_GZ, InputFormat.TAR_XZ):
            stream = DecompressStream(
                raw,
                "gzip" if fmt == InputFormat.TAR_GZ else "xz",
                self.budget,
                label=ctx.prov,
                truncated_message="truncated: unexpected end of data",
            )
        yield from self._walk_tar(stream, ctx)

    # -- members -----------------------------------------------------------------------------
    def member_problem(self, member: Member, message: str) -> None:
        self.budget.problem(member.provenance, message)
        _add_member_problem(member, message)

    def _single_file(
        self, source: _Source, size: int, mtime: float | None, fmt: str
    ) -> Iterator[Member]:
        ctx = _Ctx("", 1, "", None, ())
        yield from self._emit(
            ctx,
            self.raw_name,
            size=size,
            mtime=mtime,
            source=source,
            provenance=self.label,
            compressed_hint=fmt != InputFormat.PLAIN,
            xz_ok=fmt == InputFormat.XZ,
            not_archive=fmt == InputFormat.PLAIN,
        )

    def _emit(
        self,
        ctx: _Ctx,
        raw_name: str,
        *,
        size: int,
        mtime: float | None,
        source: _Source,
        provenance: str | None = None,
        compressed_hint: bool = False,
        xz_ok: bool = False,
        not_archive: bool = False,
    ) -> Iterator[Member]:
        """Validate, classify, peek and yield one regular member (recursing into archives).

        ``not_archive``: the content was already sniffed as no archive (a single input file),
        so an archive-like name (``case.tgz`` holding plain text) must not decide."""
        name = names.parse_name(raw_name, self.limits, backslash_separator=ctx.backslash_separator)
        prov = provenance or f"{ctx.prov}{ctx.separator}{name.display}"
        if name.reject is not None:
            self.budget.problem(prov, name.reject)
            return
        occurrence = ctx.seen.get(raw_name, 0) + 1
        ctx.seen[raw_name] = occurrence
        member_problems: list[str] = []
        if occurrence > 1:
            prov = f"{prov}#{occurrence}"
            member_problems.append("duplicate member")
        member_problems.extend(name.warnings)

        logical = name.logical_path
        if ctx.logical_base is not None and not name.rooted:
            logical = f"{ctx.logical_base}/{logical}" if ctx.logical_base else logical
        kind = classify(logical)
        if not_archive and kind == SourceKind.ARCHIVE:
            kind = SourceKind.OTHER
        member = Member(
            provenance=prov,
            logical_path=logical,
            kind=kind,
            size=size,
            depth=ctx.level - 1,
            compressed=compressed_hint or logical.endswith(".gz"),
            collector_truncated=name.collector_truncated,
            mtime=mtime,
        )
        source.bind(member)
        for message in member_problems:
            self.member_problem(member, message)

        if kind == SourceKind.SECRET:
            # Listed for the inventory, never read.
            self._yield_count()
            yield member
            return
        cap = member_cap(kind, self.limits)
        if kind in READ_KINDS or kind == SourceKind.ARCHIVE:
            if size > cap:
                self.budget.problem(
                    prov,
                    f"skipped: declared size {format_bytes(size)} exceeds "
                    f"{cap_name(kind)} {format_bytes(cap)}",
                )
                return
            remaining = self.budget.remaining_total()
            if remaining == 0:
                raise self.budget.total_exceeded(prov)
            if size > remaining:
                self.budget.problem(
                    prov,
                    f"skipped: declared size {format_bytes(size)} exceeds the remaining total "
                    f"budget {format_bytes(remaining)}",
                )
                return
        if kind == SourceKind.ARCHIVE:
            self._yield_count()
            yield member
            yield from self._nested(ctx, member, source)
            return

        peeked: tuple[bytes, Any] | None = None
        counted = False
        if kind in READ_KINDS:
            self.budget.count_member_read(prov)
            counted = True
            head, raw = self._peek(member, source)
            if raw is not None:
                if not source.reopenable:
                    peeked = (head, raw)
                member.compressed = _compression(head, xz_ok) is not None
                if not member.compressed:
                    member.kind = refine_kind(kind, head)
        opener = _Opener(self, member, source, cap, peeked, counted, xz_ok)
        member.opener = opener
        self._yield_count()
        try:
            yield member
        finally:
            opener.release()

    def _yield_count(self) -> None:
        self.budget.check_running()
        self.yielded += 1

    def _peek(self, member: Member, source: _Source) -> tuple[bytes, Any]:
        """First bytes of the raw member; for reopenable sources the handle is closed again
        (a bundle can list thousands of members: keep no file descriptors open)."""
        try:
            raw = source.open_raw()
        except (WalkStopped, BudgetExceeded):
            raise
        except _MEMBER_ERRORS as exc:
            self.member_problem(member, describe_read_error(exc))
            return b"", None
        head, error = _read_head(raw)
        if error is not None:
            self.member_problem(member, describe_read_error(error))
        if source.reopenable:
            with contextlib.suppress(*_LIBRARY_ERRORS):
                raw.close()
        return head, raw

    # -- nested archives -----------------------------------------------------------------------
    def _spool_dir(self) -> str:
        if self._tmpdir is None:
            # Private (0700) directory; files in it get generated names only.
            self._tmpdir = tempfile.TemporaryDirectory(prefix="waagent-analyzer-")
        return self._tmpdir.name

    def _nested(self, ctx: _Ctx, member: Member, source: _Source) -> Iterator[Member]:
        prov = member.provenance
        level = ctx.level + 1
        if not self.budget.check_depth(level, prov):
            return
        self.budget.count_member_read(prov)
        try:
            raw = source.open_raw()
        except (WalkStopped, BudgetExceeded):
            raise
        except _MEMBER_ERRORS as exc:
            self.member_problem(member, describe_read_error(exc))
            return
        limit = self.limits.max_nested_bytes
        reader = BoundedReader(
            raw,
            limit,
            self.budget,
            prov,
            cap_message=f"skipped: nested archive larger than limit {format_bytes(limit)}",
            on_problem=lambda message: _add_member_problem(member, message),
        )
        digest = hashlib.sha256()
        try:
            # Entered as a context manager right below, once creation has succeeded.
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=SPOOL_MEMORY_BYTES, dir=self._spool_dir()
            )
        except OSError as exc:
            reader.close()
            self.member_problem(member, f"skipped: cannot spool nested archive ({exc.strerror})")
            return
        with spool:
            try:
                while True:
                    chunk = reader.read(CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    spool.write(chunk)
            except WalkStopped:
                raise
            except BudgetExceeded:
                return  # over the nested-archive cap: recorded by the reader
            except BundleError as exc:
                self.member_problem(member, names.escape_text(str(exc)))
                return
            except OSError as exc:  # writing the spool (disk full)
                message = names.escape_text(exc.strerror or str(exc))
                self.member_problem(member, f"skipped: cannot spool nested archive ({message})")
                return
            finally:
                reader.close()
            hashed = digest.digest()
            if hashed in ctx.ancestors:
                self.member_problem(
                    member, "skipped: recursive archive (same content as an enclosing archive)"
                )
                return
            spool.seek(0)
            head = spool.read(SNIFF_BYTES)
            spool.seek(0)
            try:
                fmt = sniff_head(head, self.limits).format
            except BudgetExceeded as exc:
                self.member_problem(member, f"skipped: {exc}")
                return
            if fmt == InputFormat.BZIP2:
                self.member_problem(member, "skipped: unsupported compression (bzip2)")
                return
            if fmt not in InputFormat.ARCHIVES:
                self.member_problem(member, "skipped: not a recognised archive")
                return
            child = _Ctx(
                prov,
                level,
                PROVENANCE_SEPARATOR,
                strip_archive_suffix(member.logical_path),
                (*ctx.ancestors, hashed),
                backslash_separator=fmt == InputFormat.ZIP,
            )
            try:
                yield from self._walk_archive(spool, fmt, child)
            except _ArchiveError as exc:
                self.member_problem(member, exc.message)

    # -- tar ------------------------------------------------------------------------------------
    def _walk_tar(self, stream: Any, ctx: _Ctx) -> Iterator[Member]:
        header_errors: list[BaseException] = []

        class _RecordingTarInfo(tarfile.TarInfo):
            """Remembers why tarfile stopped: it treats a bad or cut header after the first
            member as a silent end of archive."""

            @classmethod
            def fromtarfile(cls, tarfile_: tarfile.TarFile) -> Self:
                try:
                    return super().fromtarfile(tarfile_)
                except BaseException as exc:
                    header_errors.append(exc)
                    raise

        try:
            tf = tarfile.open(  # noqa: SIM115 - closed in the finally below
                fileobj=stream,
                mode="r|",
                tarinfo=_RecordingTarInfo,
                encoding="utf-8",
                errors="surrogateescape",
            )
        except (WalkStopped, BudgetExceeded):
            raise
        except StreamTruncated as exc:
            raise _ArchiveError(str(exc)) from None
        except _MEMBER_ERRORS as exc:
            raise _ArchiveError(_corrupt("corrupt archive", exc)) from None

        last: str | None = None
        cut_reported = False
        try:
            while True:
                self.budget.check_running()
                header_errors.clear()
                try:
                    info = tf.next()
                except (WalkStopped, BudgetExceeded):
                    raise
                except (StreamTruncated, EOFError) as exc:
                    if not cut_reported:
                        self._tar_cut(ctx, last, describe_read_error(exc))
                    return
                except tarfile.ReadError as exc:
                    message = describe_read_error(exc)
                    if message.startswith("truncated"):
                        if not cut_reported:
                            self._tar_cut(ctx, last, message)
                        return
                    raise _ArchiveError(_corrupt("corrupt archive", exc)) from None
                except _MEMBER_ERRORS as exc:
                    raise _ArchiveError(_corrupt("corrupt archive", exc)) from None
                if info is None:
                    self._tar_end(ctx, last, header_errors)
                    if not header_errors or type(header_errors[-1]).__name__ == "EOFHeaderError":
                        self._check_trailing(ctx, tf, stream)
                    return
                # tarfile keeps every TarInfo even in stream mode; we need none of them.
                cast(Any, tf).members.clear()
                self.budget.count_entry(ctx.prov)
                last = info.name
                source = _TarSource(tf, info)
                try:
                    yield from self._tar_member(ctx, info, source)
                finally:
                    source.invalidate()
                cut_reported = cut_reported or source.cut
        finally:
            # Closes tarfile's stream wrapper only; our file object stays with its owner.
            tf.close()

    def _check_trailing(self, ctx: _Ctx, tf: tarfile.TarFile, stream: Any) -> None:
        """Data after the end marker (a second tar appended to the first) is not read; say so
        rather than drop it silently. Looks at most 64 KiB further."""
        buffered = bytes(getattr(getattr(tf, "fileobj", None), "buf", b"") or b"")
        ignored: tuple[type[BaseException], ...] = (WalkStopped, BudgetExceeded, *_MEMBER_ERRORS)
        try:
            more = stream.read(65536)
        except ignored:
            more = b""
        if (buffered + (more or b"")).strip(b"\0"):
            self.budget.problem(ctx.prov, "trailing data after the end of the archive (ignored)")

    def _tar_cut(self, ctx: _Ctx, last: str | None, message: str) -> None:
        if last is None:
            raise _ArchiveError(message)
        self.budget.problem(ctx.prov, f"{message} after {names.display_name(last)}")

    def _tar_end(self, ctx: _Ctx, last: str | None, errors: list[BaseException]) -> None:
        """tarfile returned "no more members": tell a proper end marker from a cut/garbage."""
        error = errors[-1] if errors else None
        # tarfile's header error classes are not public API: compare by name.
        kind = type(error).__name__ if error is not None else ""
        if error is None or kind == "EOFHeaderError":
            return  # two zero blocks: the normal end (trailing data after it is ignored)
        after = f" after {names.display_name(last)}" if last else ""
        if kind in ("EmptyHeaderError", "TruncatedHeaderError"):
            message = f"truncated: unexpected end of data{after}"
        else:
            detail = names.escape_text(str(error))
            message = f"corrupt archive: invalid tar header{after} ({detail}); stopped"
        if last is None:
            raise _ArchiveError(message)
        self.budget.problem(ctx.prov, message)

    def _tar_member(self, ctx: _Ctx, info: tarfile.TarInfo, source: _TarSource) -> Iterator[Member]:
        prov = f"{ctx.prov}{PROVENANCE_SEPARATOR}{names.display_name(info.name)}"
        skip = _tar_skip_reason(info)
        if skip is not None:
            if skip:
                self.budget.problem(prov, skip)
            return
        yield from self._emit(
            ctx, info.name, size=info.size, mtime=float(info.mtime), source=source
        )
        if source.member is not None:
            self._drain(source.member, source)

    def _drain(self, member: Member, source: _TarSource) -> None:
        """Consume what the loop body left unread, so a cut in this member's data is
        reported against this member (tarfile would otherwise skip it silently)."""
        try:
            source.drain()
        except (WalkStopped, BudgetExceeded):
            raise
        except _MEMBER_ERRORS as exc:
            self.member_problem(member, describe_read_error(exc))
            source.cut = True

    # -- zip ------------------------------------------------------------------------------------
    def _walk_zip(self, raw: Any, ctx: _Ctx) -> Iterator[Member]:
        ctx.backslash_separator = True
        try:
            count, cd_start, cd_size = _read_eocd(raw)
            remaining = self.budget.remaining_entries()
            if count > remaining:
                raise _ArchiveError(
                    f"rejected: too many entries ({count}, limit {self.limits.max_entries})"
                )
            actual = _count_central_directory(raw, cd_start, cd_size, remaining)
            self.budget.count_entries(actual)
            zf = zipfile.ZipFile(raw)
        except (_ArchiveError, WalkStopped, BudgetExceeded):
            raise
        except _LIBRARY_ERRORS as exc:
            raise _ArchiveError(_corrupt("corrupt zip", exc)) from None
        sources: list[_ZipSource] = []
        try:
            try:
                infos = zf.infolist()
                _check_overlaps(raw, infos, cd_start)
            except _ArchiveError:
                raise
            except _LIBRARY_ERRORS as exc:
                raise _ArchiveError(_corrupt("corrupt zip", exc)) from None
            for info in infos:
                self.budget.check_running()
                raw_name = _zip_name(info)
                prov = f"{ctx.prov}{PROVENANCE_SEPARATOR}{names.display_name(raw_name)}"
                skip = _zip_skip_reason(info)
                if skip is not None:
                    if skip:
                        self.budget.problem(prov, skip)
                    continue
                source = _ZipSource(zf, info, self.budget)
                sources.append(source)
                yield from self._emit(
                    ctx, raw_name, size=info.file_size, mtime=_zip_mtime(info), source=source
                )
        finally:
            for source in sources:
                source.invalidate()
            zf.close()

    # -- live file system --------------------------------------------------------------------------
    def walk_selected(self, root: Path, paths: list[str]) -> Iterator[Member]:
        base = self.label.rstrip("/")  # "/" -> "", so members read "/var/log/..."
        ctx = _Ctx(base, 1, "/", None, ())
        done: set[str] = set()
        for pattern in paths:
            parts = [p for p in pattern.split("/") if p not in ("", ".")]
            if not parts or ".." in parts:
                continue
            parent = self._resolve_parent(root, parts[:-1], base)
            if parent is None:
                continue
            for name in self._matching(parent, parts[-1]):
                rel = [*parts[:-1], name]
                key = "/".join(rel)
                if key in done:
                    continue
                done.add(key)
                yield from self._walk_entry(os.path.join(parent, name), rel, ctx)

    def _resolve_parent(self, root: Path, parts: list[str], base: str) -> str | None:
        """The directory holding a selected path, reached without following any link."""
        current = str(root)
        for index, part in enumerate(parts):
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                return None
            except OSError as exc:
                where = f"{base}/" + "/".join(names.display_name(p) for p in parts[: index + 1])
                message = names.escape_text(exc.strerror or "")
                self.budget.problem(where, f"skipped: cannot read ({message})")
                return None
            if not stat.S_ISDIR(st.st_mode):
                if stat.S_ISLNK(st.st_mode):
                    where = f"{base}/" + "/".join(names.display_name(p) for p in parts[: index + 1])
                    self.budget.problem(where, "skipped: symbolic link")
                return None
        return current

    @staticmethod
    def _matching(parent: str, last: str) -> list[str]:
        if not any(ch in last for ch in "*?["):
            return [last] if os.path.lexists(os.path.join(parent, last)) else []
        try:
            with os.scandir(parent) as listing:
                return sorted(e.name for e in listing if fnmatch.fnmatchcase(e.name, last))
        except OSError:
            return []

    def _walk_entry(self, path: str, rel: list[str], ctx: _Ctx) -> Iterator[Member]:
        prov = f"{ctx.prov}/" + "/".join(names.display_name(p) for p in rel)
        self.budget.count_entry(prov)
        try:
            st = os.lstat(path)
        except OSError as exc:
            message = names.escape_text(exc.strerror or "")
            self.budget.problem(prov, f"skipped: cannot read ({message})")
            return
        if stat.S_ISLNK(st.st_mode):
            self.budget.problem(prov, "skipped: symbolic link")
        elif stat.S_ISDIR(st.st_mode):
            yield from self._walk_dir(path, rel, ctx)
        elif stat.S_ISREG(st.st_mode):
            yield from self._emit(
                ctx,
                "/".join(rel),
                size=st.st_size,
                mtime=st.st_mtime,
                source=_FileSource(path, self.budget),
            )
        else:
            kind = _SPECIAL_TYPES.get(stat.S_IFMT(st.st_mode), "unknown type")
            self.budget.problem(prov, f"skipped: special file ({kind})")

    # -- directories ------------------------------------------------------------------------------
    def _walk_dir(self, dirpath: str, rel: list[str], ctx: _Ctx) -> Iterator[Member]:
        where = ctx.prov + ("/" + "/".join(names.display_name(p) for p in rel) if rel else "")
        try:
            with os.scandir(dirpath) as listing:
                entries = []
                for entry in listing:
                    self.budget.count_entry(where)
                    entries.append(entry)
        except OSError as exc:
            self.budget.problem(
                where, f"skipped: cannot read directory ({names.escape_text(exc.strerror or '')})"
            )
            return
        entries.sort(key=lambda e: e.name)
        for entry in entries:
            self.budget.check_running()
            parts = [*rel, entry.name]
            prov = f"{where}/{names.display_name(entry.name)}"
            try:
                if entry.is_symlink():
                    self.budget.problem(prov, "skipped: symbolic link")
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if len(parts) >= self.limits.max_name_components:
                        self.budget.problem(
                            prov,
                            f"skipped: directory nesting exceeds "
                            f"{self.limits.max_name_components} components",
                        )
                        continue
                    yield from self._walk_dir(entry.path, parts, ctx)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.budget.problem(
                    prov, f"skipped: cannot read ({names.escape_text(exc.strerror or '')})"
                )
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = _SPECIAL_TYPES.get(stat.S_IFMT(st.st_mode), "unknown type")
                self.budget.problem(prov, f"skipped: special file ({kind})")
                continue
            yield from self._emit(
                ctx,
                "/".join(parts),
                size=st.st_size,
                mtime=st.st_mtime,
                source=_FileSource(entry.path, self.budget),
            )


def _tar_skip_reason(info: tarfile.TarInfo) -> str | None:
    """None: read it; "": skip silently (directories); else the problem text."""
    if info.size < 0:
        return f"corrupt: negative member size ({info.size})"
    if info.isdir():
        return ""
    if info.issym():
        return "skipped: symbolic link"
    if info.islnk():
        return "skipped: hard link"
    if info.ischr():
        return "skipped: special file (character device)"
    if info.isblk():
        return "skipped: special file (block device)"
    if info.isfifo():
        return "skipped: special file (FIFO)"
    if info.issparse():
        return f"skipped: sparse member (declared {format_bytes(info.size)})"
    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
        code = names.escape_text(info.type.decode("latin-1"))
        return f"skipped: unsupported member type {code!r}"
    return None


def _zip_skip_reason(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    ftype = stat.S_IFMT(mode)
    if info.orig_filename.endswith(("/", "\\")) or ftype == stat.S_IFDIR:
        return ""
    if ftype == stat.S_IFLNK:
        return "skipped: symbolic link"
    if ftype in _SPECIAL_TYPES:
        return f"skipped: special file ({_SPECIAL_TYPES[ftype]})"
    if info.flag_bits & 0x1:
        return "skipped: encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        label = _ZIP_METHODS.get(info.compress_type, "unknown")
        return f"skipped: unsupported compression method {info.compress_type} ({label})"
    return None


# --------------------------------------------------------------------------------------
# Zip structure checks done before/around zipfile
# --------------------------------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")


def _read_eocd(raw: Any) -> tuple[int, int, int]:
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
        raise _ArchiveError("corrupt zip: end of central directory not found")
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
        raise _ArchiveError("corrupt zip: bad central directory offset")
    return count, cd_start, cd_size


def _count_central_directory(raw: Any, start: int, size: int, limit: int) -> int:
    """Walk the central directory headers (without keeping them) and reject the zip once
    more than ``limit`` entries are found; the end record's count can lie."""
    raw.seek(start)
    done = 0
    count = 0
    while done < size:
        header = raw.read(_CENTRAL.size)
        if len(header) != _CENTRAL.size or header[:4] != b"PK\x01\x02":
            raise _ArchiveError("corrupt zip: bad central directory")
        fields = _CENTRAL.unpack(header)
        skip = fields[12] + fields[13] + fields[14]
        raw.seek(skip, io.SEEK_CUR)
        done += _CENTRAL.size + skip
        count += 1
        if count > limit:
            raise _ArchiveError(f"rejected: too many entries (more than {limit})")
    return count


def _check_overlaps(raw: Any, infos: list[zipfile.ZipInfo], cd_start: int) -> None:
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
            raise _ArchiveError("rejected: overlapping entries (possible zip bomb)")
        previous_end = end
    if spans and previous_end > cd_start:
        raise _ArchiveError("rejected: overlapping entries (possible zip bomb)")
