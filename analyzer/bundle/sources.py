"""Where a member's bytes come from (a file, memory) and the opener that turns them into the
bounded, decompressed stream ``Member.open()`` returns."""

from __future__ import annotations

import io
import os
import stat
from typing import Any, BinaryIO, cast

from analyzer.errors import BudgetExceeded, BundleError
from analyzer.safe_open import UnsafePath, open_under

from .budget import Budget, WalkStopped, format_bytes
from .classify import cap_name
from .decompress import GZIP_MAGIC, XZ_MAGIC, DecompressStream
from .model import Member
from .read_errors import CorruptData, StreamTruncated, describe_read_error
from .streams import BoundedReader, CountingReader, Prefixed
from .walk_base import LIBRARY_ERRORS, MEMBER_ERRORS, WalkerBase, add_member_problem

HEAD_BYTES = 512
"""Bytes peeked from each parsed member before it is yielded (gzip magic, placeholder)."""


class Source:
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


class FileSource(Source):
    """A regular file on disk: the single-file input (``path``), or a member of a directory or
    live root (``root`` + ``relpath``, opened through ``safe_open`` so that no link on the way
    is followed, even one swapped in after the listing)."""

    def __init__(
        self, path: str, budget: Budget, *, follow: bool = False, relpath: str | None = None
    ) -> None:
        self._path = path
        self._budget = budget
        self._follow = follow
        self._relpath = relpath

    def open_raw(self) -> Any:
        if self._relpath is not None:
            try:
                fd = open_under(self._path, self._relpath)
            except UnsafePath as exc:
                raise CorruptData(f"skipped: {exc.strerror}") from None
        else:
            # Only the input path the user typed may itself be a link.
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


class BytesSource(Source):
    def __init__(self, data: bytes, budget: Budget) -> None:
        self._data = data
        self._budget = budget

    def open_raw(self) -> Any:
        return CountingReader(io.BytesIO(self._data), self._budget)



class Opener:
    """``Member.opener``: builds the bounded (and gunzipped) stream on demand."""

    def __init__(
        self,
        walker: WalkerBase,
        member: Member,
        source: Source,
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
            except MEMBER_ERRORS as exc:
                message = describe_read_error(exc)
                self._walker.member_problem(member, message)
                raise BundleError(f"{member.provenance}: {message}") from None
            # A read error here is raised again by the layer below on the next read, where
            # the BoundedReader records it after delivering the head.
            head, _error = read_head(raw)
        stream: Any = Prefixed(head, raw)
        # Decided by magic, not by name: a ".gz" that is not gzip is read as it is.
        fmt = compression(head, self._xz_ok)
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
            on_problem=lambda message: add_member_problem(member, message),
        )
        return cast(BinaryIO, reader)



def read_head(raw: Any, limit: int = HEAD_BYTES) -> tuple[bytes, BaseException | None]:
    """Up to ``limit`` bytes from ``raw``, keeping what was read before an error.

    The layers below raise data errors again on the next read (tar and decompression errors
    are sticky, a CRC mismatch repeats at end of data), so the error is not lost either.
    """
    parts: list[bytes] = []
    got = 0
    try:
        while got < limit:
            data = raw.read(limit - got)
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
    except LIBRARY_ERRORS as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def compression(head: bytes, xz_ok: bool) -> str | None:
    """gzip members are decompressed anywhere; xz only for a single xz-compressed input."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if xz_ok and head.startswith(XZ_MAGIC):
        return "xz"
    return None
