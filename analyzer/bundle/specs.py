"""Where the VM's files live, and which of them are secrets: defined once in
``analyzer/onvm/specs.py`` (Python 3.6+, so the on-VM zipapp ships the same list) and
re-exported here for the walker's classifier, ``self-check`` and ``collect``.
"""

from analyzer.onvm.specs import (
    AGENT_LIB,
    AGENT_LOGS,
    DHCP_LEASE_FOLDERS,
    DHCP_LEASE_GLOBS,
    EXTENSION_LOGS,
    LIVE_PATHS,
    VMBACKUP_CONF,
    WAAGENT_CONF,
    secret_reason,
)

__all__ = [
    "AGENT_LIB",
    "AGENT_LOGS",
    "DHCP_LEASE_FOLDERS",
    "DHCP_LEASE_GLOBS",
    "EXTENSION_LOGS",
    "LIVE_PATHS",
    "NON_LOG_TREES",
    "OTHER_PROGRAM_LOGS",
    "VMBACKUP_CONF",
    "WAAGENT_CONF",
    "secret_reason",
]

NON_LOG_TREES = (
    "var/lib", "usr", "opt", "proc", "sys", "boot", "lib", "lib64", "bin", "sbin", "dev", "etc",
    "run", "snap", "root", "home",
)
"""Folders of a VM that hold packages, state and configuration, not logs: a file there whose
name no classifier rule knows is never taken for a log by its content."""

OTHER_PROGRAM_LOGS = (
    "var/log/cloud-init*", "var/log/auth.log*", "var/log/secure*", "var/log/dpkg.log*",
    "var/log/yum.log*", "var/log/dnf*", "var/log/apt/*", "var/log/audit/*", "var/log/sa/*",
    "var/log/journal/*", "var/log/lastlog", "var/log/wtmp*", "var/log/btmp*", "var/log/faillog",
    "var/log/cron*", "var/log/maillog*", "var/log/mail.*", "var/log/alternatives.log*",
    "var/log/installer/*", "var/log/Xorg*",
)
"""Logs of other programs in /var/log: their names say what they are, their content is not
read to find agent lines (``*`` spans folders here)."""
