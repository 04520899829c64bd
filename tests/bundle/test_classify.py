"""Name -> SourceKind, and the placeholder refinement."""

from __future__ import annotations

import pytest

from analyzer.bundle.classify import classify, member_cap, refine_kind, strip_archive_suffix
from analyzer.bundle.model import SourceKind as K
from analyzer.settings import Limits

VMSNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
HANDLER = f"var/lib/waagent/{VMSNAP}-1.0.9225.0"

CASES = [
    # waagent.log and rotations
    ("var/log/waagent.log", K.WAAGENT_LOG),
    ("var/log/waagent.log.1", K.WAAGENT_LOG),
    ("var/log/waagent.log.3.gz", K.WAAGENT_LOG),
    ("var/log/waagent.log-2024-01-31-1706659200.gz", K.WAAGENT_LOG),
    ("var/log/waagent.log-20240131", K.WAAGENT_LOG),
    ("waagent.log", K.WAAGENT_LOG),
    ("waagent.log.1.gz", K.WAAGENT_LOG),
    ("waagent.log-2024-01-31-1706659200.gz", K.WAAGENT_LOG),
    # goal state and friends, old top-level and 2.8+ history layouts
    ("var/lib/waagent/GoalState.3.xml", K.GOAL_STATE),
    ("var/lib/waagent/GoalState.1.xml", K.GOAL_STATE),
    ("GoalState.3.xml", K.GOAL_STATE),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/GoalState.xml", K.GOAL_STATE),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/ExtensionsConfig.xml", K.EXTENSIONS_CONFIG),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/VmSettings.json", K.VM_SETTINGS),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/SharedConfig.xml", K.SHARED_CONFIG),
    (
        "var/lib/waagent/history/2024-01-31T10-00-00__3/HostingEnvironmentConfig.xml",
        K.HOSTING_ENV,
    ),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/waagent_status.json", K.WAAGENT_STATUS),
    (f"var/lib/waagent/history/2024-01-31T10-00-00__3/{VMSNAP}.manifest.xml", K.OTHER),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/Certificates.json", K.OTHER),
    ("var/lib/waagent/ExtensionsConfig.3.xml", K.EXTENSIONS_CONFIG),
    ("var/lib/waagent/HostingEnvironmentConfig.xml", K.HOSTING_ENV),
    ("var/lib/waagent/SharedConfig.xml", K.SHARED_CONFIG),
    ("var/lib/waagent/VmSettings.7.json", K.VM_SETTINGS),
    ("var/lib/waagent/waagent_status.json", K.WAAGENT_STATUS),
    ("var/lib/waagent/waagent_status.3.json", K.WAAGENT_STATUS),
    # per-handler files
    (f"{HANDLER}/config/HandlerState", K.HANDLER_STATE),
    (f"{HANDLER}/config/MyExt.HandlerState", K.HANDLER_STATE),
    (f"{HANDLER}/config/HandlerStatus", K.HANDLER_STATUS),
    (f"{HANDLER}/status/0.status", K.EXTENSION_STATUS),
    (f"{HANDLER}/status/MyExt.12.status", K.EXTENSION_STATUS),
    (f"{HANDLER}/status/0_status", K.EXTENSION_STATUS),
    (f"{HANDLER}/config/0.settings", K.EXTENSION_SETTINGS),
    (f"{HANDLER}/config/3_settings", K.EXTENSION_SETTINGS),
    (f"{HANDLER}/HandlerManifest.json", K.HANDLER_MANIFEST),
    (f"{HANDLER}/HandlerEnvironment.json", K.HANDLER_ENVIRONMENT),
    (f"{HANDLER}/heartbeat.log", K.OTHER),
    # configuration
    ("etc/waagent.conf", K.WAAGENT_CONF),
    ("etc/azure/vmbackup.conf", K.VMBACKUP_CONF),
    # DHCP leases
    ("var/lib/dhcp/dhclient.eth0.leases", K.DHCP_LEASE),
    ("var/lib/dhclient/dhclient-eth0.leases", K.DHCP_LEASE),
    ("var/lib/NetworkManager/internal-abc-eth0.lease", K.DHCP_LEASE),
    ("run/systemd/netif/leases/2", K.DHCP_LEASE),
    ("var/lib/wicked/lease-eth0-dhcp-ipv4.xml", K.DHCP_LEASE),
    ("dhclient.eth0.leases", K.DHCP_LEASE),
    # collector
    ("results.txt", K.COLLECTOR_RESULTS),
    ("var/lib/waagent/logcollector/results.txt", K.COLLECTOR_RESULTS),
    ("var/tmp/results.txt", K.OTHER),
    # /var/log/azure
    (
        "var/log/azure/Microsoft.Azure.Extensions.CustomScript/CommandExecution.log",
        K.COMMAND_EXECUTION_LOG,
    ),
    (
        "var/log/azure/Microsoft.CPlat.Core.RunCommandHandlerLinux/CommandExecution_ext1.log",
        K.COMMAND_EXECUTION_LOG,
    ),
    (
        "var/log/azure/Microsoft.Azure.Extensions.CustomScript/CommandExecution.log-20240131.gz",
        K.COMMAND_EXECUTION_LOG,
    ),
    (f"var/log/azure/{VMSNAP}/extension.log", K.VMSNAPSHOT_LOG),
    (f"var/log/azure/{VMSNAP}/extension.log.1", K.VMSNAPSHOT_LOG),
    (f"var/log/azure/{VMSNAP}/extension.log-2024-01-31-1706659200.gz", K.VMSNAPSHOT_LOG),
    (f"var/log/azure/{VMSNAP}/1.0.9225.0/extension.log", K.VMSNAPSHOT_LOG),
    (f"var/log/azure/{VMSNAP}/shell.log", K.VMSNAPSHOT_SHELL_LOG),
    (f"var/log/azure/{VMSNAP}/shell.log.2", K.VMSNAPSHOT_SHELL_LOG),
    (f"var/log/azure/{VMSNAP}/CommandExecution.log", K.COMMAND_EXECUTION_LOG),
    ("var/log/azure/custom-script/handler.log", K.EXTENSION_LOG),
    ("var/log/azure/run-command/handler.log", K.EXTENSION_LOG),
    ("var/log/azure/Microsoft.Azure.Monitor.AzureMonitorLinuxAgent/mdsd.log", K.EXTENSION_LOG),
    (
        "var/log/azure/Microsoft.Azure.Extensions.CustomScript/events/1706659200.json",
        K.EXTENSION_EVENTS,
    ),
    ("var/log/azure/Microsoft.Azure.Extensions.CustomScript/status.txt", K.OTHER),
    ("azure/custom-script/handler.log", K.EXTENSION_LOG),
    # agent state
    ("var/lib/waagent/WALinuxAgent-2.9.1.1/error.json", K.AGENT_ERROR_JSON),
    ("var/lib/waagent/current_version", K.AGENT_SENTINEL),
    # secrets: listed, never read
    ("var/lib/waagent/1234ABCD.prv", K.SECRET),
    ("var/lib/waagent/1234ABCD.crt", K.SECRET),
    ("var/lib/waagent/Certificates.pem", K.SECRET),
    ("var/lib/waagent/Certificates.pfx", K.SECRET),
    ("var/lib/waagent/Certificates.p7m", K.SECRET),
    ("var/lib/waagent/Certificates.xml", K.SECRET),
    ("var/lib/waagent/TransportPrivate.pem", K.SECRET),
    ("var/lib/waagent/ovf-env.xml", K.SECRET),
    ("var/lib/waagent/CustomData", K.SECRET),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3/RemoteAccess.xml", K.SECRET),
    ("etc/shadow", K.SECRET),
    # archives the walker descends into
    ("var/lib/waagent/logcollector/logs.zip", K.ARCHIVE),
    ("var/lib/waagent/history/2024-01-31T10-00-00__3.zip", K.ARCHIVE),
    ("case.tgz", K.ARCHIVE),
    ("case.tar.gz", K.ARCHIVE),
    ("case.tar.xz", K.ARCHIVE),
    ("case.TAR", K.ARCHIVE),
    # everything else
    # System logs carry copies of agent lines plus kernel OOM kills and systemd refusals.
    ("var/log/syslog", K.SYSTEM_LOG),
    ("var/log/syslog.2.gz", K.SYSTEM_LOG),
    ("var/log/messages-20240101", K.SYSTEM_LOG),
    ("var/log/dpkg.log", K.OTHER),
    ("var/lib/waagent/events/1478123456789000.tld", K.OTHER),
]


