"""analyzer.parse.status: waagent_status.json in its three generations, per-handler files,
VMSnapshot status files (code over status, embedded telemetry) and the agent's own files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from analyzer.parse.errors import ParseError
from analyzer.parse.status import (
    handler_from_path,
    parse_agent_error,
    parse_crash_sentinel,
    parse_extension_settings,
    parse_extension_status,
    parse_handler_manifest,
    parse_handler_state,
    parse_handler_status,
    parse_waagent_status,
)

SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
SNAP_DIR = f"case.tgz!var/lib/waagent/{SNAP}-1.0.9150.0"


def _blob_status(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": "1.1",
        "timestampUTC": "2024-01-31T10:00:00Z",
        "aggregateStatus": {
            "guestAgentStatus": {
                "version": "2.9.1.1",
                "status": "Ready",
                "formattedMessage": {"lang": "en-US", "message": "Guest Agent is running"},
                "updateStatus": {
                    "expectedVersion": "2.10.0.8",
                    "status": "Error",
                    "code": 1,
                    "formattedMessage": {"lang": "en-US", "message": "Failed to download"},
                },
            },
            "handlerAggregateStatus": [
                {
                    "handlerVersion": "1.0.9225.0",
                    "handlerName": SNAP,
                    "status": "Ready",
                    "code": 0,
                    "useExactVersion": True,
                    "formattedMessage": {"lang": "en-US", "message": "Plugin enabled"},
                    "runtimeSettingsStatus": {
                        "settingsStatus": {
                            "status": {
                                "name": SNAP,
                                "operation": "Enable",
                                "status": "success",
                                "code": 76,
                                "formattedMessage": {
                                    "lang": "en-US",
                                    "message": "snapshot failed for "
                                    "https://md-x.blob.core.windows.net/abc?sv=2020&sig=SNAPSIG",
                                },
                            },
                            "version": 1.0,
                            "timestampUTC": "2024-01-31T09:58:00Z",
                        },
                        "sequenceNumber": 12,
                    },
                },
                {
                    "handlerVersion": "1.2.0",
                    "handlerName": "Microsoft.CPlat.Core.RunCommandHandlerLinux",
                    "status": "NotReady",
                    "code": -1,
                    "formattedMessage": {"lang": "en-US", "message": "Non-zero exit code: 1"},
                    "runtimeSettingsStatus": {
                        "settingsStatus": {
                            "status": {
                                "operation": "Enable",
                                "status": "error",
                                "code": 1,
                                "formattedMessage": {"lang": "en-US", "message": "script failed"},
                            }
                        },
                        "sequenceNumber": 3,
                        "extensionName": "MCExt1",
                    },
                },
                {
                    "handlerVersion": "2.1.13",
                    "handlerName": "Microsoft.Azure.Extensions.CustomScript",
                    "status": "NotReady",
                    "code": 1009,
                    "formattedMessage": {"message": "Extension installation failed"},
                },
                "not a handler",
            ],
            "vmArtifactsAggregateStatus": {
                "goalStateAggregateStatus": {
                    "formattedMessage": {"lang": "en-US", "message": "GoalState executed"},
                    "timestampUTC": "2024-01-31T09:59:00Z",
                    "inSvdSeqNo": "9",
                    "status": "Success",
                    "code": 0,
                }
            },
        },
        "guestOSInfo": {"computerName": "vm1", "osName": "ubuntu", "osVersion": "22.04"},
        "supportedFeatures": [{"Key": "MultipleExtensionsPerHandler", "Value": "1.0"}],
    }
    doc.update(extra)
    return doc


def _agents(result) -> dict[str, str]:
    return {a.role: a.value for a in result.agents}


# --- waagent_status.json --------------------------------------------------------------


def test_status_blob_2_8() -> None:
    member = "var/lib/waagent/history/2024-01-31T10-00-00__9/waagent_status.json"
    result = parse_waagent_status(json.dumps(_blob_status()).encode(), member)
    assert _agents(result) == {
        "goal_state_agent": "2.9.1.1",
        "agent_status": "Ready: Guest Agent is running",
        "agent_update_status": "expected=2.10.0.8 status=Error code=1: Failed to download",
        "os": "ubuntu 22.04",
        "goal_state_status": "Success code=0 inSvdSeqNo=9: GoalState executed",
    }
    assert all(a.source_kind == "waagent_status" for a in result.agents)
    assert result.agents[0].timestamp == datetime(2024, 1, 31, 10, tzinfo=UTC)

    snap, run_command, custom = result.extensions
    assert (snap.name, snap.version, snap.state, snap.status, snap.code) == (
        SNAP,
        "1.0.9225.0",
        "Ready",
        "success",
        "76",
    )
    assert (snap.operation, snap.sequence, snap.goal_state) == ("Enable", "12", "incarnation_9")
    assert snap.timestamp == datetime(2024, 1, 31, 9, 58, tzinfo=UTC)
    assert snap.message.startswith("Plugin enabled | extension status: snapshot failed for")
    assert "SNAPSIG" not in snap.message
    assert (run_command.extension, run_command.status, run_command.code) == ("MCExt1", "error", "1")
    assert run_command.state == "NotReady"
    # no runtime settings status: the handler's own status and code
    assert (custom.state, custom.status, custom.code, custom.message) == (
        "NotReady",
        "NotReady",
        "1009",
        "Extension installation failed",
    )
    assert all(e.source_kind == "waagent_status" for e in result.extensions)


def test_status_blob_2_5_with_metadata() -> None:
    doc = _blob_status(
        _metadataNotSentToCRP={
            "agentName": "WALinuxAgent-2.6.0.2",
            "daemonVersion": "2.2.45",
            "pythonVersion": "Python: 3.6.9",
            "extensionSupportedFeatures": [],
        }
    )
    result = parse_waagent_status(json.dumps(doc).encode(), "var/lib/waagent/waagent_status.5.json")
    agents = _agents(result)
    assert agents["daemon"] == "2.2.45"
    assert agents["python"] == "3.6.9"
    assert agents["goal_state_agent"] == "2.9.1.1"
    assert {e.goal_state for e in result.extensions} == {"incarnation_5"}


def test_agent_summary_2_2() -> None:
    doc = {
        "agent_name": "WALinuxAgent",
        "current_version": "2.2.45",
        "goal_state_version": "2.2.45",
        "distro_details": "ubuntu:18.04",
        "last_successful_status_upload_time": "2020-03-01T10:00:00Z",
        "python_version": "Python: 3.6.9",
        "extensions_status": [
            {
                "name": SNAP,
                "version": "1.0.9164.0",
                "status": "NotReady",
                "code": 1,
                "message": "Enable failed: see https://a.blob.core.windows.net/x?sv=1&sig=OLD",
            }
        ],
    }
    result = parse_waagent_status(json.dumps(doc).encode(), "var/lib/waagent/waagent_status.json")
    assert _agents(result) == {
        "goal_state_agent": "2.2.45",
        "os": "ubuntu:18.04",
        "python": "3.6.9",
        "last_status_upload": "2020-03-01T10:00:00Z",
    }
    [ext] = result.extensions
    assert (ext.name, ext.version, ext.status, ext.code) == (SNAP, "1.0.9164.0", "NotReady", "1")
    assert ext.timestamp == datetime(2020, 3, 1, 10, tzinfo=UTC)
    assert "OLD" not in ext.message


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (b'{"something": "else"}', "neither a status blob nor an agent summary"),
        (b"[]", "expected a JSON object"),
        (b'{"aggregateStatus": ', "invalid JSON"),
    ],
)
def test_waagent_status_errors(doc: bytes, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        parse_waagent_status(doc, "waagent_status.json")


# --- status/<n>.status ----------------------------------------------------------------


def test_handler_from_path() -> None:
    assert handler_from_path(f"{SNAP_DIR}/status/0.status") == (SNAP, "1.0.9150.0")
    assert handler_from_path("var/lib/waagent/WALinuxAgent-2.9.1.1/error.json") == (
        "WALinuxAgent",
        "2.9.1.1",
    )
    assert handler_from_path("status/0.status") == ("", "")
    assert handler_from_path("var/lib/waagent/My-Ext-2-1.0.3/status/0.status") == (
        "My-Ext-2",
        "1.0.3",
    )


def test_upstream_vmsnapshot_status_file(data) -> None:
    member = f"{SNAP_DIR}/status/0.status"
    [row] = parse_extension_status(data("walinuxagent/ext/sample-status.json"), member)
    # name/version from the folder, never the schema "version": "1.0" in the file
    assert (row.name, row.version) == (SNAP, "1.0.9150.0")
    assert (row.status, row.code, row.operation, row.sequence) == ("success", "1", "Enable", "0")
    assert row.source_kind == "extension_status"
    assert row.timestamp == datetime(2019, 6, 6, 23, 52, 59, tzinfo=UTC)
    for telemetry in (
        "extensionVersion=1.0.9150.0",
        "extErrorCode=success",
        "FreezeTime=0:00:00.258313",
        "snapshotTimeTaken=0:00:00.325422",
        "hostStatusCodeDoSnapshot=200",
        "statusBlobUploadError=true",
        "vmHealthStatusCode=1",
    ):
        assert telemetry in row.message
    assert "snapshot=2019" not in row.message  # snapshot URIs are not copied


def test_renamed_and_multi_config_status_names(data) -> None:
    sample = data("walinuxagent/ext/sample-status.json")
    [old] = parse_extension_status(sample, f"{SNAP_DIR}/status/41_status")
    assert (old.sequence, old.extension) == ("41", "")
    [multi] = parse_extension_status(sample, "var/lib/waagent/A.B-1.2.0/status/MCExt1.3.status")
    assert (multi.name, multi.version, multi.sequence, multi.extension) == (
        "A.B",
        "1.2.0",
        "3",
        "MCExt1",
    )


def test_code_is_the_truth_and_wrapped_message() -> None:
    doc = [
        {
            "version": "1.0",
            "timestampUTC": "\\/Date(1706695200000)\\/",
            "status": {
                "name": SNAP,
                "operation": "Enable",
                "status": "success",  # forced to success on ARM VMs
                "code": "122",
                "formattedMessage": {
                    "lang": "en-US",
                    "message": json.dumps(
                        {
                            "messageStr": "T:S freeze timed-out "
                            "StatusCode.FailedRetryableFsFreezeTimeout, "
                            "snapshotCreator=guestExtension, "
                            "extErrorCode=FailedRetryableFsFreezeTimeout",
                            "snapshotConsistency": 0,
                            "jobMessage": "",
                        }
                    ),
                },
                "telemetryData": [{"Key": "FreezeTime", "Value": "0:01:00.000001"}],
                "substatus": [],
            },
        }
    ]
    [row] = parse_extension_status(json.dumps(doc).encode(), f"{SNAP_DIR}/status/7.status")
    assert (row.status, row.code) == ("success", "122")
    assert row.timestamp == datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert row.message.startswith("T:S freeze timed-out StatusCode.FailedRetryableFsFreezeTimeout,")
    assert row.message.endswith("; telemetry: FreezeTime=0:01:00.000001")
    assert "messageStr" not in row.message


def test_status_file_without_inner_status_key(data) -> None:
    sample = data("vmbackup/walinuxagent-sample-status-invalid-no-status-status-key.json")
    [row] = parse_extension_status(sample, f"{SNAP_DIR}/status/0.status")
    assert (row.status, row.code) == ("", "1")


def test_schema_template_status(data) -> None:
    [row] = parse_extension_status(
        data("vmbackup/status-schema-template.0.status"), "X-1.0/status/0.status"
    )
    assert row.code == "0"
    assert row.message == "formatted user message"
    assert row.timestamp is None


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (b'[{"version": 1.0, "timestampUTC": "2024-01-31T10:00:00Z"}]', "no status object"),
        (b'"just a string"', "expected a JSON array"),
        (b"", "invalid JSON"),
    ],
)
def test_status_file_errors(doc: bytes, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        parse_extension_status(doc, f"{SNAP_DIR}/status/0.status")


def test_malformed_upstream_status_file(data) -> None:
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_extension_status(
            data("walinuxagent/ext/sample-status-invalid-json-format.json"),
            f"{SNAP_DIR}/status/0.status",
        )


def test_empty_status_array_is_no_rows() -> None:
    assert parse_extension_status(b"[]", f"{SNAP_DIR}/status/0.status") == []


# --- HandlerState / HandlerStatus / HandlerManifest ---------------------------------------


def test_handler_state() -> None:
    [row] = parse_handler_state(b"Enabled\n", f"{SNAP_DIR}/config/HandlerState")
    assert (row.name, row.version, row.state, row.source_kind) == (
        SNAP,
        "1.0.9150.0",
        "Enabled",
        "handler_state",
    )
    [multi] = parse_handler_state(
        b"Installed", "var/lib/waagent/A.B-1.2/config/MCExt1.HandlerState"
    )
    assert (multi.extension, multi.state) == ("MCExt1", "Installed")


@pytest.mark.parametrize("doc", [b"", b"Enabled Installed", b"\x00\x01", b"x" * 100])
def test_handler_state_garbage(doc: bytes) -> None:
    with pytest.raises(ParseError):
        parse_handler_state(doc, f"{SNAP_DIR}/config/HandlerState")


def test_handler_status() -> None:
    doc = {
        "name": SNAP,
        "version": "1.0.9225.0",
        "status": "NotReady",
        "code": -1,
        "message": "Non-zero exit code: 1, /var/lib/waagent/x/main/handle.sh enable",
        "supports_multi_config": False,
    }
    [row] = parse_handler_status(json.dumps(doc).encode(), f"{SNAP_DIR}/config/HandlerStatus")
    assert (row.version, row.status, row.code) == ("1.0.9225.0", "NotReady", "-1")
    assert row.message.startswith("Non-zero exit code: 1")
    assert row.source_kind == "handler_status"
    with pytest.raises(ParseError):
        parse_handler_status(b"{", f"{SNAP_DIR}/config/HandlerStatus")


def test_handler_manifests(data) -> None:
    [row] = parse_handler_manifest(
        data("vmbackup/HandlerManifest.json"), f"{SNAP_DIR}/HandlerManifest.json"
    )
    assert (row.name, row.version, row.source_kind) == (SNAP, "1.0.9150.0", "handler_manifest")
    assert row.message == "reportHeartbeat=false, rebootAfterInstall=false"
    [other] = parse_handler_manifest(
        data("walinuxagent/ext/HandlerManifest-valid.json"), "HandlerManifest.json"
    )
    assert other.name == "ExampleHandlerLinux"
    assert "supportsMultipleExtensions=true" in other.message
    with pytest.raises(ParseError, match="no handlerManifest"):
        parse_handler_manifest(b"[{}]", "HandlerManifest.json")


# --- config/<n>.settings ----------------------------------------------------------------


def test_vmsnapshot_settings_keep_only_useful_public_values() -> None:
    doc = {
        "runtimeSettings": [
            {
                "handlerSettings": {
                    "protectedSettingsCertThumbprint": "ABCD",
                    "protectedSettings": "MIIB-PROTECTED",
                    "publicSettings": {
                        "commandToExecute": "snapshot",
                        "taskId": "767baff0-3f1e-4363-a974-5d801189250d",
                        "vmType": "microsoft.compute/virtualmachines",
                        "commandStartTimeUTCTicks": "636953997844977993",
                        "logsBlobUri": "https://a.blob.core.windows.net/l?sv=1&sig=LOGS",
                        "statusBlobUri": "https://a.blob.core.windows.net/s?sv=1&sig=STATUS",
                        "objectStr": "eyJibG9iU0FTVXJpIjpbXX0=",
                    },
                }
            }
        ]
    }
    rows = parse_extension_settings(json.dumps(doc).encode(), f"{SNAP_DIR}/config/12.settings")
    assert {r.key: r.value for r in rows} == {
        "seqNo": "12",
        "protectedSettings": "present",
        "commandToExecute": "snapshot",
        "taskId": "767baff0-3f1e-4363-a974-5d801189250d",
        "vmType": "microsoft.compute/virtualmachines",
        "commandStartTimeUTC": "2019-06-06T06:36:24.497799Z",
    }
    assert all(r.source_kind == "extension_settings" for r in rows)
    dumped = repr(rows)
    for secret in ("MIIB-PROTECTED", "LOGS", "STATUS", "eyJibG9i"):
        assert secret not in dumped


def test_settings_renamed_and_rewritten_without_protected() -> None:
    doc = b'{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"locale": "en-us"}}}]}'
    rows = parse_extension_settings(doc, f"{SNAP_DIR}/config/3_settings")
    assert [(r.key, r.value) for r in rows] == [
        ("seqNo", "3"),
        ("protectedSettings", "absent"),
        ("locale", "en-us"),
    ]
    with pytest.raises(ParseError, match="no runtimeSettings"):
        parse_extension_settings(b"{}", f"{SNAP_DIR}/config/3.settings")


# --- error.json / current_version -----------------------------------------------------------


def test_agent_error_json() -> None:
    doc = {
        "last_failure": 1706695200.0,
        "failure_count": 3,
        "was_fatal": True,
        "reason": "Agent failed with exception: https://a.blob.core.windows.net/x?sv=1&sig=E",
    }
    member = "var/lib/waagent/WALinuxAgent-2.9.1.1/error.json"
    [row] = parse_agent_error(json.dumps(doc).encode(), member)
    assert (row.role, row.source_kind) == ("agent_error", "agent_error_json")
    assert row.timestamp == datetime(2024, 1, 31, 10, tzinfo=UTC)
    summary = json.loads(row.value)
    assert summary["agent"] == "WALinuxAgent-2.9.1.1"
    assert summary["failure_count"] == 3
    assert summary["was_fatal"] is True
    assert summary["reason"].startswith("Agent failed with exception")
    assert "sig=E" not in row.value


def test_agent_error_json_odd_values() -> None:
    [row] = parse_agent_error(b'{"last_failure": "x", "failure_count": true}', "error.json")
    summary = json.loads(row.value)
    assert summary["failure_count"] is None
    assert summary["last_failure"] == ""
    assert row.timestamp is None
    with pytest.raises(ParseError):
        parse_agent_error(b"[1]", "error.json")


def test_crash_sentinel() -> None:
    [row] = parse_crash_sentinel(
        b"[WALinuxAgent-2.9.1.1] [restart]\n", "var/lib/waagent/current_version"
    )
    assert (row.role, row.value, row.source_kind) == (
        "crash_sentinel",
        "[WALinuxAgent-2.9.1.1] [restart]",
        "agent_sentinel",
    )
