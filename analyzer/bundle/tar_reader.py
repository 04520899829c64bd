"""Reading a tar stream (``r|``: one pass, never seeking back) member by member."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from typing import Any, Self, cast

from analyzer.errors import BudgetExceeded, BundleError

from . import names
from .budget import WalkStopped, format_bytes
from .model import PROVENANCE_SEPARATOR, Member
from .read_errors import CorruptData, StreamTruncated, describe_read_error
from .sources import Source
from .streams import CHUNK
from .walk_base import MEMBER_ERRORS, ArchiveError, Ctx, WalkerBase, corrupt


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


class TarSource(Source):
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



class TarReading(WalkerBase):
    """The tar part of the walker."""

    def walk_tar(self, stream: Any, ctx: Ctx, reachable: Callable[[], int]) -> Iterator[Member]:
        """Yield the members of the tar ``stream``. ``reachable()`` is the furthest offset the
        stream can still deliver: tarfile skips to the next header by *reading*, so a member
        whose declared size goes past it ends this archive with a problem instead."""
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
                # tarfile reads its stream in pieces of ``bufsize`` (10 KiB by default):
                # each was one inflate call, which copied the compressed input it had left.
                bufsize=CHUNK,
                tarinfo=_RecordingTarInfo,
                encoding="utf-8",
                errors="surrogateescape",
            )
        except (WalkStopped, BudgetExceeded):
            raise
        except StreamTruncated as exc:
            raise ArchiveError(str(exc)) from None
        except MEMBER_ERRORS as exc:
            raise ArchiveError(corrupt("corrupt archive", exc)) from None

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
                    raise ArchiveError(corrupt("corrupt archive", exc)) from None
                except MEMBER_ERRORS as exc:
                    raise ArchiveError(corrupt("corrupt archive", exc)) from None
                if info is None:
                    self._tar_end(ctx, last, header_errors)
                    if not header_errors or type(header_errors[-1]).__name__ == "EOFHeaderError":
                        self._check_trailing(ctx, tf, stream)
                    return
                # tarfile keeps every TarInfo even in stream mode; we need none of them.
                cast(Any, tf).members.clear()
                self.budget.count_entry(ctx.prov)
                last = info.name
                # Decided before the member is read: its data is read as far as it goes,
                # then this archive ends (no header can follow a lie about the size).
                lie = tf.offset > reachable()
                if lie:
                    self._claim_too_big(ctx, info)
                source = TarSource(tf, info)
                try:
                    yield from self._tar_member(ctx, info, source)
                finally:
                    source.invalidate()
                if lie:
                    return
                cut_reported = cut_reported or source.cut
        finally:
            # Closes tarfile's stream wrapper only; our file object stays with its owner.
            tf.close()

    def _claim_too_big(self, ctx: Ctx, info: tarfile.TarInfo) -> None:
        prov = f"{ctx.prov}{PROVENANCE_SEPARATOR}{names.display_name(info.name)}"
        self.budget.problem(
            prov,
            f"truncated: declared size {format_bytes(info.size)} is more than the rest of the "
            "archive can hold; stopped reading this archive",
        )

    def _check_trailing(self, ctx: Ctx, tf: tarfile.TarFile, stream: Any) -> None:
        """Data after the end marker (a second tar appended to the first) is not read; say so
        rather than drop it silently. Looks at most 64 KiB further."""
        buffered = bytes(getattr(getattr(tf, "fileobj", None), "buf", b"") or b"")
        ignored: tuple[type[BaseException], ...] = (WalkStopped, BudgetExceeded, *MEMBER_ERRORS)
        try:
            more = stream.read(65536)
        except ignored:
            more = b""
        if (buffered + (more or b"")).strip(b"\0"):
            self.budget.problem(ctx.prov, "trailing data after the end of the archive (ignored)")

    def _tar_cut(self, ctx: Ctx, last: str | None, message: str) -> None:
        if last is None:
            raise ArchiveError(message)
        self.budget.problem(ctx.prov, f"{message} after {names.display_name(last)}")

    def _tar_end(self, ctx: Ctx, last: str | None, errors: list[BaseException]) -> None:
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
            raise ArchiveError(message)
        self.budget.problem(ctx.prov, message)

    def _tar_member(self, ctx: Ctx, info: tarfile.TarInfo, source: TarSource) -> Iterator[Member]:
        prov = f"{ctx.prov}{PROVENANCE_SEPARATOR}{names.display_name(info.name)}"
        skip = _tar_skip_reason(info)
        if skip is not None:
            if skip:
                self.budget.problem(prov, skip)
            return
        yield from self.emit(
            ctx, info.name, size=info.size, mtime=float(info.mtime), source=source
        )
        if source.member is not None:
            self._drain(source.member, source)

    def _drain(self, member: Member, source: TarSource) -> None:
        """Consume what the loop body left unread, so a cut in this member's data is
        reported against this member (tarfile would otherwise skip it silently)."""
        try:
            source.drain()
        except (WalkStopped, BudgetExceeded):
            raise
        except MEMBER_ERRORS as exc:
            self.member_problem(member, describe_read_error(exc))
            source.cut = True


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
