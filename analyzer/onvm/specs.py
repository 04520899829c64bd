"""Where the VM's files live, and which of them are secrets: one list for the walker's
classifier, ``self-check`` (full tool and zipapp) and ``collect`` (both) alike, as
insights-core keeps its specs (Python 3.6+, stdlib only: the zipapp ships this module and
``analyzer/bundle/specs.py`` re-exports it).

Paths are relative to the VM's root (``/``), ``/``-separated; a component may be a glob.

>>> secret_reason("var/lib/waagent/Certificates.pem")
'certificate or private key'
>>> secret_reason("var/lib/waagent/ovf-env.xml")
'provisioning data (passwords)'
>>> secret_reason("var/log/waagent.log") is None
True
"""

import re
from typing import Any  # noqa: F401  (type comments)

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

DHCP_LEASE_FOLDERS = tuple(sorted(set(glob.rsplit("/", 1)[0] for glob in DHCP_LEASE_GLOBS)))

LIVE_PATHS = (
    AGENT_LIB,
    AGENT_LOGS,
    EXTENSION_LOGS,
    WAAGENT_CONF,
    VMBACKUP_CONF,
) + DHCP_LEASE_FOLDERS
"""What ``self-check`` walks on the VM: what the agent's own collector reads."""

_SECRET_FILES = (
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


def secret_reason(path):
    # type: (str) -> Any
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
