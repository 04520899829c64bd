"""Byte-counting readers: the single place where the bundle's byte budgets are enforced.

* ``Budget`` is shared by the whole walk (all nesting levels). It counts raw input bytes,
  decompressed bytes, delivered member bytes, entries and members read, and records problems
  (deduplicated) into the caller's list.
* ``BoundedReader`` is the file object ``Member.open()`` returns: it stops at a per-member cap
  and at the global budget, and turns read errors of the layers below (truncated gzip, tar cut
  short, zip CRC mismatch) into a recorded problem plus end-of-file, so the readable prefix is
  never lost.
* ``DecompressStream`` decodes gzip (multi-member) or xz (with a ``memlimit``) as a stream,
  counting its output for the archive-level expansion-ratio check.

>>> import gzip, io
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
import lzma
import tarfile
import types
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from analyzer.errors import BudgetExceeded, BundleError, Problem
from analyzer.settings import Limits

from .names import escape_text

_inflate_module: types.ModuleType
_INFLATE_ERRORS: tuple[type[BaseException], ...]
try:  # ISA-L inflates about twice as fast as zlib: the biggest single cost of a big bundle.
    from isal import isal_zlib as _inflate_module

    _INFLATE_ERRORS = (zlib.error, _inflate_module.error)
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _inflate_module = zlib
    _INFLATE_ERRORS = (zlib.error,)


CHUNK = 256 * 1024
"""Read size used towards lower layers."""


class Readable(Protocol):
    """The one method the readers need from the layer below."""

    def read(self, size: int = -1, /) -> bytes: ...


class WalkStopped(BudgetExceeded):
    """A bundle-wide budget was hit: the walk stops (the problem is already recorded)."""


class StreamTruncated(BundleError):
    """The data ended before the format said it would (message is the problem text)."""


class CorruptData(BundleError):
    """The data cannot be decoded further (message is the problem text)."""


def format_bytes(count: int) -> str:
    """Human-readable byte count.

    >>> format_bytes(1000), format_bytes(256 * 1024 * 1024), format_bytes(1536)
    ('1000 B', '256 MiB', '1.5 KiB')
    """
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    raise AssertionError("unreachable")


class Budget:
    """Counters shared by every reader of one walk.

    Bytes are counted where they are produced, never taken from headers:

    * ``bytes_in``: raw bytes read from the input (file, directory files, ``walk_bytes`` data);
    * ``expanded``: bytes produced by any decompressor (outer tar.gz/xz stream, gzip members,
      deflated zip entries); ``expanded / bytes_in`` is the archive-level expansion ratio;
    * ``total_out``: member bytes delivered to consumers or spooled for nested archives
      (``max_total_bytes``).
    """

    def __init__(self, limits: Limits, problems: list[Problem], root: str) -> None:
        self.limits = limits
        self.problems = problems
        self.root = root
        self.bytes_in = 0
        self.expanded = 0
        self.total_out = 0
        self.entries = 0
        self.members_read = 0
        self.stop_reason: str | None = None
        self._recorded: set[tuple[str, str]] = set()

    # -- problems ------------------------------------------------------------------------
    def problem(self, member: str, message: str) -> bool:
        """Record a problem once; returns False when the same one was already recorded."""
        key = (member, message)
        if key in self._recorded:
            return False
        self._recorded.add(key)
        self.problems.append(Problem(member, message))
        return True

    def stop(self, member: str, message: str) -> WalkStopped:
        """Record a bundle-wide stop and return the exception to raise."""
        if self.stop_reason is None:
            self.stop_reason = message
            self.problem(member, message)
        return WalkStopped(f"{member}: {self.stop_reason}")

    def check_running(self) -> None:
        if self.stop_reason is not None:
            raise WalkStopped(f"{self.root}: {self.stop_reason}")

    # -- counters ------------------------------------------------------------------------
    def count_entry(self, where: str) -> None:
        """One more archive header / zip entry / directory entry looked at."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise self.stop(where, f"stopped: more than {self.limits.max_entries} entries")

    def count_entries(self, count: int) -> None:
        self.entries += count

    def remaining_entries(self) -> int:
        return max(self.limits.max_entries - self.entries, 0)

    def count_member_read(self, where: str) -> None:
        """One more member whose content is read."""
        self.check_running()
        self.members_read += 1
        if self.members_read > self.limits.max_members_read:
            raise self.stop(
                where, f"stopped: more than {self.limits.max_members_read} members read"
            )

    def add_in(self, count: int) -> None:
        self.bytes_in += count

    def add_expanded(self, count: int, where: str) -> None:
        self.expanded += count
        limits = self.limits
        if self.expanded > limits.ratio_floor_bytes and self.expanded > limits.ratio_limit * max(
            self.bytes_in, 1
        ):
            raise self.stop(
                where,
                "stopped: possible decompression bomb "
                f"({format_bytes(self.expanded)} from {format_bytes(self.bytes_in)} of input, "
                f"ratio limit {limits.ratio_limit}:1)",
            )

    def remaining_total(self) -> int:
        return max(self.limits.max_total_bytes - self.total_out, 0)

    def add_out(self, count: int) -> None:
        self.total_out += count

    def total_exceeded(self, where: str) -> WalkStopped:
        return self.stop(
            where,
            f"stopped: total decompressed bytes reached the limit "
            f"{format_bytes(self.limits.max_total_bytes)}",
        )

    def check_depth(self, level: int, where: str) -> bool:
        """True when an archive at nesting ``level`` (input = 1) may be opened."""
        if level > self.limits.max_depth:
            self.problem(
                where, f"skipped: nested archive depth {level} exceeds {self.limits.max_depth}"
            )
            return False
        return True


