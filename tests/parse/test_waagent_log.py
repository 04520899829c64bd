"""waagent.log grammar: each generation, record folding, structured fields, bad bytes."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.parse.records import Tz
from analyzer.parse.waagent_log import (
    heartbeat_agent_version,
    iter_records,
    parse_header,
    structured_fields,
    version_fields,
)


def records(text: str | bytes, **kwargs: object) -> list:
    data = text.encode() if isinstance(text, str) else text
    return list(iter_records([data], "b.tgz!var/log/waagent.log", "waagent_log", **kwargs))


@pytest.mark.parametrize(
    ("line", "generation", "stamp", "tz", "level", "thread", "prefix", "message"),
    [
        (
            "2016/03/01 10:00:05 ERROR:HTTP Err: Status=503",
            "G0",
            datetime(2016, 3, 1, 10, 0, 5, tzinfo=UTC),
            Tz.ASSUMED_UTC,
            "ERROR",
            "",
            "",
            "HTTP Err: Status=503",
        ),
        (
            "2015/12/01 10:00:00 Azure Linux Agent Version: WALinuxAgent-2.0.16",
            "G0",
            datetime(2015, 12, 1, 10, tzinfo=UTC),
            Tz.ASSUMED_UTC,
            "INFO",
            "",
            "",
            "Azure Linux Agent Version: WALinuxAgent-2.0.16",
        ),
        (
            "2017/01/01 00:00:00.000001 INFO Run daemon",
            "G1",
            datetime(2017, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
            Tz.ASSUMED_UTC,
            "INFO",
            "",
            "",
            "Run daemon",
        ),
        (
            "2021/03/30 19:35:35.971742 INFO Daemon Azure Linux Agent Version:2.2.45",
            "G2",
            datetime(2021, 3, 30, 19, 35, 35, 971742, tzinfo=UTC),
            Tz.ASSUMED_UTC,
            "INFO",
            "",
            "Daemon",
            "Azure Linux Agent Version:2.2.45",
        ),
        (
            "2021-05-28T01:17:40.683072Z INFO ExtHandler Wire server endpoint:168.63.129.16",
            "G3",
            datetime(2021, 5, 28, 1, 17, 40, 683072, tzinfo=UTC),
            Tz.UTC,
            "INFO",
            "",
            "ExtHandler",
            "Wire server endpoint:168.63.129.16",
        ),
        (
            "2023-03-13T15:44:04.906673Z INFO ExtHandler ExtHandler Azure Linux Agent (Goal State "
            "Agent version 9.9.9.9)",
            "G4",
            datetime(2023, 3, 13, 15, 44, 4, 906673, tzinfo=UTC),
            Tz.UTC,
            "INFO",
            "ExtHandler",
            "ExtHandler",
            "Azure Linux Agent (Goal State Agent version 9.9.9.9)",
        ),
        (
            "2021-03-30T19:45:33.793213Z INFO ExtHandler [Microsoft.Azure.Security.Monitoring."
            "AzureSecurityLinuxAgent-2.14.64] Target handler state: enabled [incarnation 3]",
            "G4",
            datetime(2021, 3, 30, 19, 45, 33, 793213, tzinfo=UTC),
            Tz.UTC,
            "INFO",
            "ExtHandler",
            "[Microsoft.Azure.Security.Monitoring.AzureSecurityLinuxAgent-2.14.64]",
            "Target handler state: enabled [incarnation 3]",
        ),
        (
            "2021/03/30 19:45:31 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent-1.7.0] cwd is /x",
            "X",
            datetime(2021, 3, 30, 19, 45, 31, tzinfo=UTC),
            Tz.ASSUMED_UTC,
            "",
            "",
            "[Microsoft.Azure.Monitor.AzureMonitorLinuxAgent-1.7.0]",
            "cwd is /x",
        ),
    ],
)
def test_each_generation_header(
    line: str,
    generation: str,
    stamp: datetime,
    tz: str,
    level: str,
    thread: str,
    prefix: str,
    message: str,
) -> None:
    header = parse_header(line)
    assert header is not None
    assert (
        header.generation,
        header.timestamp,
        header.tz,
        header.level,
        header.thread,
        header.prefix,
        header.message,
    ) == (generation, stamp, tz, level, thread, prefix, message)


def test_continuation_lines_are_not_headers() -> None:
    assert parse_header("Traceback (most recent call last):") is None
    assert parse_header('  File "/usr/lib/python3/dist-packages/x.py", line 3') is None
    assert parse_header("[stdout]") is None


def test_syslog_wrapped_copy_is_unwrapped() -> None:
    header = parse_header(
        "Jan 31 10:00:00 vm1 python3[812]: 2024-01-31T10:00:00.000000Z INFO "
        "ExtHandler ExtHandler Goal state period: 6 sec"
    )
    assert header is not None
    assert (header.generation, header.thread, header.message) == (
        "G4",
        "ExtHandler",
        "Goal state period: 6 sec",
    )


MIXED = """\
2021/03/30 19:35:35.971742 INFO Daemon Azure Linux Agent Version:2.2.32
2021-03-30T19:45:33.000001Z WARNING ExtHandler ExtHandler Agent WALinuxAgent-2.9.1.1 failed with exception: boom
Traceback (most recent call last):
  File "bin/WALinuxAgent-2.9.1.1-py3.8.egg/azurelinuxagent/ga/update.py", line 434, in run
