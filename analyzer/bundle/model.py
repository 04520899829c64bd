"""What the walker hands to the parsers: one readable member and where it came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

PROVENANCE_SEPARATOR = "!"


class SourceKind:
    """Logical source kinds a member is classified into (plain strings, stable, used in rules)."""

    WAAGENT_LOG = "waagent_log"
    GOAL_STATE = "goal_state_xml"
    GOAL_STATE_PLACEHOLDER = "goal_state_placeholder"
    EXTENSIONS_CONFIG = "extensions_config"
    HOSTING_ENV = "hosting_env_config"
    SHARED_CONFIG = "shared_config"
    VM_SETTINGS = "vm_settings"
    WAAGENT_STATUS = "waagent_status"
    HANDLER_STATE = "handler_state"
    HANDLER_STATUS = "handler_status"
    EXTENSION_STATUS = "extension_status"
    EXTENSION_SETTINGS = "extension_settings"
    HANDLER_MANIFEST = "handler_manifest"
    HANDLER_ENVIRONMENT = "handler_environment"
    WAAGENT_CONF = "waagent_conf"
    VMBACKUP_CONF = "vmbackup_conf"
    DHCP_LEASE = "dhcp_lease"
    COLLECTOR_RESULTS = "collector_results"
    COMMAND_EXECUTION_LOG = "command_execution_log"
    VMSNAPSHOT_LOG = "vmsnapshot_extension_log"
    VMSNAPSHOT_SHELL_LOG = "vmsnapshot_shell_log"
    EXTENSION_LOG = "extension_log"
    EXTENSION_EVENTS = "extension_events"
    SYSTEM_LOG = "system_log"
    """syslog, /var/log/messages, journal exports, serial-console captures: copies of agent
    lines plus kernel and systemd lines (OOM kills, refused restarts)."""
    AGENT_ERROR_JSON = "agent_error_json"
    AGENT_SENTINEL = "agent_sentinel"
    LIVE_FACTS = "live_facts"
    # Windows guest agent (C:\WindowsAzure, C:\Packages): see docs/windows-formats.md.
    WINDOWS_AGENT_LOG = "windows_agent_log"
    """``WindowsAzure/Logs/WaAppAgent.log`` (WindowsAzureGuestAgent.exe)."""
    WINDOWS_INSTALLER_LOG = "windows_installer_log"
    """``WindowsAzure/Logs/TransparentInstaller.log`` (RdAgent's installer / updater)."""
    WINDOWS_PLUGIN_LOG = "windows_plugin_log"
    """``WindowsAzure/Logs/Plugins/<Publisher.Type>/<version>/*.log`` (CommandExecution.log,
    the backup extension's ``IaaSBcdrExtension*.log``, ...)."""
    WINDOWS_AGGREGATE_STATUS = "windows_aggregate_status"
    """``WindowsAzure/Logs/AggregateStatus/aggregatestatus*.json`` (the status blob)."""
    SECRET = "secret"
    ARCHIVE = "archive"
    OTHER = "other"

    LOG_KINDS = frozenset(
        {
            WAAGENT_LOG,
            COMMAND_EXECUTION_LOG,
            VMSNAPSHOT_LOG,
            VMSNAPSHOT_SHELL_LOG,
            EXTENSION_LOG,
            SYSTEM_LOG,
            WINDOWS_AGENT_LOG,
            WINDOWS_INSTALLER_LOG,
            WINDOWS_PLUGIN_LOG,
        }
    )

    WINDOWS_LOG_KINDS = frozenset({WINDOWS_AGENT_LOG, WINDOWS_INSTALLER_LOG, WINDOWS_PLUGIN_LOG})


@dataclass
class Member:
    """One regular file found in the input, at any nesting level.

    ``open()`` returns a byte stream that counts every byte against the bundle's budgets and
    is already decompressed when the member itself is a gzip file (``waagent.log.1.gz``).
    For members of a streamed tar the stream is valid only until the walker yields the next
    member: read what you need inside the loop body.
    """

    provenance: str
    """Full nesting path, e.g.
    ``case.tgz!var/lib/waagent/logcollector/logs.zip!var/log/waagent.log``."""
    logical_path: str
    """Normalised path of the file on the VM, without leading ``/`` or case folder,
    e.g. ``var/log/waagent.log``. ``truncated_var_log_waagent.log`` maps to
    ``var/log/waagent.log``."""
    kind: str
    """One of the ``SourceKind`` values."""
    size: int
    """Size as stored in the container (decompressed size is known only after reading)."""
    depth: int = 0
    compressed: bool = False
    """The member is a gzip file that ``open()`` decompresses."""
    collector_truncated: bool = False
    """The agent's log collector kept only the tail of this file (``truncated_*`` name): its
    first line is probably cut."""
    mtime: float | None = None
    extension: str = ""
    """The extension (``Publisher.Type``) whose own log this member is, when its content names
    it (a handler log outside its ``/var/log/azure/<Name>/`` folder); ``""`` otherwise."""
    problems: list[str] = field(default_factory=list)
    opener: Callable[[], BinaryIO] | None = field(default=None, repr=False, compare=False)

    def open(self) -> BinaryIO:
        if self.opener is None:
            raise ValueError(f"{self.provenance}: member has no content")
        return self.opener()
