"""Map a member's logical path to a ``SourceKind``.

Classification is by name only (``classify``); the one case that needs content, the 2.8+
``GoalState.1.xml`` placeholder, is handled by ``refine_kind`` on the member's first bytes.

Names are matched on their tail where that is unambiguous, so flat folders and single files
(``waagent.log.1.gz``, ``GoalState.3.xml``) classify like their ``var/...`` counterparts.
A trailing ``.gz`` is ignored for everything but archives (``waagent.log-2024-01-31-1706659200.gz``
is a waagent log; the walker decompresses it).

>>> classify("var/log/waagent.log.3.gz")
'waagent_log'
>>> classify("var/lib/waagent/history/2024-01-31T10-00-00__3/ExtensionsConfig.xml")
'extensions_config'
>>> classify("var/lib/waagent/Certificates.pem")
'secret'
"""

from __future__ import annotations

import re

from analyzer.settings import Limits

from .model import SourceKind as K
from .sniff import head_text, looks_like_log_text, sniff_content
from .specs import NON_LOG_TREES, OTHER_PROGRAM_LOGS, secret_reason

# Rotation suffixes: ".1", "-20240131", "-2024-01-31-1706659200", optionally followed by ".N".
_ROT = r"(?:-\d{8}(?:-\d+)?|-\d{4}-\d{2}-\d{2}(?:-\d+)?)?(?:\.\d+)?"
# /var/log/azure, or an "azure/" folder at the top (tarball made with ``-C /var/log azure``).
_AZ = r"(?:(?:^|/)var/log/|^)azure/"
_VMSNAP = r"Microsoft\.Azure\.RecoveryServices\.VMSnapshotLinux"

_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")

# Ordered: the first match wins.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"(?:^|/)waagent\.log" + _ROT + r"$", K.WAAGENT_LOG),
        (_AZ + r"[^/]+/(?:[^/]+/)*events/[^/]+\.json$", K.EXTENSION_EVENTS),
        (_AZ + _VMSNAP + r"/(?:[^/]+/)?extension\.log" + _ROT + r"$", K.VMSNAPSHOT_LOG),
        (_AZ + _VMSNAP + r"/(?:[^/]+/)?shell\.log" + _ROT + r"$", K.VMSNAPSHOT_SHELL_LOG),
        (
            _AZ + r"[^/]+/(?:[^/]+/)?CommandExecution[^/]*\.log" + _ROT + r"$",
            K.COMMAND_EXECUTION_LOG,
        ),
        (_AZ + r"(?:[^/]+/)*[^/]+\.log" + _ROT + r"$", K.EXTENSION_LOG),
        (
            r"(?:^|/)(?:syslog|messages|kern\.log|daemon\.log)" + _ROT + r"$"
            r"|(?:^|/)journal[^/]*\.(?:txt|log)$"
            r"|(?:^|/)(?:serial|console)[^/]*\.(?:txt|log)$"
            # /var/log/dmesg (written at boot) and saved ``dmesg``/``dmesg -T`` output.
            r"|(?:^|/)dmesg(?:\.\d+|\.txt|\.log)?$",
            K.SYSTEM_LOG,
        ),
        (r"(?:^|/)GoalState(?:\.\d+)?\.xml$", K.GOAL_STATE),
        (r"(?:^|/)ExtensionsConfig(?:\.\d+)?\.xml$", K.EXTENSIONS_CONFIG),
        (r"(?:^|/)HostingEnvironmentConfig(?:\.\d+)?\.xml$", K.HOSTING_ENV),
        (r"(?:^|/)SharedConfig(?:\.\d+)?\.xml$", K.SHARED_CONFIG),
        (r"(?:^|/)VmSettings(?:\.\d+)?\.json$", K.VM_SETTINGS),
        (r"(?:^|/)waagent_status(?:\.\d+)?\.json$", K.WAAGENT_STATUS),
        (r"(?:^|/)(?:[^/]+\.)?HandlerState$", K.HANDLER_STATE),
        (r"(?:^|/)(?:[^/]+\.)?HandlerStatus$", K.HANDLER_STATUS),
        (r"(?:^|/)(?:(?:[^/]+\.)?\d+\.status|\d+_status)$", K.EXTENSION_STATUS),
        (r"(?:^|/)(?:(?:[^/]+\.)?\d+\.settings|\d+_settings)$", K.EXTENSION_SETTINGS),
        (r"(?:^|/)HandlerManifest\.json$", K.HANDLER_MANIFEST),
        (r"(?:^|/)HandlerEnvironment\.json$", K.HANDLER_ENVIRONMENT),
        (r"(?:^|/)waagent\.conf$", K.WAAGENT_CONF),
        (r"(?:^|/)vmbackup\.conf$", K.VMBACKUP_CONF),
        (
            r"(?:^|/)dhclient[^/]*\.leases?$"
            r"|(?:^|/)var/lib/(?:dhcp|dhclient)/[^/]+\.leases?$"
            r"|(?:^|/)var/lib/NetworkManager/[^/]+\.lease$"
            r"|(?:^|/)run/systemd/netif/leases/[^/]+$"
            r"|(?:^|/)var/lib/wicked/lease-[^/]+\.xml$",
            K.DHCP_LEASE,
        ),
        (r"^results\.txt$|(?:^|/)var/lib/waagent/logcollector/results\.txt$", K.COLLECTOR_RESULTS),
        # Written by `waagent-analyzer collect` at the bundle root: the live self-check facts.
        (r"^self-check\.json$", K.LIVE_FACTS),
        (r"(?:^|/)WALinuxAgent-[^/]+/error\.json$", K.AGENT_ERROR_JSON),
        (r"^current_version$|(?:^|/)var/lib/waagent/current_version$", K.AGENT_SENTINEL),
    )
)

