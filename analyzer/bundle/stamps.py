"""The input's own time stamp: the MTIME field of a gzip header (RFC 1952, bytes 4-7,
little-endian seconds; 0 means "no time stamp").

>>> import gzip, io
>>> header_time(gzip.compress(b"x", mtime=1700000000)).isoformat()
'2023-11-14T22:13:20+00:00'
>>> header_time(gzip.compress(b"x", mtime=0)) is None
True
>>> header_time(b"PK\\x03\\x04") is None
True
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"


def header_time(head: bytes) -> datetime | None:
    if len(head) < 8 or head[:2] != GZIP_MAGIC:
        return None
    seconds = int.from_bytes(head[4:8], "little")
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def input_header_time(path: Path) -> datetime | None:
    """The gzip header time of a regular input file (10 bytes read; anything else: None)."""
    try:
        with open(path, "rb", buffering=0) as handle:
            if not os.path.isfile(path):
                return None
            return header_time(handle.read(10))
    except OSError:
        return None