def describe_read_error(exc: BaseException) -> str:
    """Problem text for an error raised while reading member data (library messages are
    escaped: they may quote member names)."""
    if isinstance(exc, (StreamTruncated, CorruptData)):
        return str(exc)
    if isinstance(exc, EOFError):
        return "truncated: unexpected end of data"
    if isinstance(exc, tarfile.ReadError):
        text = str(exc)
        if "unexpected end" in text:
            return "truncated: unexpected end of data"
        return f"corrupt: {escape_text(text)}"
    if isinstance(exc, zipfile.BadZipFile):
        text = str(exc)
        if "CRC" in text:
            return "corrupt: CRC mismatch"
        return f"corrupt: {escape_text(text)}"
    if isinstance(exc, _INFLATE_ERRORS):
        return f"corrupt: invalid compressed data ({escape_text(str(exc))})"
    if isinstance(exc, lzma.LZMAError):
        return f"corrupt: invalid xz data ({escape_text(str(exc))})"
    if isinstance(exc, OSError):
        return f"read error: {escape_text(exc.strerror or str(exc))}"
    return f"read error: {type(exc).__name__}: {escape_text(str(exc))}"


READ_ERRORS: tuple[type[BaseException], ...] = (
    StreamTruncated,
    CorruptData,
    EOFError,
    tarfile.TarError,
    zipfile.BadZipFile,
    *_INFLATE_ERRORS,
    lzma.LZMAError,
    OSError,
    # Library parsers have raised these on hostile input (struct/int decoding, bad names).
    ValueError,
    NotImplementedError,
    RuntimeError,
)
"""Errors of the layers below a member stream that mean "this member's data ends here"."""


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


# --------------------------------------------------------------------------------------
# Streaming decompression
# --------------------------------------------------------------------------------------

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"


class _GzipDecoder:
    def __init__(self) -> None:
        # wbits=31: gzip header and trailer (CRC32 + ISIZE) are checked by the inflater itself.
        self._d = _inflate_module.decompressobj(wbits=31)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def unused_data(self) -> bytes:
        return bytes(self._d.unused_data)

    def feed(self, data: bytes, max_out: int) -> bytes:
        out = self._d.decompress(self._tail + data if self._tail else data, max_out)
        self._tail = self._d.unconsumed_tail
        return out