# Windows guest agent layouts (docs/windows-formats.md): the same names whatever sits in front
# (``C:/``, a drive folder of a rescue-VM copy, a case folder) and in any letter case, because
# Windows file names are case-insensitive and collectors write both ``Plugins`` and ``plugins``.
_WINDOWS_SECRET = re.compile(
    r"(?i)(?:^|/)(?:AzureData/CustomData\.bin|unattend\.xml|Panther/unattend\.xml)$"
)
_WINDOWS_PACKAGES = re.compile(r"(?i)(?:^|/)Packages/Plugins/")
_WINDOWS_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"(?i)(?:^|/)WaAppAgent(?:\.\d+)?\.log(?:\.\d+)?$", K.WINDOWS_AGENT_LOG),
        (r"(?i)(?:^|/)TransparentInstaller(?:\.\d+)?\.log(?:\.\d+)?$", K.WINDOWS_INSTALLER_LOG),
        # Logs/Plugins/<Publisher.Type>/<version>/...: the collector may drop "WindowsAzure/"
        # or even "Logs/"; C:/Packages/Plugins/... (the packages) is excluded by the caller.
        (r"(?i)(?:^|/)Plugins/[^/]+/\d+(?:\.\d+)+/(?:[^/]+/)*[^/]+\.log$", K.WINDOWS_PLUGIN_LOG),
        (r"(?i)(?:^|/)AggregateStatus/aggregatestatus[^/]*\.json$", K.WINDOWS_AGGREGATE_STATUS),
    )
)


def classify_windows(path: str) -> str | None:
    """The Windows guest agent's kinds, or None when the path is none of them.

    >>> classify_windows("WindowsAzure/Logs/WaAppAgent.log")
    'windows_agent_log'
    >>> classify_windows("case/F/windowsazure/logs/plugins/Microsoft.Compute.BGInfo/2.1/"
    ...                  "CommandExecution.log")
    'windows_plugin_log'
    >>> classify_windows("Packages/Plugins/Microsoft.Compute.BGInfo/2.1/DSCWork/x.log") is None
    True
    """
    if _WINDOWS_SECRET.search(path):
        return K.SECRET
    for pattern, kind in _WINDOWS_RULES:
        if pattern.search(path):
            if kind == K.WINDOWS_PLUGIN_LOG and _WINDOWS_PACKAGES.search(path):
                return None
            return kind
    return None


DOCUMENT_KINDS = frozenset(
    {
        K.GOAL_STATE,
        K.GOAL_STATE_PLACEHOLDER,
        K.EXTENSIONS_CONFIG,
        K.HOSTING_ENV,
        K.SHARED_CONFIG,
        K.VM_SETTINGS,
        K.WAAGENT_STATUS,
        K.HANDLER_STATE,
        K.HANDLER_STATUS,
        K.EXTENSION_STATUS,
        K.EXTENSION_SETTINGS,
        K.HANDLER_MANIFEST,
        K.HANDLER_ENVIRONMENT,
        K.WAAGENT_CONF,
        K.VMBACKUP_CONF,
        K.DHCP_LEASE,
        K.AGENT_ERROR_JSON,
        K.AGENT_SENTINEL,
        K.EXTENSION_EVENTS,
        K.LIVE_FACTS,
        K.WINDOWS_AGGREGATE_STATUS,
    }
)
"""Small structured files (XML, JSON, config, leases): capped at ``Limits.max_xml_bytes``."""

READ_KINDS = DOCUMENT_KINDS | K.LOG_KINDS | {K.COLLECTOR_RESULTS}
"""Kinds the analyzer parses: the walker peeks at them, checks their declared size and counts
them as members read. ``OTHER`` members are only listed (and read on demand)."""

GOAL_STATE_PLACEHOLDER_TEXT = b"<xml>empty placeholder file</xml>"