@pytest.mark.parametrize(("path", "kind"), CASES)
def test_classify(path: str, kind: str) -> None:
    assert classify(path) == kind


def test_refine_goal_state_placeholder() -> None:
    assert refine_kind(K.GOAL_STATE, b"<xml>empty placeholder file</xml>") == (
        K.GOAL_STATE_PLACEHOLDER
    )
    assert refine_kind(K.GOAL_STATE, b"\xef\xbb\xbf<xml>empty placeholder file</xml>\r\n") == (
        K.GOAL_STATE_PLACEHOLDER
    )
    assert refine_kind(K.GOAL_STATE, b"<GoalState/>") == K.GOAL_STATE
    # only goal states are refined
    assert refine_kind(K.EXTENSIONS_CONFIG, b"<xml>empty placeholder file</xml>") == (
        K.EXTENSIONS_CONFIG
    )


def test_caps_by_kind() -> None:
    limits = Limits()
    assert member_cap(K.GOAL_STATE, limits) == limits.max_xml_bytes
    assert member_cap(K.WAAGENT_LOG, limits) == limits.max_member_bytes
    assert member_cap(K.ARCHIVE, limits) == limits.max_nested_bytes


def test_strip_archive_suffix() -> None:
    assert strip_archive_suffix("h/2024__3.zip") == "h/2024__3"
    assert strip_archive_suffix("a/case.tar.gz") == "a/case"
