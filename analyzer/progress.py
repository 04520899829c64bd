"""Progress of a long analysis on a terminal: bytes of logs read, on stderr only.

The scan counts the log bytes it reads (the same chunks the scanner and the bulk matcher
consume) and calls :func:`advance`; nothing is shown unless :func:`enable` was called for a
terminal, so machine-readable output (stdout, files, batch workers, tests) never carries it.
The reader runs in a forked child that inherits stderr, so the child draws the line itself.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL_S = 0.25
_FIRST_AFTER_S = 1.0
"""Short analyses (the common case) finish before any progress line is drawn."""


class Meter:
    def __init__(self, label: str, input_bytes: int, stream: TextIO) -> None:
        self.label = label
        self.input_bytes = input_bytes
        self.stream = stream
        self.read = 0
        self.started = time.monotonic()
        self._next = self.started + _FIRST_AFTER_S
        self.drawn = False

    def advance(self, count: int) -> None:
        self.read += count
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _INTERVAL_S
            self.draw(now)

    def draw(self, now: float) -> None:
        self.stream.write(f"\r{self.line(now - self.started)}\x1b[K")
        self.stream.flush()
        self.drawn = True

    def line(self, elapsed: float) -> str:
        return (f"reading {self.label} ({self.input_bytes / 1048576:.1f} MB): "
                f"{self.read / 1048576:.1f} MB of logs read, {elapsed:.0f} s")

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


_meter: Meter | None = None


def enable(label: str, input_bytes: int, stream: TextIO | None = None) -> None:
    """Show progress on ``stream`` (stderr) when it is a terminal."""
    global _meter
    target = stream if stream is not None else sys.stderr
    if target.isatty():
        _meter = Meter(label, input_bytes, target)


def advance(count: int) -> None:
    if _meter is not None:
        _meter.advance(count)


def finish() -> None:
    global _meter
    if _meter is not None:
        _meter.close()
    _meter = None
