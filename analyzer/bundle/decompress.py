"""Streaming gzip (multi-member) and xz (with a ``memlimit``) decoders, counting their
output for the archive-level expansion-ratio check."""

from __future__ import annotations

import io
import lzma
import zlib
from typing import Any

from analyzer.errors import BudgetExceeded, BundleError

from .budget import Budget, format_bytes
from .inflate import INFLATE_ERRORS, inflate_module
from .names import escape_text
from .read_errors import CorruptData, StreamTruncated
from .streams import CHUNK, Readable

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"


_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10


class _GzipHeader:
    """Consumes one gzip member header (RFC 1952) fed in pieces of any size.

    ISA-L's inflater fails when the optional name/comment fields of the header do not arrive
    in the same call as the fixed part (a long ``FNAME``, read in 256 KiB chunks), zlib does
    not. So we skip the header ourselves, keeping only its 10 fixed bytes (the optional fields
    are never stored, whatever their length), and hand the inflater an equivalent header without
    the optional fields; it still checks the trailer (CRC-32 and size).
    """

    def __init__(self) -> None:
        self.fixed = bytearray()
        self.done = False
        self._crc = 0
        self._steps: list[str] = []
        self._extra_left = -1
        self._extra_len = bytearray()
        self._hcrc = bytearray()

    def replacement(self) -> bytes:
        """The header to give the inflater: the fixed part with no optional field."""
        return bytes(self.fixed[:3]) + b"\x00" + bytes(self.fixed[4:])

    def consume(self, data: bytes) -> tuple[bytes, bool]:
        """Eat header bytes from ``data``; returns the rest and whether the header is one we
        parse (a bad magic, method or reserved flag is left to the inflater to report)."""
        pos = 0
        while not self.done and pos < len(data):
            if len(self.fixed) < 10:
                take = data[pos : pos + 10 - len(self.fixed)]
                self.fixed += take
                self._crc = zlib.crc32(take, self._crc)
                pos += len(take)
                if len(self.fixed) == 10 and not self._plan():
                    return bytes(self.fixed) + data[pos:], False
                continue
            pos = self._step(data, pos)
        return data[pos:], True

    def _plan(self) -> bool:
        if self.fixed[:3] != b"\x1f\x8b\x08" or self.fixed[3] & 0xE0:
            return False
        flags = self.fixed[3]
        steps = [("extra", _FEXTRA), ("name", _FNAME), ("comment", _FCOMMENT), ("hcrc", _FHCRC)]
        self._steps = [name for name, bit in steps if flags & bit]
        self.done = not self._steps
        return True

    def _step(self, data: bytes, pos: int) -> int:
        step = self._steps[0]
        if step == "extra":
            if len(self._extra_len) < 2:
                self._extra_len.append(data[pos])
                self._crc = zlib.crc32(data[pos : pos + 1], self._crc)
                if len(self._extra_len) == 2:
                    self._extra_left = int.from_bytes(self._extra_len, "little")
                    if self._extra_left == 0:
                        self._next()
                return pos + 1
            take = data[pos : pos + self._extra_left]
            self._crc = zlib.crc32(take, self._crc)
            self._extra_left -= len(take)
            if self._extra_left == 0:
                self._next()
            return pos + len(take)
        if step in ("name", "comment"):
            end = data.find(b"\x00", pos)
            stop = len(data) if end < 0 else end + 1
            self._crc = zlib.crc32(data[pos:stop], self._crc)
            if end >= 0:
                self._next()
            return stop
        self._hcrc.append(data[pos])
        if len(self._hcrc) == 2:
            if int.from_bytes(self._hcrc, "little") != self._crc & 0xFFFF:
                raise CorruptData("corrupt: invalid compressed data (header crc mismatch)")
            self._next()
        return pos + 1

    def _next(self) -> None:
        self._steps.pop(0)
        self.done = not self._steps


class _GzipDecoder:
    def __init__(self) -> None:
        # wbits=31: gzip header and trailer (CRC32 + ISIZE) are checked by the inflater itself.
        self._d = inflate_module.decompressobj(wbits=31)
        self._tail = b""
        self._header: _GzipHeader | None = _GzipHeader()

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
        if self._header is not None:
            header = self._header
            data, parsed = header.consume(data)
            if parsed and not header.done:
                return b""  # the header goes on in the next chunk
            if parsed:
                data = header.replacement() + data
            self._header = None
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
        self.produced = 0
        """Decompressed bytes returned so far."""

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
        except INFLATE_ERRORS as exc:
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
            self.produced += len(out)
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
