"""analyzer.parse.events: extension telemetry events as Records, and results.txt."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from analyzer.parse.errors import ParseError
from analyzer.parse.events import map_level, parse_collector_results, parse_extension_events
from analyzer.parse.records import Tz

SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"


def test_upstream_event_file(data) -> None:
    member = "var/log/azure/Microsoft.Compute.CustomScriptExtension/events/1591905451.json"
    records = parse_extension_events(
        data("walinuxagent/events/extension-event-1591905451.json"), member
    )
    assert len(records) == len(
        json.loads(data("walinuxagent/events/extension-event-1591905451.json"))
    )
    first = records[0]
    assert first.message == "Starting IaaS ScriptHandler Extension v1"
    assert (first.level, first.generation, first.source_kind) == ("INFO", "EV", "extension_events")
    assert (first.line, first.end_line) == (1, 1)
    assert first.timestamp == datetime(2019, 12, 12, 1, 20, 5, 95024, tzinfo=UTC)
    assert first.tz == Tz.UTC
    assert first.extension == "Microsoft.Compute.CustomScriptExtension"
    assert first.thread == "1"
    assert first.fields["task"] == "Extension Info"
    assert first.fields["operation_id"] == "519e4beb-018a-4bd9-8d8e-c5226cf7f56e"
    assert [r.line for r in records] == list(range(1, len(records) + 1))


def test_vmsnapshot_style_event() -> None:
    events = [
        {
            "Version": f"{SNAP}-1.0.9225.0",
            "Timestamp": "2024-01-31T10:00:00.123456",
            "TaskName": "Enable",
            "EventLevel": "Warning",
            "Message": "2024-01-31T10:00:00\t[Warning]:\tblob "
            "https://x.blob.core.windows.net/c?sv=1&sig=EVSIG \n",
            "EventPid": "1234",
            "EventTid": "5678",
            "OperationId": "task-1",
        },
        {"EventLevel": "Error", "Message": "no time", "Timestamp": "yesterday"},
        "not an event",
    ]
    records = parse_extension_events(
        json.dumps(events).encode(), f"var/log/azure/{SNAP}/events/1.json"
    )
    warning, error = records
    assert (warning.level, warning.extension, warning.extension_version) == (
        "WARNING",
        SNAP,
        "1.0.9225.0",
    )
    assert warning.prefix == f"[{SNAP}-1.0.9225.0]"
    assert warning.tz == Tz.ASSUMED_UTC  # no zone in the timestamp
    assert "EVSIG" not in warning.message
    assert (error.level, error.timestamp, error.tz, error.flags) == (
        "ERROR",
        None,
        Tz.NONE,
        ("bad_timestamp",),
    )
    assert error.line == 2


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("Critical", "ERROR"),
        ("INFO", "INFO"),
        ("Verbose", "VERBOSE"),
        (2, "ERROR"),
        ("0", ""),
        ("odd", ""),
    ],
)
def test_map_level(raw: object, level: str) -> None:
    assert map_level(raw) == level


@pytest.mark.parametrize(
    ("doc", "fragment"), [(b'"x"', "expected a JSON array"), (b"[{", "invalid JSON")]
)
def test_event_file_errors(doc: bytes, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        parse_extension_events(doc, "var/log/azure/X/events/1.json")


RESULTS = b"""\
2024-01-31T09:59:50Z INFO ### Gathering Configurations ###
2024-01-31T09:59:51Z INFO Output of command [ls -alF /var/log]:
total 1234
drwxr-xr-x 1 root root 4096 Jan 31 09:00 azure/
2024-01-31T09:59:58Z INFO Adding file /var/log/waagent.log, size 1234 b
2024-01-31T10:00:02Z INFO Successfully compressed files. Compressed archive size is 5678 b
2024-01-31T10:00:03Z INFO Elapsed time: 13000 ms
"""


def test_collector_results() -> None:
    [row] = parse_collector_results(RESULTS, "case.zip!results.txt")
    assert (row.role, row.value, row.line, row.source_kind) == (
        "collected_at",
        "2024-01-31T10:00:03Z",
        7,
        "collector_results",
    )
    assert row.timestamp == datetime(2024, 1, 31, 10, 0, 3, tzinfo=UTC)


def test_collector_results_without_timestamps() -> None:
    assert parse_collector_results(b"nothing here\n", "results.txt") == []
    assert parse_collector_results(b"", "results.txt") == []
    with pytest.raises(ParseError, match="NUL"):
        parse_collector_results(b"\x00\x01", "results.txt")
