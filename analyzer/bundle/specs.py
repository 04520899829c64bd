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
    "VMBACKUP_CONF",
    "WAAGENT_CONF",
    "secret_reason",
]