class _XzDecoder:
    def __init__(self, memlimit: int) -> None:
        self._d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=memlimit)

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def needs_input(self) -> bool:
        return bool(self._d.needs_input)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._d.unused_data)

    def feed(self, data: bytes, max_out: int) -> bytes:
        return self._d.decompress(data, max_out)


class DecompressStream(io.RawIOBase):
    """Streaming gzip or xz decoder over ``raw`` (no seeking, bounded output per read).

    * multi-member gzip / multi-stream xz are read to the end; zero padding after the last
      member is accepted, anything else raises ``CorruptData("corrupt: trailing garbage ...")``;
    * input ending mid-stream raises ``StreamTruncated(truncated_message)`` *after* every byte
      that could be decoded has been returned, and keeps raising on later reads;
    * xz uses ``LZMADecompressor(memlimit=...)``: a header asking for a bigger dictionary
      raises ``BudgetExceeded`` instead of allocating it;
    * every output byte is counted with ``budget.add_expanded`` (expansion-ratio check).
    """

    def __init__(
        self,
        raw: Readable,
        fmt: str,
        budget: Budget,
        *,
        label: str,
        truncated_message: str = "truncated: unexpected end of compressed data",
    ) -> None:
        super().__init__()
        if fmt not in ("gzip", "xz"):
            raise ValueError(f"unsupported stream format {fmt!r}")
        self._raw = raw
        self._fmt = fmt
        self._budget = budget
        self._label = label
        self._truncated_message = truncated_message
        self._magic = GZIP_MAGIC if fmt == "gzip" else XZ_MAGIC
        self._dec: _GzipDecoder | _XzDecoder = self._new_decoder()
        self._pending = b""
        self._started = False
        self._done = False
        self._error: BundleError | None = None

    def _new_decoder(self) -> _GzipDecoder | _XzDecoder:
        if self._fmt == "gzip":
            return _GzipDecoder()
        return _XzDecoder(self._budget.limits.xz_memlimit)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if size == 0:
            return b""
        if self._error is not None:
            raise self._error
        try:
            out = self._read_some(size)
        except BudgetExceeded:
            raise
        except BundleError as exc:
            self._error = exc
            raise
        except _INFLATE_ERRORS as exc:
            self._error = CorruptData(f"corrupt: invalid compressed data ({escape_text(str(exc))})")
            raise self._error from None
        except lzma.LZMAError as exc:
            text = str(exc)
            if "memory" in text.lower():
                limit = format_bytes(self._budget.limits.xz_memlimit)
                raise BudgetExceeded(f"xz memory requirement exceeds limit {limit}") from None
            self._error = CorruptData(f"corrupt: invalid xz data ({escape_text(text)})")
            raise self._error from None
        if out:
            self._budget.add_expanded(len(out), self._label)
        return out

    def _read_some(self, size: int) -> bytes:
        while True:
            if self._done:
                return b""
            if self._dec.eof:
                if not self._next_member():
                    self._done = True
                    return b""
                continue
            if self._pending:
                data, self._pending = self._pending, b""
            elif self._dec.needs_input:
                data = self._raw.read(CHUNK)
                if not data:
                    # Flush what the decoder still holds, then report the cut.
                    out = self._dec.feed(b"", size)
                    if out:
                        return out
                    raise StreamTruncated(self._truncated_message)
            else:
                data = b""
            self._started = True
            out = self._dec.feed(data, size)
            if out:
                return out

    def _next_member(self) -> bool:
        """After one member ended: start the next one, accept zero padding, or fail."""
        rest = self._dec.unused_data
        while len(rest) < len(self._magic):
            more = self._raw.read(CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            return False
        if rest.startswith(self._magic):
            self._dec = self._new_decoder()
            self._pending = rest
            return True
        while True:
            if rest.strip(b"\x00"):
                raise CorruptData("corrupt: trailing garbage after compressed data")
            rest = self._raw.read(CHUNK)
            if not rest:
                return False

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._raw, "close", None)
            if close is not None:
                close()
        super().close()


# --------------------------------------------------------------------------------------
# The member stream handed to consumers
# --------------------------------------------------------------------------------------


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
