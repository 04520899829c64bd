"""Walk an untrusted input and yield its regular files as ``Member`` objects.

Nothing is ever extracted. Archives are read member by member through byte-counting readers
(``streams.py``, ``decompress.py``); only regular files are read; links, devices, FIFOs and
sparse members are reported and skipped; every limit of ``Limits`` is enforced on bytes
actually read.

This module dispatches the input and emits members; the readers it is made of live in
``tar_reader.py``, ``zip_reader.py`` (with ``zip_structure.py``), ``nested.py`` and
``folders.py``; member byte sources in ``sources.py``; the shared counters in ``budget.py``.

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
import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from analyzer.errors import BudgetExceeded, BundleError, InputRejected, Problem
from analyzer.redact import redact_text
from analyzer.settings import Limits

from . import names
from .budget import Budget, WalkStopped, format_bytes
from .classify import (
    CONTENT_CHECKED_KINDS,
    READ_KINDS,
    cap_name,
    classify,
    content_candidate,
    decide_kind,
    member_cap,
    refine_kind,
)
from .decompress import DecompressStream
from .folders import FolderReading
from .model import PROVENANCE_SEPARATOR, Member, SourceKind
from .nested import NestedReading
from .read_errors import describe_read_error
from .sniff import CONTENT_SNIFF_BYTES, SNIFF_BYTES, InputFormat, Sniffed, inflate_head, sniff_head
from .sources import (
    HEAD_BYTES,
    BytesSource,
    FileSource,
    Opener,
    Source,
    compression,
    read_head,
)
from .streams import CountingReader
from .tar_reader import TarReading
from .walk_base import LIBRARY_ERRORS, MEMBER_ERRORS, ArchiveError, Ctx
from .zip_reader import ZipReading

MAX_CONTENT_SNIFFS = 2_000
"""Members of no known kind whose head is read to recognise them, per walk (a bundle of
extension packages holds thousands of files that are not logs)."""


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



def check_input(path: Path, limits: Limits) -> None:
    """Refuse an input file that is empty or over ``limits.max_input_bytes`` from its size
    alone (``InputRejected``), with the walk's own message. Whatever reads the whole input
    before walking it (the bundle hash) calls this first: a 50 GiB sparse file must not be
    read at all. A directory is accepted here; its files are counted as they are read."""
    path = Path(path)
    label = names.display_name(path.name or Path(os.path.abspath(path)).name or str(path))
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputRejected(
            f"{label}: cannot read input ({names.escape_text(exc.strerror or '')})"
        ) from None
    if stat.S_ISREG(st.st_mode):
        _check_size(label, st.st_size, limits)


def _check_size(label: str, size: int, limits: Limits) -> None:
    if size == 0:
        raise InputRejected(f"{label}: empty input")
    if size > limits.max_input_bytes:
        raise InputRejected(
            f"{label}: input is {format_bytes(size)}, more than the limit "
            f"{format_bytes(limits.max_input_bytes)}"
        )


class _Walker(TarReading, ZipReading, FolderReading, NestedReading):
    def __init__(self, limits: Limits, problems: list[Problem], label: str, raw_name: str) -> None:
        self.limits = limits
        self.label = label
        self.raw_name = raw_name
        self.budget = Budget(limits, problems, label)
        self.yielded = 0
        self.content_sniffs = 0
        self._tmpdir = None

    # -- top level -------------------------------------------------------------------------
    def run(self, body: Callable[[], Iterator[Member]]) -> Iterator[Member]:
        try:
            yield from body()
        except WalkStopped:
            return
        except InputRejected:
            raise
        except ArchiveError as exc:
            self._fail(exc.message)
        except BundleError as exc:
            self._fail(names.escape_text(str(exc)))
        except MEMBER_ERRORS as exc:
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
            ctx = Ctx(self.label, 1, "/", None, ())
            yield from self.walk_dir(str(path), [], ctx)
            return
        if not stat.S_ISREG(st.st_mode):
            raise InputRejected(f"{self.label}: not a regular file or directory")
        self._check_input_size(st.st_size)
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
            handle.seek(0)
            counted = CountingReader(handle, self.budget)
            source = FileSource(str(path), self.budget, follow=True)
            yield from self._walk_input(counted, head, st.st_size, st.st_mtime, source)

    def walk_data(self, data: bytes) -> Iterator[Member]:
        self._check_input_size(len(data))
        counted = CountingReader(io.BytesIO(data), self.budget)
        source = BytesSource(data, self.budget)
        yield from self._walk_input(counted, data[:SNIFF_BYTES], len(data), None, source)

    def _check_input_size(self, size: int) -> None:
        self.budget.input_size = size
        _check_size(self.label, size, self.limits)

    def _walk_input(
        self, raw: CountingReader, head: bytes, size: int, mtime: float | None, source: Source
    ) -> Iterator[Member]:
        sniffed = self._sniff_outer(head)
        ctx = Ctx(self.label, 1, PROVENANCE_SEPARATOR, None, ())
        fmt = sniffed.format
        if fmt in InputFormat.ARCHIVES:
            yield from self.walk_archive(raw, fmt, ctx)
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

    def walk_archive(self, raw: Any, fmt: str, ctx: Ctx) -> Iterator[Member]:
        if fmt == InputFormat.ZIP:
            yield from self.walk_zip(raw, ctx)
            return
        if fmt in (InputFormat.TAR_GZ, InputFormat.TAR_XZ):
            decoded = DecompressStream(
                raw,
                "gzip" if fmt == InputFormat.TAR_GZ else "xz",
                self.budget,
                label=ctx.prov,
                truncated_message="truncated: unexpected end of data",
            )
            # The furthest tar offset the walk can reach before the ratio stop.
            yield from self.walk_tar(
                decoded, ctx, lambda: decoded.produced + self.budget.expansion_room()
            )
            return
        # A plain tar holds no more than the bytes of the (seekable) file it is read from.
        start = raw.tell()
        size = raw.seek(0, io.SEEK_END) - start
        raw.seek(start)
        yield from self.walk_tar(raw, ctx, lambda: size)

    # -- members -----------------------------------------------------------------------------
    def _single_file(
        self, source: Source, size: int, mtime: float | None, fmt: str
    ) -> Iterator[Member]:
        ctx = Ctx("", 1, "", None, ())
        yield from self.emit(
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

    def emit(
        self,
        ctx: Ctx,
        raw_name: str,
        *,
        size: int,
        mtime: float | None,
        source: Source,
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
            logical_path=redact_text(logical),  # classified on the name as stored
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
        if (kind in READ_KINDS or kind == SourceKind.ARCHIVE) and not self._fits(kind, size, prov):
            return
        if kind == SourceKind.ARCHIVE:
            self._yield_count()
            yield member
            yield from self.walk_nested(ctx, member, source)
            return

        peeked: tuple[bytes, Any] | None = None
        counted = False
        sniff = self._wants_content(kind, logical, size, single=provenance is not None)
        if kind in READ_KINDS or sniff:
            if kind in READ_KINDS:
                self.budget.count_member_read(prov)
                counted = True
            head, raw = self._peek(member, source, CONTENT_SNIFF_BYTES if sniff else HEAD_BYTES)
            if raw is not None:
                if not source.reopenable:
                    peeked = (head, raw)
                member.compressed = compression(head, xz_ok) is not None
                if sniff:
                    counted = self._decide_by_content(member, logical, head, xz_ok, counted)
                if not member.compressed:
                    member.kind = refine_kind(member.kind, head)
        cap = member_cap(member.kind, self.limits)
        opener = Opener(self, member, source, cap, peeked, counted, xz_ok)
        member.opener = opener
        self._yield_count()
        try:
            yield member
        finally:
            opener.release()

    def _fits(self, kind: str, size: int, prov: str) -> bool:
        """The declared size is within the kind's cap and the remaining total budget (else
        the member is skipped with a problem)."""
        cap = member_cap(kind, self.limits)
        if size > cap:
            self.budget.problem(
                prov,
                f"skipped: declared size {format_bytes(size)} exceeds "
                f"{cap_name(kind)} {format_bytes(cap)}",
            )
            return False
        remaining = self.budget.remaining_total()
        if remaining == 0:
            raise self.budget.total_exceeded(prov)
        if size > remaining:
            self.budget.problem(
                prov,
                f"skipped: declared size {format_bytes(size)} exceeds the remaining total "
                f"budget {format_bytes(remaining)}",
            )
            return False
        return True

    def _wants_content(self, kind: str, logical: str, size: int, *, single: bool) -> bool:
        """Read the member's head to recognise it: a log kind whose name may be wrong, or a
        file of no known kind (the single input always; in a bundle, a text file outside the
        VM's package and state folders, up to ``MAX_CONTENT_SNIFFS`` of them)."""
        if kind in CONTENT_CHECKED_KINDS:
            return True
        if kind != SourceKind.OTHER or size == 0:
            return False
        if single:
            return True
        if self.content_sniffs >= MAX_CONTENT_SNIFFS or not content_candidate(logical):
            return False
        self.content_sniffs += 1
        return True

    def _decide_by_content(
        self, member: Member, logical: str, head: bytes, xz_ok: bool, counted: bool
    ) -> bool:
        """Set the member's kind (and the extension it belongs to) from its name and head;
        returns whether it is now counted as a member read."""
        plain = head
        if member.compressed:
            plain = inflate_head(head, "xz" if xz_ok and not head.startswith(b"\x1f\x8b")
                                 else "gzip", CONTENT_SNIFF_BYTES, self.limits.xz_memlimit)
        kind, extension = decide_kind(member.kind, logical, plain)
        if kind != member.kind and member.kind == SourceKind.OTHER:
            if not self._fits(kind, member.size, member.provenance):
                return counted
            if not counted and kind in READ_KINDS:
                self.budget.count_member_read(member.provenance)
                counted = True
        member.kind = kind
        member.extension = extension
        return counted

    def _yield_count(self) -> None:
        self.budget.check_running()
        self.yielded += 1

    def _peek(self, member: Member, source: Source, limit: int = HEAD_BYTES) -> tuple[bytes, Any]:
        """First bytes of the raw member; for reopenable sources the handle is closed again
        (a bundle can list thousands of members: keep no file descriptors open)."""
        try:
            raw = source.open_raw()
        except (WalkStopped, BudgetExceeded):
            raise
        except MEMBER_ERRORS as exc:
            self.member_problem(member, describe_read_error(exc))
            return b"", None
        head, error = read_head(raw, limit)
        if error is not None:
            self.member_problem(member, describe_read_error(error))
        if source.reopenable:
            with contextlib.suppress(*LIBRARY_ERRORS):
                raw.close()
        return head, raw
