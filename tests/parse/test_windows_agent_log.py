"""Windows guest agent log lines: both layouts, UTC timestamps with honest zone flags, facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.parse.records import Tz
from analyzer.parse.timeutil import set_local_zone
from analyzer.parse.waagent_log import iter_records
from analyzer.parse.windows_agent_log import (
    enrich_record,
    parse_plugin_header,
    parse_windows_header,
    plugin_from_path,
    record_facts,
)
from analyzer.parse.windows_status import parse_aggregate_status


def test_us_date_layout_is_read_as_utc_and_flagged() -> None:
    # learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/windows-azure-guest-agent
    header = parse_windows_header(
        "[00000007] [05/28/2019 12:58:50.90] [INFO] WindowsAzureGuestAgent starting. "
        "Version 2.7.41491.901"
    )
    assert header is not None
    assert header.generation == "WA"
    assert header.timestamp == datetime(2019, 5, 28, 12, 58, 50, 900000, tzinfo=UTC)
    assert header.tz == Tz.ASSUMED_UTC
    assert (header.level, header.thread) == ("INFO", "00000007")
    assert header.message == "WindowsAzureGuestAgent starting. Version 2.7.41491.901"


def test_us_date_layout_follows_the_vm_time_zone_option() -> None:
    set_local_zone(timezone(timedelta(hours=-3)))
    try:
        header = parse_windows_header("[00000006] [11/14/2019 05:52:13.44] [WARN]  x")
    finally:
        set_local_zone(UTC)
    assert header is not None and header.level == "WARNING"
    assert header.timestamp == datetime(2019, 11, 14, 8, 52, 13, 440000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "stamp", "level"),
    [
        ("[00000018] 2021-01-12T16:35:45Z [ERROR] InstallPlugins() failed",
         datetime(2021, 1, 12, 16, 35, 45, tzinfo=UTC), "ERROR"),
        ("[00000004] 2024-04-17T07:19:26.812Z [TRACE] job object",
         datetime(2024, 4, 17, 7, 19, 26, 812000, tzinfo=UTC), "VERBOSE"),
        ("2024-04-17T07:19:26.812Z [WARN]  no thread id",
         datetime(2024, 4, 17, 7, 19, 26, 812000, tzinfo=UTC), "WARNING"),
    ],
)
def test_iso_layout_is_utc(line: str, stamp: datetime, level: str) -> None:
    header = parse_windows_header(line)
    assert header is not None
    assert (header.generation, header.timestamp, header.tz, header.level) == (
        "WB", stamp, Tz.UTC, level,
    )


@pytest.mark.parametrize(
    "line",
    [
        "at Microsoft.WindowsAzure.GuestAgent.AgentCore.AgentService.DoStopService()",
        "---> System.Net.Sockets.SocketException: An attempt was made",
        "[00000006] [13/45/2019 05:52:13.44] [INFO]  impossible date",
        "[00000006] 2024-04-17T07:19:26Z [BOGUS] unknown level",
        "",
    ],
)
def test_continuations_and_garbage_are_not_headers(line: str) -> None:
    header = parse_windows_header(line)
    assert header is None or header.timestamp is None


def test_stack_traces_fold_into_their_record_and_crlf_is_dropped() -> None:
    text = (
        b"[00000007] [07/18/2019 14:46:28.87] [WARN] WindowsAzureGuestAgent stopping.\r\n"
        b"[00000004] [07/18/2019 14:46:28.89] [WARN] WindowsAzureGuestAgent could not be stopped."
        b" Exception: System.NullReferenceException\r\n"
        b"at Microsoft.WindowsAzure.GuestAgent.AgentCore.AgentCore.Stop(Boolean waitForTerminalState)\r\n"
        b"at Microsoft.WindowsAzure.GuestAgent.AgentCore.AgentService.DoStopService()\r\n"
    )
    records = list(iter_records([text], "m", "windows_agent_log", header_parser=parse_windows_header))
    assert [(r.line, r.end_line) for r in records] == [(1, 1), (2, 4)]
    assert records[1].message.endswith("DoStopService()")
    assert "\r" not in records[1].message


def test_plugin_logs_accept_the_shared_timestamp_shapes() -> None:
    header = parse_plugin_header("2024-03-04 22:05:39 Writer SqlServerWriter state [1] Stable")
    assert header is not None and header.timestamp == datetime(2024, 3, 4, 22, 5, 39, tzinfo=UTC)


def _record(message: str) -> object:
    text = f"[00000021] 2024-03-04T22:00:40.512Z [ERROR] {message}\n".encode()
    (record,) = iter_records([text], "b.zip!WindowsAzure/Logs/WaAppAgent.log", "windows_agent_log",
                             header_parser=parse_windows_header)
    return enrich_record(record)


def test_facts_agent_version_and_failed_plugin() -> None:
    version = record_facts(_record("WindowsAzureGuestAgent starting. Version 2.7.41491.1102"))
    assert [(row.role, row.value) for row in version] == [  # type: ignore[union-attr]
        ("windows_guest_agent", "2.7.41491.1102")
    ]
    # learn.microsoft.com/azure/automation/troubleshoot/onboarding
    failed = record_facts(_record(
        "Install failed for plugin (name: Microsoft.EnterpriseCloud.Monitoring."
        "MicrosoftMonitoringAgent, version 1.0.11081.4) with exception Command C:\\Packages\\"
        "Plugins\\Microsoft.EnterpriseCloud.Monitoring.MicrosoftMonitoringAgent\\1.0.11081.4\\"
        "MMAExtensionInstall.exe of Microsoft.EnterpriseCloud.Monitoring.MicrosoftMonitoringAgent"
        " has exited with Exit code: 1618"
    ))
    (row,) = failed
    assert (row.name, row.version, row.operation, row.status, row.code) == (  # type: ignore[union-attr]
        "Microsoft.EnterpriseCloud.Monitoring.MicrosoftMonitoringAgent", "1.0.11081.4",
        "Install", "error", "1618",
    )


def test_plugin_folder_gives_name_and_version() -> None:
    assert plugin_from_path(
        "x.tgz!Packages/Plugins/Microsoft.Azure.RecoveryServices.VMSnapshot/1.0.92.0/Status/3.status"
    ) == ("Microsoft.Azure.RecoveryServices.VMSnapshot", "1.0.92.0")
    assert plugin_from_path("var/lib/waagent/Microsoft.A.B-1.0/status/0.status") == ("", "")


def test_aggregate_status_gives_the_windows_agent_version_and_handlers() -> None:
    doc = (
        b'{"version": "1.1", "timestampUTC": "2024-03-05T10:00:00Z", "aggregateStatus": {'
        b'"guestAgentStatus": {"version": "2.7.41491.1102", "status": "Ready"},'
        b'"handlerAggregateStatus": [{"handlerName": "Microsoft.Azure.RecoveryServices.VMSnapshot",'
        b' "handlerVersion": "1.0.92.0", "status": "Ready", "runtimeSettingsStatus": {'
        b'"sequenceNumber": 41, "settingsStatus": {"status": {"operation": "Enable",'
        b' "status": "error", "code": 1}}}}]}}'
    )
    result = parse_aggregate_status(doc, "b!WindowsAzure/Logs/AggregateStatus/aggregatestatus.json")
    assert ("windows_guest_agent", "2.7.41491.1102") in [(a.role, a.value) for a in result.agents]
    assert not [a for a in result.agents if a.role == "goal_state_agent"]
    (ext,) = result.extensions
    assert (ext.name, ext.version, ext.status, ext.sequence) == (
        "Microsoft.Azure.RecoveryServices.VMSnapshot", "1.0.92.0", "error", "41",
    )


_PIECES = st.sampled_from([
    "[00000006] ", "[", "]", " ", "  ", "[INFO]", "[WARN]", "[ERROR]", "[HEART]", "[TRACE]",
    "11/14/2019 ", "13/45/2019 ", "05:52:13.44", "99:99:99", "2021-01-12T16:35:45Z ",
    "0000-00-00T00:00:00Z ", ".123456789", "\ufeff", "\x00", "\udce9", "msg", "\r",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_headers_never_crash_and_stay_plausible(line: str) -> None:
    """Any mix of the layouts' pieces parses or is a continuation; times are UTC and in range."""
    for parse in (parse_windows_header, parse_plugin_header):
        header = parse(line)
        if header is not None and header.timestamp is not None:
            assert header.timestamp.utcoffset() == timedelta(0)
            assert 1990 <= header.timestamp.year <= 2199
