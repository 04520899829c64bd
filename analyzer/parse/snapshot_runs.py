"""Backup runs of the VMSnapshotLinux extension: one row per run, and the one answer to "did
this backup run succeed".

A run starts with ``starting daemon initially`` (plain ``starting daemon`` before the
2022-09 builds; not ``starting daemon for freezing the file system``, which follows it) and
ends with the status line the extension logs after every status report,
``Enable,<status>,<code>,<message>,...``
(``HandlerUtil.do_status_report``). The ``status`` word is forced to ``success`` on ARM VMs,
so only the ``code`` tells the result (see ``ExtensionErrorCodeHelper.ExtensionErrorCodeEnum``):

====  ===============================  ======================================================
code  name                             what the run did
====  ===============================  ======================================================
0     success_appconsistent            took an application-consistent snapshot: success
1     success                          took a file-system-consistent snapshot: success
3     SuccessAlreadyProcessedInput     "TaskId AlreadyProcessed nothing to do": no snapshot was
                                       taken, so the run proves nothing (neither a success nor a
                                       failure; it does not clear an earlier failure)
4     ExtensionTempTerminalState       interim "transitioning" status, not the end of a run
else  (errors, 2 and 11..800)          failed
====  ===============================  ======================================================

The snapshot rules' "a later run succeeded" patterns (``Enable,\\w+,[01],``) say the same:
``tests/engine/test_snapshot_runs.py`` checks every rule pattern against
:func:`run_succeeded`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from analyzer.parse.log_facts import LogEvent

SUCCESS_CODES = frozenset({"0", "1"})
ALREADY_PROCESSED = "3"
INTERIM = "4"

SUCCESS = "success"
NOTHING_TO_DO = "already processed"
UNFINISHED = "unfinished"

RUN_START_PATTERN = r"starting daemon(?: initially\b| *(?:\n|$))"
RUN_END_PATTERN = r"Enable,\w+,\d+,"
_RUN_END = re.compile(r"Enable,(?P<status>\w+),(?P<code>\d+),")


def run_succeeded(code: str) -> bool:
    """Whether a run that ended with this status code took its snapshot."""
    return code.strip() in SUCCESS_CODES


def run_outcome(code: str) -> str:
    """``success``, ``already processed`` or ``failed (code N)`` for a final status code."""
    code = code.strip()
    if run_succeeded(code):
        return SUCCESS
    if code == ALREADY_PROCESSED:
        return NOTHING_TO_DO
    return f"failed (code {code})"


@dataclass
class SnapshotRunRow:
    """One backup run: when it started, when it ended (``None``: no end in the log) and how."""

    start: datetime
    end: datetime | None
    outcome: str
    """``success`` | ``already processed`` | ``failed (code N)`` | ``unfinished``."""
    code: str = ""

    @property
    def duration_seconds(self) -> float | None:
        return (self.end - self.start).total_seconds() if self.end is not None else None

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCESS


def end_code(text: str) -> str | None:
    """The status code of an ``Enable,<status>,<code>,`` line, ``None`` for other lines."""
    found = _RUN_END.search(text)
    return found.group("code") if found else None


def pair_snapshot_runs(events: list[LogEvent]) -> list[SnapshotRunRow]:
    """Join each run's start with its final status line, in time order. Interim (code 4)
    lines are skipped; an end without a start counts as a run of its own."""
    runs: list[SnapshotRunRow] = []
    open_start: datetime | None = None
    ordered = sorted((e for e in events if e.kind == "snapshot-run"), key=lambda e: e.timestamp)
    for event in ordered:
        code = end_code(event.label)
        if code is None:
            if open_start is not None:
                runs.append(SnapshotRunRow(open_start, None, UNFINISHED))
            open_start = event.timestamp
            continue
        if code == INTERIM:
            continue
        start = open_start if open_start is not None else event.timestamp
        runs.append(SnapshotRunRow(start, event.timestamp, run_outcome(code), code))
        open_start = None
    if open_start is not None:
        runs.append(SnapshotRunRow(open_start, None, UNFINISHED))
    return runs
