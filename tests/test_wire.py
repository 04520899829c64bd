"""Messages between our processes: large arrays travel beside the pickle and arrive equal."""

from __future__ import annotations

import os
import struct
import threading
from array import array
from typing import Any

import numpy as np
import pytest

from analyzer.wire import (
    MAX_BUFFERS,
    OUT_OF_BAND_BYTES,
    FrameError,
    filler,
    frame,
    read_frame,
    write_frame,
)


def _through_pipe(message: Any) -> Any:
    """``message`` written by one thread and read by this one, through a real pipe (the
    writer blocks on a full pipe, so partial writes happen)."""
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            write_frame(write_fd, message)
        except BaseException as error:  # pragma: no cover - shown by the assert below
            errors.append(error)
        finally:
            os.close(write_fd)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        found = read_frame(filler(read_fd))
        with pytest.raises(EOFError):  # nothing follows the frame
            read_frame(filler(read_fd))
    finally:
        thread.join()
        os.close(read_fd)
    assert not errors
    return found


def test_a_delta_like_message_arrives_equal() -> None:
    big = array("d", (i / 7 for i in range(200_000)))
    message = {
        "times": big,
        "groups": array("i", range(100_000)),
        "lines": array("q", [1, 2, 3]),
        "numpy": np.arange(300_000, dtype=np.int32),
        "small numpy": np.arange(5, dtype=np.int64),
        "text": "écrit ☃",
    }
    found = _through_pipe(message)
    assert found["times"] == big and found["times"].typecode == "d"
    assert found["groups"] == array("i", range(100_000))
    assert found["lines"] == array("q", [1, 2, 3])
    assert np.array_equal(found["numpy"], message["numpy"])
    assert found["numpy"].dtype == np.int32
    assert np.array_equal(found["small numpy"], message["small numpy"])
    assert found["text"] == "écrit ☃"
    strided = np.arange(400_000, dtype=np.int64)[::3]  # no contiguous buffer to send apart
    fortran = np.asfortranarray(np.arange(120_000, dtype=np.float64).reshape(300, 400))
    again = _through_pipe({"strided": strided, "fortran": fortran, "empty": array("d")})
    assert np.array_equal(again["strided"], strided)
    assert np.array_equal(again["fortran"], fortran)
    assert again["empty"] == array("d")
    found["times"].append(1.0)  # an ordinary array again, that grows
    assert len(found["times"]) == 200_001


def test_only_large_buffers_leave_the_pickle() -> None:
    large = array("d", bytes(OUT_OF_BAND_BYTES))
    small = array("d", bytes(OUT_OF_BAND_BYTES - 8))
    parts = frame({"large": large, "small": small})
    size, count = struct.unpack("!QI", parts[0][:12])
    assert count == 1
    assert len(parts) == 3 and parts[2].nbytes == OUT_OF_BAND_BYTES
    assert size < OUT_OF_BAND_BYTES * 2  # the small one is inside, the large one is not


def test_many_buffers_are_written_past_the_writev_limit() -> None:
    arrays = [array("B", bytes([i % 256])) * OUT_OF_BAND_BYTES for i in range(1100)]
    found = _through_pipe(arrays[:1100:100] + arrays)
    assert [a[0] for a in found[11:]] == [i % 256 for i in range(1100)]


def _reader_of(data: bytes) -> Any:
    view = memoryview(data)

    def fill(target: memoryview) -> None:
        nonlocal view
        if view.nbytes < target.nbytes:
            raise EOFError
        target[:] = view[:target.nbytes]
        view = view[target.nbytes:]

    return fill


def test_frames_out_of_bounds_are_refused_before_allocating() -> None:
    with pytest.raises(FrameError):
        read_frame(_reader_of(struct.pack("!QI", 1 << 40, 0)))
    with pytest.raises(FrameError):
        read_frame(_reader_of(struct.pack("!QI", 10, MAX_BUFFERS + 1)))
    with pytest.raises(FrameError):  # the buffers' sizes count too
        read_frame(_reader_of(struct.pack("!QI", 10, 1) + struct.pack("!Qc", 1 << 40, b"d")))


def test_a_frame_cut_short_is_the_end_of_the_stream() -> None:
    whole = b"".join(bytes(part) for part in frame(array("d", range(20_000))))
    assert read_frame(_reader_of(whole)) == array("d", range(20_000))
    with pytest.raises(EOFError):
        read_frame(_reader_of(whole[:-1]))
