"""Byte-counting streams: the single place where the bundle's byte budgets are enforced on
data actually read.

* ``CountingReader`` counts raw input bytes; ``ExpansionCounter`` counts bytes out of a decoder
  we do not own; ``Prefixed`` replays a peeked head.
* ``BoundedReader`` is the file object ``Member.open()`` returns: it stops at a per-member cap
  and at the global budget, and turns read errors of the layers below (truncated gzip, tar cut
  short, zip CRC mismatch) into a recorded problem plus end-of-file, so the readable prefix is
  never lost.

>>> import gzip, io
>>> from .decompress import DecompressStream
>>> problems = []
>>> budget = Budget(Limits(), problems, root="x")
>>> raw = DecompressStream(io.BytesIO(gzip.compress(b"a" * 100)), "gzip", budget, label="x")
>>> reader = BoundedReader(raw, 10, budget, "x")
>>> reader.read()
b'aaaaaaaaaa'
>>> [p.message for p in problems]
['truncated: decompressed size exceeds per-member limit 10 B']
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any, Protocol

from analyzer.errors import BudgetExceeded, BundleError
from analyzer.settings import Limits  # noqa: F401  (used by the doctest)

from .budget import Budget, format_bytes
from .read_errors import READ_ERRORS, CorruptData, StreamTruncated, describe_read_error

CHUNK = 256 * 1024
"""Read size used towards lower layers."""


class Readable(Protocol):
    """The one method the readers need from the layer below."""

    def read(self, size: int = -1, /) -> bytes: ...



class CountingReader(io.RawIOBase):
    """Counts raw input bytes into ``budget.bytes_in``; passes ``seek``/``tell`` through so a
    zip input can be read in place."""

    def __init__(self, raw: Any, budget: Budget) -> None:
        super().__init__()
        self._raw = raw
        self._budget = budget

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self._raw.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._raw.read(size)
        self._budget.add_in(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class ExpansionCounter:
    """Counts bytes coming out of a decoder we do not own (zip DEFLATE) as expansion."""

    def __init__(self, raw: Any, budget: Budget, label: str) -> None:
        self._raw = raw
        self._budget = budget
        self._label = label

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._raw.read(size)
        self._budget.add_expanded(len(data), self._label)
        return data

    def close(self) -> None:
        self._raw.close()


class Prefixed:
    """Serves already-read ``head`` bytes, then the rest of ``raw``.

    The walker peeks at the first bytes of a member (gzip magic, goal-state placeholder)
    before yielding it; a streamed tar member cannot be rewound, so the head is replayed.
    """

    def __init__(self, head: bytes, raw: Any) -> None:
        self._head = head
        self._raw = raw

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
            else:
                data, self._head = self._head[:size], self._head[size:]
            return data
        result: bytes = self._raw.read(size)
        return result

    def close(self) -> None:
        self._head = b""
        self._raw.close()


def read_up_to(raw: Readable, count: int) -> bytes:
    """Read until ``count`` bytes or end of data (lower layers may return short reads)."""
    parts: list[bytes] = []
    got = 0
    while got < count:
        data = raw.read(count - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


class BoundedReader(io.BufferedIOBase):
    """Byte-counting, capped, buffered reader over one member's (decompressed) data.

    ``BoundedReader(raw, cap, budget, label)``:

    * at most ``cap`` bytes are delivered. If the member has more, the prefix is delivered,
      the problem ``truncated: decompressed size exceeds per-member limit ...`` is recorded and
      the *next* read raises ``BudgetExceeded`` (the prefix is never lost inside a read call);
    * bytes delivered count against ``budget`` (``max_total_bytes``); past it the walk stops
      (``WalkStopped``, also raised only once the data read so far has been returned);
    * truncation / corruption errors of the layers below are recorded as a problem for
      ``label`` and end the stream (EOF), keeping every byte decoded before them.

    ``on_problem`` receives each recorded message as well (the walker copies it into
    ``Member.problems``).
    """

    def __init__(
        self,
        raw: Readable,
        cap: int,
        budget: Budget,
        label: str,
        *,
        cap_message: str | None = None,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._cap = cap
        self._budget = budget
        self._label = label
        self._cap_message = cap_message or (
            f"truncated: decompressed size exceeds per-member limit {format_bytes(cap)}"
        )
        self._on_problem = on_problem
        self._buf = b""
        self._pos = 0
        self._count = 0
        self._eof = False
        self._deferred: BundleError | None = None

    # -- io plumbing -----------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    @property
    def bytes_read(self) -> int:
        """Bytes delivered so far (pulled from the layer below)."""
        return self._count

    def _record(self, message: str) -> None:
        self._budget.problem(self._label, message)
        if self._on_problem is not None:
            self._on_problem(message)

    def _fill(self) -> bool:
        """Pull one chunk from below into the buffer; False at end of data."""
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        if self._eof:
            return False
        self._budget.check_running()
        room = self._cap - self._count
        total_room = self._budget.remaining_total()
        # At a limit, read one byte to learn whether more data exists.
        want = max(1, min(CHUNK, room, total_room))
        try:
            data = self._raw.read(want)
        except BudgetExceeded:
            self._eof = True
            raise
        except BundleError as exc:
            if not isinstance(exc, (StreamTruncated, CorruptData)):
                self._eof = True
                raise
            self._record(describe_read_error(exc))
            self._eof = True
            return False
        except READ_ERRORS as exc:
            self._record(describe_read_error(exc))
            self._eof = True
            return False
        if not data:
            self._eof = True
            return False
        if room <= 0:
            self._eof = True
            self._record(self._cap_message)
            raise BudgetExceeded(f"{self._label}: {self._cap_message}")
        if total_room <= 0:
            self._eof = True
            raise self._budget.total_exceeded(self._label)
        self._count += len(data)
        self._budget.add_out(len(data))
        self._buf = data if self._pos >= len(self._buf) else self._buf[self._pos :] + data
        self._pos = 0
        return True

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _take(self, count: int) -> bytes:
        data = self._buf[self._pos : self._pos + count]
        self._pos += len(data)
        return data

    def _fill_or_defer(self, have_data: bool) -> bool:
        """``_fill`` that, when data was already gathered for this call, postpones an error
        to the next call instead of losing that data."""
        try:
            return self._fill()
        except BundleError as exc:
            if have_data:
                self._deferred = exc
                return False
            raise

    # -- public reading API ------------------------------------------------------------------
    def read(self, size: int | None = -1, /) -> bytes:
        if size is None or size < 0:
            parts: list[bytes] = []
            while True:
                if self._available() == 0 and not self._fill_or_defer(bool(parts)):
                    break
                parts.append(self._take(self._available()))
            return b"".join(parts)
        parts = []
        got = 0
        while got < size:
            if self._available() == 0 and not self._fill_or_defer(got > 0):
                break
            piece = self._take(size - got)
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def read1(self, size: int = -1, /) -> bytes:
        if self._available() == 0 and not self._fill():
            return b""
        return self._take(self._available() if size < 0 else size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readinto1(self, buffer: Any) -> int:
        data = self.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def peek(self, size: int = 0, /) -> bytes:
        if self._available() == 0:
            self._fill()
        return self._buf[self._pos :]

    def readline(self, size: int | None = -1, /) -> bytes:
        limit = -1 if size is None else size
        parts: list[bytes] = []
        got = 0
        while limit < 0 or got < limit:
            if self._available() == 0 and not self._fill_or_defer(got > 0):
                break
            end = self._buf.find(b"\n", self._pos)
            stop = len(self._buf) if end < 0 else end + 1
            if limit >= 0:
                stop = min(stop, self._pos + (limit - got))
            piece = self._buf[self._pos : stop]
            self._pos = stop
            parts.append(piece)
            got += len(piece)
            if piece.endswith(b"\n"):
                break
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._buf = b""
            close = getattr(self._raw, "close", None)
            if close is not None:
                with contextlib.suppress(*READ_ERRORS):
                    close()
        super().close()
