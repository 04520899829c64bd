"""A bundle read from standard input (``analyze -``, ``parse -``).

The bytes are held in memory, never written to disk, and counted as they arrive: reading stops
one byte past ``Limits.max_input_bytes`` so an endless pipe costs at most that much memory and
is rejected (exit 3) with the limit in the message. The walker then reads the bytes exactly as
it reads a file (``walk_bytes``), with every other budget.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import BinaryIO

from analyzer.bundle.stamps import header_time
from analyzer.bundle.walker import walk_bytes
from analyzer.errors import InputRejected
from analyzer.pipeline import Analysis, AnalyzeOptions, analyze_members
from analyzer.settings import Limits

__all__ = ["STDIN_NAME", "StdinBundle", "analyze_bytes", "analyze_stdin", "read_stdin"]

STDIN_NAME = "stdin"
_CHUNK = 1024 * 1024


def read_stdin(limits: Limits, stream: BinaryIO | None = None) -> bytes:
    """All of ``stream`` (default: standard input) up to the input limit, or InputRejected."""
    from analyzer.bundle.budget import format_bytes

    source = sys.stdin.buffer if stream is None else stream
    if source.isatty() if hasattr(source, "isatty") else False:
        raise InputRejected(f"{STDIN_NAME}: is a terminal; pipe a bundle in "
                            "(waagent-analyzer analyze - < case.tgz)")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = source.read(min(_CHUNK, limits.max_input_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limits.max_input_bytes:
            raise InputRejected(
                f"{STDIN_NAME}: input is more than the limit "
                f"{format_bytes(limits.max_input_bytes)}; stopped reading"
            )
    if total == 0:
        raise InputRejected(f"{STDIN_NAME}: empty input")
    return b"".join(chunks)


@dataclass(frozen=True)
class StdinBundle:
    """A bundle held in memory: its bytes and the name its members' provenance starts with."""

    data: bytes
    name: str = STDIN_NAME


def analyze_stdin(options: AnalyzeOptions, stream: BinaryIO | None = None) -> Analysis:
    return analyze_bytes(StdinBundle(read_stdin(options.limits, stream)), options)


def analyze_bytes(bundle: StdinBundle, options: AnalyzeOptions) -> Analysis:
    """``analyze_path`` for a bundle in memory: the same walker, budgets and isolation."""
    return analyze_members(
        bundle.name,
        lambda problems: walk_bytes(bundle.data, bundle.name, options.limits, problems),
        options,
        sha256=hashlib.sha256(bundle.data).hexdigest(),
        archive_time=header_time(bundle.data[:10]),
    )