def is_archive_name(path: str) -> bool:
    """``.zip``/``.tar*``/``.tgz``/``.txz`` (case-insensitive)."""
    return path.lower().endswith(_ARCHIVE_SUFFIXES)


def strip_archive_suffix(path: str) -> str:
    """``.../history/2024-01-31T10-00-00__3.zip`` -> ``.../history/2024-01-31T10-00-00__3``:
    where the archive's relative members would be if it were unpacked in place."""
    lower = path.lower()
    for suffix in sorted(_ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return path[: -len(suffix)]
    return path


def classify(logical_path: str) -> str:
    """The ``SourceKind`` of a member, from its logical path.

    >>> classify("waagent.log-2024-01-31-1706659200.gz")
    'waagent_log'
    >>> classify("var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.13/status/0.status")
    'extension_status'
    >>> classify("var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/shell.log")
    'vmsnapshot_shell_log'
    >>> classify("var/lib/waagent/logcollector/logs.zip")
    'archive'
    >>> classify("var/log/syslog.1")
    'system_log'
    >>> classify("var/log/cloud-init.log")
    'other'
    """
    path = logical_path
    if secret_reason(path) is not None:
        return K.SECRET
    if is_archive_name(path):
        return K.ARCHIVE
    if path.endswith(".gz"):
        path = path[:-3]
    for pattern, kind in _RULES:
        if pattern.search(path):
            return kind
    return classify_windows(path) or K.OTHER


def refine_kind(kind: str, head: bytes) -> str:
    """Adjust a name-based kind with the member's first bytes.

    Agent 2.8+ keeps ``GoalState.1.xml`` as a placeholder whose whole content is
    ``<xml>empty placeholder file</xml>``; it is not a goal state.

    >>> refine_kind("goal_state_xml", b"<xml>empty placeholder file</xml>\\n")
    'goal_state_placeholder'
    >>> refine_kind("goal_state_xml", b"<?xml version='1.0'?><GoalState/>")
    'goal_state_xml'
    """
    if kind == K.GOAL_STATE:
        body = head.removeprefix(b"\xef\xbb\xbf").strip()
        if body == GOAL_STATE_PLACEHOLDER_TEXT:
            return K.GOAL_STATE_PLACEHOLDER
    return kind


def member_cap(kind: str, limits: Limits) -> int:
    """Per-member byte cap (decompressed) for a kind."""
    if kind in DOCUMENT_KINDS:
        return limits.max_xml_bytes
    if kind == K.ARCHIVE:
        return limits.max_nested_bytes
    return limits.max_member_bytes


def cap_name(kind: str) -> str:
    """How the cap of ``member_cap`` is called in problem messages."""
    if kind in DOCUMENT_KINDS:
        return "document limit"
    if kind == K.ARCHIVE:
        return "nested-archive limit"
    return "per-member limit"


# -- names and content together -----------------------------------------------------------------
# ``classify`` knows where the VM keeps each file. A ticket attachment (``messages.txt``,
# ``waagent.log.txt``, an ``extension.log`` taken out of its folder, ``excerpt.txt``) is at no such
# place: its base name may still hint, and its first lines (``sniff.sniff_content``) decide.

_COPY_SUFFIX = re.compile(r"(?i)(?:[ _-]?\(\d+\)|[ _-]copy)?(?:\.(?:txt|log|out|text))*$")
_NAME_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        (r"^waagent\b", K.WAAGENT_LOG),
        (r"^commandexecution", K.COMMAND_EXECUTION_LOG),
        (r"^(?:syslog|messages|kern|daemon|journal|journalctl|serial|console|dmesg|boot-?diag)",
         K.SYSTEM_LOG),
        (r"^shell\b", K.VMSNAPSHOT_SHELL_LOG),
        (r"^(?:extension|handler)\b", K.EXTENSION_LOG),
    )
)

# Content may replace a kind the name gave only where the parsers would otherwise misread the
# lines: syslog-wrapped lines in a file named waagent.log, a backup extension log in an
# ``extension.log`` of no known folder. A system log holding mostly agent lines (a console
# capture) stays a system log; agent rules see its agent lines there too.
_CONTENT_MAY_REPLACE: dict[str, frozenset[str]] = {
    K.WAAGENT_LOG: frozenset({K.SYSTEM_LOG, K.EXTENSION_LOG, K.VMSNAPSHOT_LOG,
                              K.VMSNAPSHOT_SHELL_LOG, K.WINDOWS_AGENT_LOG}),
    K.SYSTEM_LOG: frozenset({K.EXTENSION_LOG, K.VMSNAPSHOT_LOG, K.VMSNAPSHOT_SHELL_LOG,
                             K.WINDOWS_AGENT_LOG}),
    K.EXTENSION_LOG: frozenset({K.SYSTEM_LOG, K.VMSNAPSHOT_LOG, K.VMSNAPSHOT_SHELL_LOG}),
    K.COMMAND_EXECUTION_LOG: frozenset({K.SYSTEM_LOG}),
    K.VMSNAPSHOT_SHELL_LOG: frozenset({K.SYSTEM_LOG, K.WAAGENT_LOG, K.EXTENSION_LOG,
                                       K.VMSNAPSHOT_LOG}),
}
CONTENT_CHECKED_KINDS = frozenset(_CONTENT_MAY_REPLACE)
"""Kinds given by a name whose member's head is still read to check the name."""