ValueError: boom
2021-03-30T19:45:34.000000Z ERROR ExtHandler ExtHandler Event: name=Microsoft.Azure.RecoveryServices.VMSnapshotLinux, op=Enable, message=[ExtensionOperationError] Non-zero exit code: 3, main/handle.sh enable
[stdout]
2021/03/30 19:45:31 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9217.0] started
[stderr]
ModuleNotFoundError: No module named 'imp'
, duration=0
2021-03-30T19:45:35.000000Z INFO ExtHandler ExtHandler done
"""


def test_mixed_generations_fold_into_records_with_exact_line_spans() -> None:
    result = records(MIXED)
    spans = [(r.line, r.end_line, r.generation) for r in result]
    # The extension's own timestamped stdout line opens a record of its own, as in the
    # agent team's parser: a known limit of line-based log formats.
    assert spans == [(1, 1, "G2"), (2, 5, "G4"), (6, 7, "G4"), (8, 11, "X"), (12, 12, "G4")]
    crash = result[1]
    assert crash.message.splitlines()[-1] == "ValueError: boom"
    assert result[0].fields["daemon_version"] == "2.2.32"
    assert result[2].fields["event_name"] == "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    assert result[2].fields["event_op"] == "Enable"
    assert result[2].fields["exception"] == "ExtensionOperationError"
    assert result[3].extension == "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    assert result[3].extension_version == "1.0.9217.0"


def test_crlf_nul_bad_utf8_and_missing_newline() -> None:
    data = (
        b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler caf\xe9 \x00ok\r\n"
        b"2024-01-31T10:00:01.000000Z ERROR ExtHandler ExtHandler last"
    )
    first, second = records(data)
    assert first.message == "caf\udce9 ok"  # lossless, shown escaped by the sinks
    assert "nul_bytes" in first.flags
    assert second.message == "last"
    assert "no_trailing_newline" in second.flags
    assert second.line == 2


def test_long_line_is_capped_and_flagged() -> None:
    data = b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler " + b"x" * 5000 + b"\n"
    (record,) = records(data, max_line_bytes=100)
    assert len(record.message) < 100
    assert "truncated_line" in record.flags


def test_continuation_cap_cuts_huge_records() -> None:
    data = b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler start\n" + b"more\n" * 50
    (record,) = records(data, max_continuation_lines=10)
    assert record.end_line == 51
    assert "truncated_record" in record.flags
    assert record.message.count("\n") == 10  # header + 10 continuation lines kept


def test_collector_truncated_file_flags_the_cut_first_line() -> None:
    data = b"xtHandler ExtHandler cut in half\n2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler ok\n"
    first, second = records(data, collector_truncated=True)
    assert first.generation == "CONT" and "first_line_cut" in first.flags
    assert second.timestamp == datetime(2024, 1, 31, 10, tzinfo=UTC)


def test_impossible_date_keeps_the_record() -> None:
    (record,) = records("2025-02-30T10:00:00.000000Z ERROR ExtHandler ExtHandler odd date\n")
    assert record.timestamp is None
    assert "bad_timestamp" in record.flags
    assert record.message == "odd date"


def test_encoded_event_message_is_decoded() -> None:
    body = base64.b64encode(zlib.compress(b"[ExtensionError] Non-zero exit code: 51")).decode()
    fields = structured_fields(f"Event: name=Foo.Bar, op=Install, message={body}, duration=0")
    assert fields["event_message"] == "[ExtensionError] Non-zero exit code: 51"
    assert fields["event_message_encoded"] == "true"


@pytest.mark.parametrize(
    ("message", "classes"),
    [
        ("(000009)HTTP GET failed", "HttpError"),
        ("[000008] [000009] HTTP GET failed", "ProtocolError,HttpError"),
        (
            "[ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET x",
            "ProtocolError,HttpError",
        ),
    ],
)
def test_exception_tokens_across_eras(message: str, classes: str) -> None:
    assert structured_fields(message)["exception"] == classes


def test_http_fields() -> None:
    fields = structured_fields("[HTTP Failed] [410: Gone] b'<?xml version=\"1.0\"?>'")
    assert fields["http_status"] == "410"
    verbose = structured_fields("HTTP connection [GET] [/machine?comp=goalstate] [None] [{}]")
    assert (verbose["http_method"], verbose["http_url"]) == ("GET", "/machine?comp=goalstate")


def test_agent_version_facts() -> None:
    assert (
        structured_fields(
            "[HEARTBEAT] Agent WALinuxAgent-2.9.1.1 is running as the goal "
            "state agent [DEBUG HeartbeatCounter: 3;]"
        )["goal_state_agent_version"]
        == "2.9.1.1"
    )
    assert (
        structured_fields("Distro: ubuntu-22.04; OSUtil: Ubuntu; Python: 3.12.3; Arch: x86_64")[
            "python_version"
        ]
        == "3.12.3"
    )


_REAL_HEARTBEAT = (b"[HEARTBEAT] Agent WALinuxAgent-2.2.53 is running as the goal state agent "
                   b"[DEBUG HeartbeatCounter: 1;HeartbeatId: 0F2A8C1E-4B9D-4E7A-9C3D-2B1A0F9E8D7C;"
                   b"DroppedPackets: 0;UpdateGSErrors: 0;AutoUpdate: 1]")


def test_a_heartbeat_gives_its_version_without_the_version_regexes() -> None:
    assert heartbeat_agent_version(_REAL_HEARTBEAT) == "2.2.53"
    newer = _REAL_HEARTBEAT.replace(b"2.2.53", b"2.9.1.1").replace(
        b"AutoUpdate: 1]", b"AutoUpdate: 1;UpdateMode: SelfUpdate]")
    assert heartbeat_agent_version(newer) == "2.9.1.1"
    # Not a plain version, or the words of another field: the regexes answer.
    for other in (_REAL_HEARTBEAT.replace(b"2.2.53", b"2.1.5.rc7"),
                  _REAL_HEARTBEAT + b" Python: 3.9.1",
                  _REAL_HEARTBEAT + b" Agent WALinuxAgent-2.2.10 is blacklisted",
                  b"x" + _REAL_HEARTBEAT):
        assert heartbeat_agent_version(other) is None


_PIECES = st.sampled_from([
    "[HEARTBEAT] ", "Agent ", "WALinuxAgent-", "2.2.53", "2.9", ".1", "rc7", "-", " ",
    " is running as the goal state agent", " [DEBUG HeartbeatCounter: 12;", "Agent Version",
    "Azure Linux Agent Version: 2.2.40", "is blacklisted", "Python: 3.6.8", "; Python: 2.7",
    "OS: ubuntu 20.04", "\n", "Goal State Agent version 2.2.49", "V", "y", "i", "é", "\udcff",
    "launched with command 'x' is successfully running", "Determined Agent ",
])


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PIECES, max_size=6), st.sampled_from(["2.2.53", "2.9.1.1", "2", "2.1.5.rc7",
                                                      "2..3", "", "2.2.53 x"]),
       st.lists(_PIECES, max_size=8))
def test_a_heartbeat_version_is_what_the_version_regexes_read(
        pieces: list[str], version: str, tail: list[str]) -> None:
    """Wherever it answers, the bulk path's shortcut gives :func:`version_fields` exactly:
    messages built from heartbeat parts and every other version field's words."""
    for text in ("".join(pieces + tail),
                 "[HEARTBEAT] Agent WALinuxAgent-" + "".join(pieces + tail),
                 "[HEARTBEAT] Agent WALinuxAgent-" + version
                 + " is running as the goal state agent" + "".join(tail)):
        message = text.encode("utf-8", "surrogateescape")
        version = heartbeat_agent_version(message)
        if version is not None:
            assert version_fields(message.decode("utf-8", "surrogateescape")) == {
                "goal_state_agent_version": version}
