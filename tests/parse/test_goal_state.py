"""analyzer.parse.goal_state on upstream samples (both ExtensionsConfig eras, real history
snapshots, Fast Track vmSettings) and on small inline documents."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from analyzer.parse.errors import ParseError
from analyzer.parse.goal_state import (
    HistoryInfo,
    backup_settings,
    history_info,
    parse_extensions_config,
    parse_goal_state,
    parse_hosting_env,
    parse_shared_config,
    parse_timestamp,
    parse_vm_settings,
    ticks_to_datetime,
)

HISTORY = "var/lib/waagent/history/2025-06-11T21-39-17__1-5410594052969431317/"

# Secret material present in the samples that must never reach a row.
SECRETS = (
    "MIICWgYJK",  # protectedSettings (wire/ext_conf.xml, v2.2.0)
    "MIIBsAYJ",  # protectedSettings (hostgaplugin)
    "MIIByAYJ",
    "hfRh7gzUE7sUtYwke78IOlZOrTRCYvkec4hGZ9zZzXo",  # StatusUploadBlob sig
    "KNWgC2",
    "PaiLic",
    "8YHwmibhasT0r9MZgL09QmFwL7ZV",
    "sig=",
    "***REDACTED***",
    "blob.core.windows.net",
    "AccountKey",
    "DNZQ",
)


def _assert_no_secrets(*rows: object) -> None:
    dumped = repr([asdict(row) for row in rows])  # type: ignore[call-overload]
    for secret in SECRETS:
        assert secret not in dumped, secret


# --- history paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "incarnation", "etag", "timestamp"),
    [
        (
            "var/lib/waagent/history/2024-01-31T10-00-00__3-5410594052969431317/GoalState.xml",
            "3",
            "5410594052969431317",
            datetime(2024, 1, 31, 10, 0, 0, tzinfo=UTC),
        ),
        (
            "case.tgz!var/lib/waagent/logcollector/logs.zip!var/lib/waagent/history/"
            "2024-01-31T10-00-00__3.zip!GoalState.xml",
            "3",
            "",
            datetime(2024, 1, 31, 10, 0, 0, tzinfo=UTC),
        ),
        (
            "history/2018-04-06T08:21:37.142697_incarnation_2/ExtensionsConfig.2.xml",
            "2",
            "",
            datetime(2018, 4, 6, 8, 21, 37, 142697, tzinfo=UTC),
        ),
        (
            "history/2018-04-06T08:21:37.142697_incarnation_2.zip!GoalState.2.xml",
            "2",
            "",
            datetime(2018, 4, 6, 8, 21, 37, 142697, tzinfo=UTC),
        ),
        # 2.2.31 flushes without the incarnation in the folder name: the file name has it
        (
            "history/2018-04-06T08:21:37.142697/GoalState.7.xml",
            "7",
            "",
            datetime(2018, 4, 6, 8, 21, 37, 142697, tzinfo=UTC),
        ),
        (
            "history/2024-01-31T10-00-00__status/waagent_status.json",
            "",
            "",
            datetime(2024, 1, 31, 10, 0, 0, tzinfo=UTC),
        ),
        ("var/lib/waagent/ExtensionsConfig.12.xml", "12", "", None),
        ("var/lib/waagent/VmSettings.5410594052969431317.json", "", "5410594052969431317", None),
        ("var/lib/waagent/VmSettings.4.json", "4", "", None),
        ("var/lib/waagent/GoalState.xml", "", "", None),
        (
            "etc/2024-01-31T10-00-00__3/not-history-but-same-shape.xml",
            "3",
            "",
            datetime(2024, 1, 31, 10, tzinfo=UTC),
        ),
    ],
)
def test_history_info(member: str, incarnation: str, etag: str, timestamp: datetime | None) -> None:
    assert history_info(member) == HistoryInfo(incarnation, etag, timestamp)


def test_history_info_innermost_folder_wins() -> None:
    member = "history/2024-01-01T00-00-00__1.zip!history/2024-02-02T00-00-00__2/GoalState.xml"
    assert history_info(member).incarnation == "2"


def test_history_info_bad_date_keeps_the_tag() -> None:
    info = history_info("history/2024-13-45T99-00-00__4/GoalState.xml")
    assert info.incarnation == "4"
    assert info.timestamp is None


# --- time helpers -------------------------------------------------------------------------


def test_ticks_and_timestamps() -> None:
    assert ticks_to_datetime("637726657706205217") == datetime(
        2021, 11, 16, 13, 22, 50, 620521, tzinfo=UTC
    )
    assert ticks_to_datetime("not-a-number") is None
    assert ticks_to_datetime(10**30) is None
    assert ticks_to_datetime(None) is None
    assert parse_timestamp("2024-01-31T10:00:00+02:00") == datetime(2024, 1, 31, 8, tzinfo=UTC)
    assert parse_timestamp("2024-01-31 10:00:00") == datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert parse_timestamp("/Date(1559865179380)/") == datetime(
        2019, 6, 6, 23, 52, 59, 380000, tzinfo=UTC
    )
    assert parse_timestamp("2024-02-30T00:00:00Z") is None
    assert parse_timestamp(12345) is None


# --- GoalState.xml ------------------------------------------------------------------------


def test_wire_goal_state(data) -> None:
    [row] = parse_goal_state(
        data("walinuxagent/wire/goal_state.xml"), "var/lib/waagent/GoalState.1.xml"
    )
    assert row.document == "GoalState"
    assert row.incarnation == "1"
    assert row.container_id == "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
    assert row.role_instance == "b61f93d0-e1ed-40b2-b067-22c243233448.MachineRole_IN_0"
    assert row.details["expected_state"] == "Started"
    assert row.details["version"] == "2010-12-15"
    assert row.details["has_extensions_config"] is True
    assert row.details["configurations"] == [
        "HostingEnvironmentConfig",
        "SharedConfig",
        "ExtensionsConfig",
        "FullConfig",
        "Certificates",
    ]
    assert row.details["config_name"].endswith("._canary.1.xml")


def test_goal_state_without_extensions_and_with_remote_access(data) -> None:
    [no_ext] = parse_goal_state(data("walinuxagent/wire/goal_state_no_ext.xml"), "g")
    assert no_ext.details["has_extensions_config"] is False
    [remote] = parse_goal_state(data("walinuxagent/wire/goal_state_remote_access.xml"), "g")
    assert remote.details["has_remote_access"] is True


def test_history_goal_state_gets_time_and_etag(data) -> None:
    member = HISTORY + "GoalState.xml"
    [row] = parse_goal_state(data("walinuxagent/history-goal_state_1/GoalState.xml"), member)
    assert row.incarnation == "1"
    assert row.etag == "5410594052969431317"
    assert row.timestamp == datetime(2025, 6, 11, 21, 39, 17, tzinfo=UTC)
    assert row.container_id == "06185f00-1f00-4545-abaa-4b7baa121869"
    assert row.details["version"] == "2012-11-30"


def test_placeholder_and_wrong_root() -> None:
    assert parse_goal_state(b"<xml>empty placeholder file</xml>", "GoalState.1.xml") == []
    with pytest.raises(ParseError, match="not a GoalState document"):
        parse_goal_state(b"<Extensions/>", "GoalState.1.xml")


# --- ExtensionsConfig -----------------------------------------------------------------


def test_wire_ext_conf(data) -> None:
    result = parse_extensions_config(
        data("walinuxagent/wire/ext_conf.xml"), "ExtensionsConfig.9.xml"
    )
    [gs] = result.goal_states
    assert gs.document == "ExtensionsConfig"
    assert gs.incarnation == "9"
    assert gs.details["status_blob_type"] == "BlockBlob"
    assert gs.details["has_status_upload_blob"] is True
    assert gs.details["in_svd_seq_no"] == "10"
    assert gs.details["activity_id"] == "a33f6f53-43d6-4625-b322-1a39651a00c9"
    assert gs.details["created_on"] == "2021-11-16T13:22:50.620521Z"
    assert gs.timestamp == datetime(2021, 11, 16, 13, 22, 50, 620521, tzinfo=UTC)
    assert [f["name"] for f in gs.details["ga_families"]] == ["Prod", "Test"]
    [ext] = result.extensions
    assert (ext.name, ext.version, ext.state, ext.sequence) == (
        "OSTCExtensions.ExampleHandlerLinux",
        "1.0.0",
        "enabled",
        "0",
    )
    assert ext.source_kind == "extensions_config"
    assert ext.goal_state == "incarnation_9"
    assert ext.message == "public settings keys: foo; protected settings present"
    _assert_no_secrets(gs, ext)


def test_v2_2_0_ext_conf(data) -> None:
    result = parse_extensions_config(
        data("walinuxagent/v2.2.0/ext_conf.xml"), "ExtensionsConfig.9.xml"
    )
    [gs] = result.goal_states
    assert gs.incarnation == "9"
    assert gs.details["status_blob_type"] == ""  # attribute did not exist yet
    assert gs.details["has_status_upload_blob"] is True
    assert gs.details["created_on"] == ""
    assert gs.timestamp is None
    assert [e.name for e in result.extensions] == ["OSTCExtensions.ExampleHandlerLinux"]
    _assert_no_secrets(gs, *result.extensions)


def test_modern_ext_conf_with_multi_config(data) -> None:
    result = parse_extensions_config(
        data("walinuxagent/hostgaplugin/ext_conf.xml"), "ExtensionsConfig.xml"
    )
    [gs] = result.goal_states
    assert gs.incarnation == "10"
    assert gs.details["location"] == "CentralUSEUAP"
    assert gs.details["service_name"] == "CRP"
    assert gs.details["required_features"] == ["MultipleExtensionsPerHandler"]
    assert gs.details["has_in_vm_artifacts_profile"] is True
    assert gs.details["plugin_count"] == 5
    versions = {(e.name, e.extension): e.version for e in result.extensions}
    assert versions[("Microsoft.Azure.Monitor.AzureMonitorLinuxAgent", "")] == "1.9.1"
    assert versions[("Microsoft.OSTCExtensions.VMAccessForLinux", "")] == "1.5.11"
    multi = [
        e for e in result.extensions if e.name == "Microsoft.CPlat.Core.RunCommandHandlerLinux"
    ]
    assert [e.extension for e in multi] == ["", "MCExt1", "MCExt2", "MCExt3"]
    assert all(e.state == "enabled" and e.version == "1.2.0" for e in multi)
    custom = next(
        e for e in result.extensions if e.name == "Microsoft.Azure.Extensions.CustomScript"
    )
    assert "commandToExecute=echo 'cee174d4-4daa-4b07-9958-53b9649445c2'" in custom.message
    _assert_no_secrets(gs, *result.extensions)


def test_real_history_ext_conf_with_rsm_version(data) -> None:
    member = HISTORY + "ExtensionsConfig.xml"
    result = parse_extensions_config(
        data("walinuxagent/history-goal_state_1/ExtensionsConfig.xml"), member
    )
    [gs] = result.goal_states
    assert gs.incarnation == "1"
    assert gs.etag == "5410594052969431317"
    assert gs.timestamp == datetime(2025, 6, 11, 21, 39, 17, tzinfo=UTC)
    assert gs.details["rsm_version"] == "2.13.1.1"
    assert gs.details["ga_families"] == [
        {
            "name": "Prod",
            "version": "2.13.1.1",
            "is_version_from_rsm": False,
            "is_vm_enabled_for_rsm_upgrades": False,
        }
    ]
    assert gs.details["status_blob_type"] == "PageBlob"
    assert gs.details["created_on"] == "2025-06-11T21:39:17.062709Z"
    rows = {e.name: e for e in result.extensions}
    assert rows["Microsoft.Azure.Extensions.CustomScript"].version == "2.1.13"
    assert rows["Microsoft.Azure.Extensions.CustomScript"].sequence == "4"
    assert rows["Microsoft.CPlat.Core.LinuxHibernateExtension"].sequence == ""  # no settings
    assert rows["Microsoft.GuestConfiguration.ConfigurationforLinux"].goal_state == "incarnation_1"
    _assert_no_secrets(gs, *result.extensions)


def test_windows_style_multi_config(data) -> None:
    result = parse_extensions_config(
        data("walinuxagent/wire/ext_conf_with_multi_config.xml"), "ExtensionsConfig.4.xml"
    )
    run_command = [e for e in result.extensions if e.name.endswith("RunCommandHandlerWindows")]
    assert [(e.extension, e.sequence) for e in run_command] == [
        ("", ""),
        ("firstRunCommand", "2"),
        ("secondRunCommand", "2"),
        ("thirdRunCommand", "1"),
    ]
    assert result.goal_states[0].details["activity_id"] == ""  # metadata without ids
    _assert_no_secrets(*result.goal_states, *result.extensions)


def test_ext_conf_without_status_blob(data) -> None:
    result = parse_extensions_config(
        data("walinuxagent/wire/ext_conf_no_extensions-no_status_blob.xml"),
        "ExtensionsConfig.9.xml",
    )
    assert result.goal_states[0].details["has_status_upload_blob"] is False
    assert result.extensions == []


VMSNAPSHOT_EXT_CONF = b"""<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0">
<Plugins>
  <Plugin name="Microsoft.Azure.RecoveryServices.VMSnapshotLinux" version="1.0.9225.0"
          state="enabled" autoUpgrade="true" />
  <Plugin name="Other.Handler" version="2.0" state="uninstall" />
