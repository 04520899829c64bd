"""Open analyzer bugs and checklist gaps found by the security tests.

The tests that expose them are marked ``xfail(strict=True)`` with these reasons: a fix turns
them into XPASS, which fails the run until the mark is removed.

Found and already fixed while these tests were written (their tests are now plain
regression tests): BUG-1 nothing readable gave exit 0 and an empty "OK" report; BUG-2 a
single file named *.tgz/*.zip was classified by name; BUG-3 non-UTF-8 log bytes made re2
raise and dropped the member (also found by fuzz/fuzz_logparser.py); BUG-4 quadratic
prefilter on long lines; BUG-5 (rule half) year 10000 in rule evaluation; BUG-6 reader
limits above inherited hard limits; BUG-8 duplicate problems; BUG-9 UTF-8 BOM hid the first
record; BUG-10 spool directory left after a killed reader; BUG-11 ``parse --table records``
not isolated; BUG-12 empty-match rule patterns looped forever; BUG-13 scanner/export record
boundaries; GAP binary log members not skipped.
"""

from __future__ import annotations

import pytest

YEAR_9999 = (
    "BUG-5: a log record stamped 9999-12-31T23:59:59.999999Z or 0001-01-01 makes "
    "'analyze --format html' crash with OverflowError in report/timeline.py build_timeline "
    "(exit 4; the rule-evaluation half of this bug was fixed in ec267a7)"
)
NEGATIVE_SIZE = (
    "BUG-7 (minor): a tar member with a negative (base-256) size is listed with size -2048 "
    "and no problem; only the following header fails"
)
PARQUET_SURROGATES = (
    "BUG-14: 'parse --table records --format parquet' fails with exit 4 (UnicodeEncodeError "
    "in pyarrow, 'surrogates not allowed') as soon as one log record holds a byte that is "
    "not UTF-8; CSV/JSON of the same bundle work"
)
NUL_HEAD_SKIPPED = (
    "BUG-15 (regression in acf9de9): LogScanner.looks_binary counts NUL bytes as control "
    "characters, so a waagent.log with a NUL run in its first 8 KiB (preallocated or "
    "crash-truncated logs, copytruncate holes) is skipped whole as 'binary data' and every "
    "finding in it is lost"
)
GAP_TRAILING_DATA = (
    "GAP: data after the tar end-of-archive marker (a second concatenated tar) is ignored "
    "without the warning the checklist asks for"
)
GAP_SIZE_LIE = (
    "GAP: a zip entry whose declared file_size is larger than its data is not reported"
)
GAP_EMPTY_REPORT = (
    "GAP: an archive with no recognised files gives 'VERDICT OK' with no 'no recognised "
    "files' note (checklist row 32)"
)


def xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)
