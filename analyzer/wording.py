"""Numbers said in words for people: durations in the explain output and the engine's details.

>>> within(90)
'within 1 h 30 min'
>>> within(100000000)
'at any later time'
>>> within(2880)
'within 2 days'
"""

from __future__ import annotations

NO_LIMIT_MINUTES = 50 * 365 * 24 * 60
"""Windows this long (rules write 100000000 for "ever after") mean "no time limit"."""


def duration(minutes: float) -> str:
    """``45 s``, ``20 min``, ``1 h 30 min``, ``2 days``."""
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    whole = round(minutes)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    if hours < 48:
        return f"{hours} h" + (f" {rest} min" if rest else "")
    days, hours = divmod(hours, 24)
    return f"{days} days" + (f" {hours} h" if hours else "")


def within(minutes: float) -> str:
    if minutes >= NO_LIMIT_MINUTES:
        return "at any later time"
    return f"within {duration(minutes)}"