</Plugins>
<PluginSettings>
  <Plugin name="microsoft.azure.recoveryservices.vmsnapshotlinux" version="1.0.9225.0">
    <RuntimeSettings seqNo="17">{"runtimeSettings":[{"handlerSettings":{
      "protectedSettingsCertThumbprint":"ABCD","protectedSettings":"PROTECTED-BLOB",
      "publicSettings":{"commandToExecute":"snapshot","taskId":"t-1","vmType":"microsoft.compute/virtualmachines",
        "logsBlobUri":"https://x.blob.core.windows.net/l?sv=1&amp;sig=LOGSIG",
        "objectStr":"eyJzbmFwc2hvdFRhc2tUb2tlbiI6InNlY3JldCJ9",
        "commandStartTimeUTCTicks":"638422920000000000"}}}]}</RuntimeSettings>
  </Plugin>
  <Plugin name="Stale.Handler" version="0.9">
    <RuntimeSettings seqNo="1">not json</RuntimeSettings>
  </Plugin>
</PluginSettings>
</Extensions>"""


def test_backup_plugin_settings_summary_and_history_incarnation() -> None:
    member = "var/lib/waagent/history/2024-01-31T10-00-00__6/ExtensionsConfig.xml"
    result = parse_extensions_config(VMSNAPSHOT_EXT_CONF, member)
    [gs] = result.goal_states
    assert gs.incarnation == "6"  # no goalStateIncarnation attribute: from the folder
    assert gs.details["settings_without_plugin"] == ["Stale.Handler@0.9"]
    snap, other = result.extensions
    assert snap.goal_state == "incarnation_6"
    assert snap.sequence == "17"  # settings matched by name case-insensitively
    assert "commandToExecute=snapshot" in snap.message
    assert "taskId=t-1" in snap.message
    assert "commandStartTimeUTC=2024-01-31T10:00:00Z" in snap.message
    assert "protected settings present" in snap.message
    assert (other.state, other.sequence, other.message) == ("uninstall", "", "")
    dumped = repr(result)
    for secret in ("PROTECTED-BLOB", "LOGSIG", "eyJzbmFwc2hvdFRhc2tUb2tlbiI6"):
        assert secret not in dumped


def test_backup_settings_filters() -> None:
    assert backup_settings(None) == {}
    kept = backup_settings(
        {
            "commandToExecute": "snapshot",
            "statusBlobUri": "https://a/b?sig=x",
            "customSettings": '{"takeSnapshotFrom": "onlyHost", "isManagedVm": true}',
            "commandStartTimeUTCTicks": "garbage",
            "locale": "en-us",
        }
    )
    assert kept == {
        "commandToExecute": "snapshot",
        "locale": "en-us",
        "customSettings.takeSnapshotFrom": "onlyHost",
        "customSettings.isManagedVm": "True",
    }


def test_ext_conf_errors() -> None:
    with pytest.raises(ParseError, match="not a Extensions document"):
        parse_extensions_config(b"<GoalState/>", "ExtensionsConfig.1.xml")
    with pytest.raises(ParseError, match="invalid XML"):
        parse_extensions_config(b"<Extensions>", "ExtensionsConfig.1.xml")


# --- vmSettings -----------------------------------------------------------------------


def test_fast_track_vm_settings(data) -> None:
    result = parse_vm_settings(
        data("walinuxagent/hostgaplugin/vm_settings.json"), "VmSettings.json"
    )
    [gs] = result.goal_states
    assert gs.document == "VmSettings"
    assert gs.source == "FastTrack"
    assert gs.details["host_ga_plugin_version"] == "1.0.8.133"
    assert gs.details["in_svd_seq_no"] == "1"
    assert gs.details["on_hold"] is True
    assert gs.details["status_blob_type"] == "BlockBlob"
    assert gs.details["vm"] == {
        "name": "edp0plkw2b",
        "id": "86f4ae0a-61f8-48ae-9199-40f402d56864",
        "location": "CentralUSEUAP",
        "size": "Standard_B2s",
        "os_type": "Linux",
    }
    assert gs.details["extensions_last_modified"] == "2021-11-16T13:22:50.620529Z"
    names = [(e.name, e.extension) for e in result.extensions]
    assert ("Microsoft.CPlat.Core.RunCommandHandlerLinux", "MCExt2") in names
    assert all(e.source_kind == "vm_settings" for e in result.extensions)
    monitor = result.extensions[0]
    assert (monitor.version, monitor.state, monitor.sequence) == ("1.9.1", "enabled", "0")
    assert monitor.message == "public settings keys: GCS_AUTO_CONFIG; protected settings present"
    _assert_no_secrets(gs, *result.extensions)


def test_history_vm_settings_etag(data) -> None:
    member = HISTORY + "VmSettings.json"
    result = parse_vm_settings(data("walinuxagent/history-goal_state_1/VmSettings.json"), member)
    [gs] = result.goal_states
    assert (gs.incarnation, gs.etag) == ("1", "5410594052969431317")
    assert gs.details["host_ga_plugin_version"] == "1.0.8.175"
    assert gs.details["rsm_version"] == "2.13.1.1"
    custom = next(
        e for e in result.extensions if e.name == "Microsoft.Azure.Extensions.CustomScript"
    )
    assert (custom.version, custom.sequence, custom.goal_state) == (
        "2.1.13",
        "5",
        "etag_5410594052969431317",
    )
    _assert_no_secrets(gs, *result.extensions)


def test_vm_settings_errors(data) -> None:
    with pytest.raises(ParseError, match="invalid JSON"):
        parse_vm_settings(data("walinuxagent/hostgaplugin/vm_settings-parse_error.json"), "v")
    with pytest.raises(ParseError, match="expected a JSON object"):
        parse_vm_settings(b"[1, 2]", "v")


def test_vm_settings_tolerates_odd_shapes() -> None:
    doc = (
        b'{"extensionGoalStates": [1, {"name": "A", "settings": "x", "version": 2}],'
        b' "gaFamilies": {}}'
    )
    result = parse_vm_settings(doc, "v")
    [ext] = result.extensions
    assert (ext.name, ext.version, ext.message) == ("A", "2", "")
    assert result.goal_states[0].details["ga_families"] == []


# --- HostingEnvironmentConfig / SharedConfig ------------------------------------------


def test_hosting_env(data) -> None:
    [row] = parse_hosting_env(
        data("walinuxagent/wire/hosting_env.xml"), "HostingEnvironmentConfig.xml"
    )
    assert row.document == "HostingEnvironmentConfig"
    assert row.deployment == "db00a7755a5e4e8a8fe4b19bc3b330c3"
    assert row.role == "MachineRole"
    assert row.role_instance == "MachineRole_IN_0"
    assert row.incarnation == "1"
    assert row.details["deployment_incarnation"] == "2"
    _assert_no_secrets(row)  # ApplicationSettings carries an AccountKey


def test_history_hosting_env(data) -> None:
    member = HISTORY + "HostingEnvironmentConfig.xml"
    [row] = parse_hosting_env(
        data("walinuxagent/history-goal_state_1/HostingEnvironmentConfig.xml"), member
    )
    assert (row.incarnation, row.role_instance, row.deployment) == ("1", "_test-vm", "")
    assert row.details["stored_certificates"] == ["Cert0My", "TenantEncryptionCert"]


def test_shared_config(data) -> None:
    [row] = parse_shared_config(data("walinuxagent/wire/shared_config.xml"), "SharedConfig.xml")
    assert row.document == "SharedConfig"
    assert row.deployment == "db00a7755a5e4e8a8fe4b19bc3b330c3"
    assert row.role == "MachineRole"
    assert row.details["instance_address"] == "10.115.153.75"
    assert row.details["instance_count"] == 1
    [real] = parse_shared_config(data("walinuxagent/history-goal_state_1/SharedConfig.xml"), "s")
    assert real.details["instance_address"] == "10.1.52.28"
    assert real.role_instance == "_test-vm"


def test_shared_config_picks_our_instance() -> None:
    doc = (
        b'<SharedConfig goalStateIncarnation="2"><Incarnation number="2" instance="vm2"/>'
        b'<Instances><Instance id="vm1" address="10.0.0.4"/><Instance id="vm2" address="10.0.0.5"/>'
        b"</Instances></SharedConfig>"
    )
    [row] = parse_shared_config(doc, "s")
    assert row.details["instance_address"] == "10.0.0.5"
    assert row.details["instance_count"] == 2


def test_config_documents_check_their_root() -> None:
    with pytest.raises(ParseError, match="not a SharedConfig document"):
        parse_shared_config(b"<HostingEnvironmentConfig/>", "s")
    with pytest.raises(ParseError, match="not a HostingEnvironmentConfig document"):
        parse_hosting_env(b"<SharedConfig/>", "h")