# Where a VM keeps files that are not logs (packages, state, scripts), and logs of other
# programs (``specs.py``): their content is never taken for an agent source.
_NOT_SNIFFED_TREES = re.compile(
    r"^(?:" + "|".join(re.escape(tree) for tree in NON_LOG_TREES) + r")/"
    r"|(?:^|/)(?:"
    + "|".join(re.escape(glob).replace(r"\*", ".*") for glob in OTHER_PROGRAM_LOGS)
    + r")$"
)
_NOT_TEXT_SUFFIX = re.compile(
    r"(?i)\.(?:py|pyc|pyo|sh|so|a|o|ko|deb|rpm|whl|egg|jar|png|jpe?g|gif|bmp|ico|svg|pdf|exe"
    r"|dll|msi|ps1|psm1|psd1|bat|cmd|html?|css|js|db|sqlite|bin|dat|img|iso|vhdx?|pem|key"
    r"|crt|cer|pfx|p7m|prv|docx?|xlsx?|pptx?)(?:\.gz)?$"
)


def name_hint(logical_path: str) -> str:
    """The kind a loose file's base name suggests (``messages.txt``, ``waagent.log.txt``,
    ``extension.log``), or ``""``.

    >>> name_hint("ticket/messages (1).txt"), name_hint("case/waagent.log.txt")
    ('system_log', 'waagent_log')
    >>> name_hint("excerpt.txt")
    ''
    """
    base = logical_path.rsplit("/", 1)[-1]
    base = base[:-3] if base.lower().endswith(".gz") else base
    stem = _COPY_SUFFIX.sub("", base) or base
    for pattern, kind in _NAME_HINTS:
        if pattern.search(stem):
            return kind
    return ""


def content_candidate(logical_path: str) -> bool:
    """A member of no known kind whose head is worth reading: not in a VM folder of packages
    or state, not another program's log, not a binary or script by its suffix."""
    return not (_NOT_SNIFFED_TREES.search(logical_path) or _NOT_TEXT_SUFFIX.search(logical_path))


def decide_kind(name_kind: str, logical_path: str, head: bytes) -> tuple[str, str]:
    """(kind, extension) of a member from its name's kind and its (decompressed) head.

    ``name_kind`` is ``classify``'s answer; for ``OTHER`` the base name may hint, and the
    content decides. The extension is the one whose own log the content says this is.

    >>> decide_kind("other", "excerpt.txt", b"time=2022-02-15T04:13:13Z version=v2 seq=1\\n")
    ('extension_log', '')
    >>> decide_kind("waagent_log", "waagent.log",
    ...             b"Oct 30 00:00:12 vm python3[1]: 2022-10-30T00:00:12.8Z INFO ExtHandler x\\n")
    ('system_log', '')
    >>> decide_kind("other", "notes/README.txt", b"How to build\\n\\nRun make.\\n")
    ('other', '')
    """
    guess = sniff_content(head)
    if name_kind != K.OTHER:
        # An agent log by name keeps its kind while any line opens with the agent's header
        # (a command's output in it may look like a console's).
        agent_named = name_kind in (K.WAAGENT_LOG, K.COMMAND_EXECUTION_LOG)
        if guess.kind in _CONTENT_MAY_REPLACE.get(name_kind, ()) and not (
            agent_named and guess.agent_lines
        ):
            return guess.kind, guess.extension
        return name_kind, guess.extension if name_kind == guess.kind else ""
    hint = name_hint(logical_path)
    if hint:
        # A loose name is a weaker word than a VM path: the agent's own headers (G1-G4) also
        # override an ``extension.log`` someone saved the agent's log as.
        agent_headers = guess.kind == K.WAAGENT_LOG and guess.agent_lines > 0
        if guess.kind and (guess.kind in _CONTENT_MAY_REPLACE.get(hint, ()) or (
            agent_headers and hint in (K.EXTENSION_LOG, K.VMSNAPSHOT_SHELL_LOG)
        )):
            return guess.kind, guess.extension
        if guess.kind or looks_like_log_text(head_text(head)):
            extension = guess.extension if guess.kind == hint else ""
            return hint, extension
        return K.OTHER, ""
    if guess.kind:
        return guess.kind, guess.extension
    return K.OTHER, ""
