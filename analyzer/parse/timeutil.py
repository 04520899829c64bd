"""Timestamps as the agent and the backup extension write them, turned into aware UTC datetimes.

Old line formats carry the VM's local time without a zone. We read those as UTC unless the
user names the VM's zone, and mark the record ``assumed-utc`` so reports can say so.

>>> parse_iso_z("2024-01-31T10:00:00.123456Z").isoformat()
'2024-01-31T10:00:00.123456+00:00'
>>> parse_slash("2017/06/01 10:00:00.5").isoformat()
'2017-06-01T10:00:00.500000+00:00'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

__all__ = ["UNIX_EPOCH", "UTC", "from_micros", "local_zone", "micros_of", "parse_dash_space",
           "parse_iso_z", "parse_slash", "to_utc"]

_local_zone: tzinfo = UTC

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def local_zone() -> tzinfo:
    return _local_zone


def set_local_zone(zone: tzinfo) -> None:
    """Set the VM's zone used for local-time log formats (``--vm-timezone``)."""
    global _local_zone
    _local_zone = zone
    _parse_seconds.cache_clear()


FIRST_YEAR, LAST_YEAR = 1990, 2199
"""Timestamps outside these years are read as unreadable: no agent wrote them, and dates
near the datetime limits overflow every later computation."""


@lru_cache(maxsize=4096)
def _parse_seconds(
    year: int, month: int, day: int, hour: int, minute: int, second: int, local: bool
) -> datetime | None:
    # Cached because consecutive log lines share the same second far more often than not.
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return None
    try:
        stamp = datetime(
            year, month, day, hour, minute, second, tzinfo=_local_zone if local else UTC
        )
    except ValueError:
        return None
    return stamp.astimezone(UTC) if local and _local_zone is not UTC else stamp


def _fraction(text: str) -> int:
    digits = (text + "000000")[:6]
    return int(digits) if digits.isdigit() else 0


def _build(date: str, time: str, sep: str, local: bool) -> datetime | None:
    try:
        year, month, day = (int(p) for p in date.split(sep))
        hms, _, frac = time.partition(".")
        hour, minute, second = (int(p) for p in hms.split(":"))
    except ValueError:
        return None
    base = _parse_seconds(year, month, day, hour, minute, second, local)
    if base is None:
        return None
    return base.replace(microsecond=_fraction(frac)) if frac else base


def parse_iso_z(text: str) -> datetime | None:
    """``2024-01-31T10:00:00.123456Z`` (agent 2.2.46+)."""
    try:
        stamp = datetime.fromisoformat(text if text.endswith("Z") else text + "Z")
    except ValueError:
        date, _, time = text.rstrip("Z").partition("T")
        return _build(date, time, "-", local=False)
    return stamp if FIRST_YEAR <= stamp.year <= LAST_YEAR else None


def parse_slash(text: str, local: bool = True) -> datetime | None:
    """``2017/06/01 10:00:00[.ffffff]`` (agent <= 2.2.45 and extension-written lines)."""
    date, _, time = text.partition(" ")
    return _build(date, time, "/", local=local)


def parse_dash_space(text: str, local: bool = True) -> datetime | None:
    """``2024-01-14 22:16:48.796446`` (backup extension's Python 3 lines)."""
    date, _, time = text.partition(" ")
    return _build(date, time, "-", local=local)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def ticks_to_datetime(ticks: int) -> datetime | None:
    """.NET ticks (100 ns since 0001-01-01) as used by ``createdOnTicks``."""
    try:
        return datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def iso_utc(ts: datetime | None) -> str:
    """``2024-01-31T10:00:00Z`` (microseconds kept when present), ``""`` for None."""
    if ts is None:
        return ""
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if ts.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return ts.astimezone(UTC).strftime(fmt)


def micros_of(timestamp: datetime) -> int:
    """POSIX microseconds of a timestamp, exactly (a naive one is read as local time, as
    ``datetime.timestamp`` reads it)."""
    if timestamp.tzinfo is None:
        return round(timestamp.timestamp() * 1_000_000)
    return (timestamp - UNIX_EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC time ``micros`` POSIX microseconds stand for (:func:`micros_of` reversed;
    multiplying a microsecond is 4x faster than ``timedelta(microseconds=...)``)."""
    return UNIX_EPOCH + _MICROSECOND * micros
