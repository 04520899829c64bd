"""Durations of the rule language: ``"90s"``, ``"30m"``, ``"72h"``, ``"7d"``, ``"1h30m"``.

>>> parse_duration("1h30m")
5400.0
>>> parse_duration("7d") == 7 * 86400
True
>>> format_duration(5400.0)
'1h30m'
"""

from __future__ import annotations

import math
import re

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in ``text``; a bare number is not accepted (the unit is what makes a rule
    readable)."""
    cleaned = text.strip().lower().replace(" ", "")
    if not _WHOLE.fullmatch(cleaned):
        raise DurationError(
            f"not a duration: {text!r} (write a number and a unit: 90s, 30m, 72h, 7d, 1h30m)")
    seconds = sum(float(n) * UNITS[u] for n, u in _PART.findall(cleaned))
    if not math.isfinite(seconds):
        raise DurationError(f"duration {text!r} is too large")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling (``5400`` -> ``1h30m``)."""
    if seconds <= 0:
        return "0s"
    parts = []
    rest = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or f"{seconds:g}s"
