"""Where the VM's files live, and which of them are secrets: one list for the walker's
classifier, ``self-check`` and ``collect`` alike (as insights-core keeps its specs).

Paths are relative to the VM's root (``/``), ``/``-separated; a component may be a glob.

>>> secret_reason("var/lib/waagent/Certificates.pem")
'certificate or private key'
>>> secret_reason("var/lib/waagent/ovf-env.xml")
'provisioning data (passwords)'
>>> secret_reason("var/log/waagent.log") is None
True
"""

from __future__ import annotations

import re

WAAGENT_CONF = "etc/waagent.conf"
VMBACKUP_CONF = "etc/azure/vmbackup.conf"
AGENT_LIB = "var/lib/waagent"
AGENT_LOGS = "var/log/waagent.log*"
EXTENSION_LOGS = "var/log/azure"

DHCP_LEASE_GLOBS = (
    "var/lib/dhcp/dhclient*.leases",
    "var/lib/dhclient/*.lease",
    "var/lib/dhclient/*.leases",
    "var/lib/NetworkManager/*.lease",
    "run/systemd/netif/leases/*",
    "var/lib/wicked/lease-*-dhcp-ipv4.xml",
)
"""Lease files the agent itself and its full log collector look at (Ubuntu dhclient, RHEL
dhclient, NetworkManager, systemd-networkd, SUSE wicked)."""

DHCP_LEASE_FOLDERS = tuple(sorted({glob.rsplit("/", 1)[0] for glob in DHCP_LEASE_GLOBS}))

LIVE_PATHS = (
    AGENT_LIB,
    AGENT_LOGS,
    EXTENSION_LOGS,
    WAAGENT_CONF,
    VMBACKUP_CONF,
    *DHCP_LEASE_FOLDERS,
)
"""What ``self-check`` walks on the VM: what the agent's own collector reads."""

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

_SECRET_FILES: tuple[tuple[str, str], ...] = (
    (r"[^/]*\.(?:prv|pem|pfx|p7m|p12|crt|cer|key)", "certificate or private key"),
    (r"Certificates(?:\.\d+)?\.xml", "tenant certificates"),
    (r"ovf-env\.xml", "provisioning data (passwords)"),
    (r"CustomData", "custom data"),
    (r"RemoteAccess[^/]*", "remote access accounts"),
    (r"ManagedIdentity-[^/]*", "credentials"),
    (r"ssh_host_[^/]*_key", "host private key"),
    (r"etc/g?shadow-?", "password hashes"),
)
_SECRET = [
    (re.compile(r"(?:^|/)(?:" + pattern + r")$", re.IGNORECASE), reason)
    for pattern, reason in _SECRET_FILES
]


def secret_reason(path: str) -> str | None:
    """Why the file at ``path`` (any prefix; a trailing ``.gz`` is looked through) must never
    be read, or None. The one secrets predicate: the classifier lists such members without
    reading them, ``collect`` never opens them."""
    for candidate in (path, path[:-3] if path.lower().endswith(".gz") else None):
        if candidate is None:
            continue
        for pattern, reason in _SECRET:
            if pattern.search(candidate):
                return reason
    return None
