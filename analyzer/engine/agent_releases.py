"""When each Linux guest agent release came out, to judge a version against the log's era.

``agent_releases.csv`` holds the commit date of every release tag of Azure/WALinuxAgent (see its
header for the command that made it). A version is *superseded* on the day the first newer
release came out; how long before the logs were collected that happened says whether running it
was normal then (a 2019 log with the 2019 agent) or a sign that updates had stopped.

>>> superseded_on("2.2.45").isoformat()
'2020-01-09'
>>> superseded_on("2.1.6").isoformat()   # 2.0/2.1 have no tags: 2.2.0 replaced them
'2016-09-28'
>>> superseded_on("99.0") is None
True
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from analyzer.engine.versions import version_key

RELEASES_FILE = Path(__file__).with_name("agent_releases.csv")


@cache
def releases() -> tuple[tuple[tuple[int, ...], date], ...]:
    """(version key, release date) of every release, oldest version first."""
    lines = [line for line in RELEASES_FILE.read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    rows = [(version_key(row["version"]), date.fromisoformat(row["released"]))
            for row in csv.DictReader(lines)]
    return tuple(sorted(rows))


def superseded_on(version: str) -> date | None:
    """The day the first release newer than ``version`` came out; None when none is newer
    (or the text holds no version number)."""
    key = version_key(version)
    if not key:
        return None
    newer = [released for release, released in releases() if release > key]
    return min(newer) if newer else None


def superseded_days(version: str, at: datetime | None) -> int | None:
    """Whole days between the first newer release and ``at`` (negative: newer release came
    later); None when ``at`` is unknown or no newer release exists."""
    replaced = superseded_on(version)
    if replaced is None or at is None:
        return None
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (moment.astimezone(UTC).date() - replaced).days
