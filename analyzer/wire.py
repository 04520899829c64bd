"""Pickled messages between our own processes, large arrays sent beside the pickle.

A member's delta holds arrays of tens of MB (sequence starts and ends, counters' times), and a
planner's result a chunk's row arrays. Pickled the plain way, each array is copied into the
pickle, the pickle through the pipe in pieces, the pieces into one buffer and the bytes back
into an array. Here the pickle (protocol 5) leaves every buffer of at least
:data:`OUT_OF_BAND_BYTES` out, and they are written from the arrays' own memory
(``os.writev``) and read into buffers of their final size: one copy into the kernel and one
out of it.

A frame: ``!QI`` (pickle bytes, buffer count), one ``!Qc`` per buffer (its size and the
array type code of its items, ``B`` for any other), the pickle, the buffers. The reader
checks the sizes before allocating anything: a frame over :data:`MAX_MESSAGE_BYTES` or
:data:`MAX_BUFFERS` is refused (:class:`FrameError`). An ``array.array``'s buffer is read
straight into the array the message will hold (its type code says which): a member's delta
is copied once on arrival, not into a buffer and then into its array (a hit-heavy bundle's
parent wrote 30 MB of arrays twice, each into fresh pages).
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import struct
from array import array
from collections.abc import Callable
from typing import Any

_FRAME = struct.Struct("!QI")
_ENTRY = struct.Struct("!Qc")
"""A buffer's size, and its array type code (``B``: bytes, for any other buffer)."""
_TYPECODES = frozenset("bBhHiIlLqQfd")
OUT_OF_BAND_BYTES = 64 << 10
"""Smaller buffers stay inside the pickle (an out-of-band one costs a length and an iovec)."""
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
MAX_BUFFERS = 1 << 16
_WRITEV_PARTS = 512
"""Parts handed to one ``os.writev`` (the kernel's limit is 1024)."""


class FrameError(ValueError):
    """A frame whose sizes are out of bounds."""


def _array_from(typecode: str, data: Any) -> array:
    if type(data) is array and data.typecode == typecode:
        return data  # read into its final array already (:func:`_buffer_for`)
    values = array(typecode)
    values.frombytes(data)
    return values


def _reduce_array(values: array) -> tuple[Any, ...]:
    # array.array has no protocol-5 reduction of its own: its buffer becomes a PickleBuffer.
    return _array_from, (values.typecode, pickle.PickleBuffer(values))


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[array] = _reduce_array


def frame(message: Any) -> list[Any]:
    """The parts of ``message``'s frame, in order (buffers are views of its arrays: write
    them before changing those)."""
    buffers: list[memoryview] = []
    codes: list[bytes] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < OUT_OF_BAND_BYTES:
            return True  # in the pickle
        buffers.append(view)
        # The buffer's item format: an array.array's type code (a numpy array's is one too,
        # or longer: numpy reads its data from any buffer).
        code = memoryview(buffer).format
        codes.append(code.encode() if code in _TYPECODES else b"B")
        return False

    stream = io.BytesIO()
    pickler = pickle.Pickler(stream, protocol=5, buffer_callback=out_of_band)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(message)
    pickled = stream.getbuffer()
    head = _FRAME.pack(pickled.nbytes, len(buffers)) + b"".join(
        _ENTRY.pack(view.nbytes, code) for view, code in zip(buffers, codes, strict=True))
    return [head, pickled, *buffers]


def write_frame(fd: int, message: Any) -> None:
    """``message`` framed, all of it, to a pipe."""
    write_parts(fd, frame(message))


def write_parts(fd: int, parts: list[Any]) -> None:
    """Every byte of ``parts`` to ``fd`` in order (``os.writev`` may take only some)."""
    views = [memoryview(part).cast("B") for part in parts if len(part)]
    while views:
        written = os.writev(fd, views[:_WRITEV_PARTS])
        while views and written >= views[0].nbytes:
            written -= views[0].nbytes
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def read_frame(fill: Callable[[memoryview], None]) -> Any:
    """The next message; ``fill(view)`` fills ``view`` whole or raises (``EOFError`` at the
    end of the stream)."""
    head = bytearray(_FRAME.size)
    fill(memoryview(head))
    size, count = _FRAME.unpack(head)
    if count > MAX_BUFFERS or size > MAX_MESSAGE_BYTES:
        raise FrameError(f"frame of {size} bytes and {count} buffers")
    entries = bytearray(_ENTRY.size * count)
    fill(memoryview(entries))
    found = list(_ENTRY.iter_unpack(entries))
    total = size + sum(length for length, _ in found)
    if total > MAX_MESSAGE_BYTES:
        raise FrameError(f"frame of {total} bytes")
    pickled = bytearray(size)
    fill(memoryview(pickled))
    buffers = [_buffer_for(length, code) for length, code in found]
    for buffer in buffers:
        fill(memoryview(buffer).cast("B"))
    return pickle.loads(pickled, buffers=buffers)


def _buffer_for(length: int, code: bytes) -> array | bytearray:
    """Where a buffer of ``length`` bytes is read: the array its type code names (of that
    many bytes), or plain bytes."""
    typecode = code.decode("latin-1")
    if typecode in _TYPECODES and typecode != "B":
        size = array(typecode).itemsize
        if length % size == 0:
            return array(typecode, [0]) * (length // size)
    return bytearray(length)


def filler(fd: int, readable: Callable[[], bool] | None = None
           ) -> Callable[[memoryview], None]:
    """A ``fill`` for :func:`read_frame` over ``fd``: it reads until the view is full, and
    raises ``EOFError`` at the end of the stream. ``readable()``, when given, is asked
    before each read (it waits, raises to stop, or says there is nothing yet)."""

    def fill(view: memoryview) -> None:
        while view.nbytes:
            if readable is not None and not readable():
                continue
            got = os.readv(fd, [view])
            if not got:
                raise EOFError
            view = view[got:]

    return fill
