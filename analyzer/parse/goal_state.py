"""Goal-state documents: GoalState, ExtensionsConfig, vmSettings, HostingEnvironmentConfig,
SharedConfig (waagent-formats.md section 3), and where a cached copy sits in ``history/``.

One ``GoalStateRow`` per document; ExtensionsConfig and vmSettings also give one
``ExtensionRow`` per requested handler (and per extension of a multi-config handler).
Protected settings and SAS URLs are never copied into a row: only the *names* of public
settings and a few backup-relevant public values (through :func:`backup_settings`).

>>> info = history_info("var/lib/waagent/history/2024-01-31T10-00-00__3-541/GoalState.xml")
>>> info.incarnation, info.etag, info.timestamp.isoformat()
('3', '541', '2024-01-31T10:00:00+00:00')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml import etree

from analyzer.bundle.model import PROVENANCE_SEPARATOR, SourceKind
from analyzer.parse.errors import ParseError
from analyzer.parse.rows import ExtensionRow, GoalStateRow
from analyzer.parse.timeutil import FIRST_YEAR, LAST_YEAR, iso_utc
from analyzer.parse.xmlsafe import (
    attr,
    child,
    child_text,
    children,
    load_json,
    local_name,
    parse_xml,
)
from analyzer.redact import redact_text
from analyzer.settings import DEFAULT_LIMITS

_MAX_XML = DEFAULT_LIMITS.max_xml_bytes


@dataclass
class GoalStateResult:
    """What one ExtensionsConfig / vmSettings document yields."""

    goal_states: list[GoalStateRow] = field(default_factory=list)
    extensions: list[ExtensionRow] = field(default_factory=list)


# --- time helpers (shared with status.py and events.py) -----------------------------------

_TICKS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_DOTNET_DATE = re.compile(r"^\\?/Date\((-?\d{1,15})\)\\?/$")


def ticks_to_datetime(ticks: str | int | None) -> datetime | None:
    """.NET ticks (100 ns since 0001-01-01 UTC) to an aware datetime; None if unusable.

    >>> ticks_to_datetime("638852747570627097").isoformat()
    '2025-06-11T21:39:17.062709+00:00'
    """
    try:
        value = int(str(ticks).strip())
        return _TICKS_EPOCH + timedelta(microseconds=value // 10)
    except (ValueError, OverflowError):
        return None


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 (7 fractional digits allowed, no zone = UTC) or ``/Date(ms)/`` to aware UTC.

    >>> parse_timestamp("2019-12-12T01:20:05.0950244Z").isoformat()
    '2019-12-12T01:20:05.095024+00:00'
    >>> parse_timestamp("\\\\/Date(1559865179380)\\\\/").isoformat()
    '2019-06-06T23:52:59.380000+00:00'
    >>> parse_timestamp("yesterday") is None
    True
    """
    stamp = _parse_timestamp(value)
    return stamp if stamp is not None and FIRST_YEAR <= stamp.year <= LAST_YEAR else None


def _parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    dotnet = _DOTNET_DATE.match(text)
    if dotnet:
        try:
            return datetime.fromtimestamp(int(dotnet.group(1)) / 1000, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    m = _ISO.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    try:
        ts = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    zone = m.group(8)
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        try:
            ts -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        except OverflowError:
            return None
    return ts


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


# --- history paths ------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryInfo:
    """Goal-state identity recovered from a member's path."""

    incarnation: str = ""
    etag: str = ""
    timestamp: datetime | None = None
    """When the agent saved the folder (UTC, from its name)."""


# <ts>[.frac][(_incarnation)?_+<n|status>[-<etag>]][.zip] as one path component (both eras:
# 2.2.31-2.7 "2018-04-06T08:21:37.142697_incarnation_2", 2.8+ "2024-01-31T10-00-00__3-541").
_HISTORY_DIR = re.compile(
    r"(?:^|[/!])(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}[:-]\d{2}[:-]\d{2})(?P<frac>\.\d{1,9})?"
    r"(?:(?:_incarnation)?_+(?P<tag>\d+|status)(?:-(?P<etag>\d+))?)?(?:\.zip)?(?=[/!])"
)
# Legacy per-incarnation cache names (2.0 - 2.7): GoalState.3.xml, waagent_status.3.json, ...
_INCARNATION_FILE = re.compile(
    r"^(?:GoalState|ExtensionsConfig|RemoteAccess|waagent_status|Certificates"
    r"|HostingEnvironmentConfig|SharedConfig)\.(\d{1,18})\.(?:xml|json)$"
)
_VM_SETTINGS_FILE = re.compile(r"^VmSettings\.(\d{1,20})\.json$")
# Incarnations are small counters; HostGAPlugin ETags are 64-bit numbers.
_ETAG_MIN_DIGITS = 11


def history_info(member: str) -> HistoryInfo:
    """Incarnation, ETag and save time from a history folder / zip / cache-file name.

    >>> history_info("x.tgz!history/2024-01-31T10-00-00__3.zip!GoalState.xml").incarnation
    '3'
    >>> h = history_info("history/2018-04-06T08:21:37.142697_incarnation_2/ExtensionsConfig.2.xml")
    >>> h.incarnation, h.timestamp.isoformat()
    ('2', '2018-04-06T08:21:37.142697+00:00')
    >>> history_info("var/lib/waagent/GoalState.7.xml")
    HistoryInfo(incarnation='7', etag='', timestamp=None)
    """
    incarnation = etag = ""
    timestamp = None
    folder = None
    for folder in _HISTORY_DIR.finditer(member):  # noqa: B007 - the innermost folder wins
        pass
    if folder is not None:
        timestamp = _history_timestamp(folder)
        tag = folder.group("tag") or ""
        incarnation = tag if tag.isdigit() else ""
        etag = folder.group("etag") or ""
    base = member.rsplit(PROVENANCE_SEPARATOR, 1)[-1].rsplit("/", 1)[-1]
    by_name = _INCARNATION_FILE.match(base)
    if by_name:
        incarnation = by_name.group(1)
    by_vm_settings = _VM_SETTINGS_FILE.match(base)
    if by_vm_settings:
        number = by_vm_settings.group(1)
        if len(number) >= _ETAG_MIN_DIGITS:
            etag = number
        else:
            incarnation = number
    return HistoryInfo(incarnation=incarnation, etag=etag, timestamp=timestamp)


def _history_timestamp(match: re.Match[str]) -> datetime | None:
    time = match.group("time").replace("-", ":")
    return parse_timestamp(f"{match.group('date')}T{time}{match.group('frac') or ''}Z")


def goal_state_id(incarnation: str = "", etag: str = "") -> str:
    """The agent's own goal-state id: ``etag_<e>`` for vmSettings, else ``incarnation_<n>``."""
    if etag:
        return f"etag_{etag}"
    return f"incarnation_{incarnation}" if incarnation else ""


# --- public settings ----------------------------------------------------------------------

# Public settings worth keeping verbatim: they say what a backup run was asked to do and when.
_BACKUP_KEYS = ("commandToExecute", "vmType", "taskId", "locale")
_MAX_VALUE = 200


def backup_settings(public: Any) -> dict[str, str]:
    """The few public settings that matter for diagnosis, redacted and shortened.

    ``commandStartTimeUTCTicks`` (the start of the 140-minute CRP budget) is converted to
    ``commandStartTimeUTC`` (ISO); ``customSettings`` (a JSON string) keeps
    ``takeSnapshotFrom``/``isManagedVm``. Everything else is dropped.

    >>> backup_settings({"commandToExecute": "snapshot", "objectStr": "eyJ...",
    ...                  "commandStartTimeUTCTicks": "636953997844977993"})
    {'commandToExecute': 'snapshot', 'commandStartTimeUTC': '2019-06-06T06:36:24.497799Z'}
    """
    if not isinstance(public, dict):
        return {}
    kept: dict[str, str] = {}
    for key in _BACKUP_KEYS:
        value = public.get(key)
        if isinstance(value, str | int | float | bool) and value != "":
            kept[key] = redact_text(str(value))[:_MAX_VALUE]
    start = ticks_to_datetime(public.get("commandStartTimeUTCTicks"))
    if start is not None:
        kept["commandStartTimeUTC"] = iso_utc(start)
    custom = public.get("customSettings")
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except (ValueError, RecursionError):
            custom = None
    if isinstance(custom, dict):
        for key in ("takeSnapshotFrom", "isManagedVm"):
            if isinstance(custom.get(key), str | bool | int):
                kept[f"customSettings.{key}"] = str(custom[key])[:_MAX_VALUE]
    return kept


def _settings_summary(handler_settings: Any) -> str:
    """One line describing a handlerSettings object without any secret value."""
    if not isinstance(handler_settings, dict):
        return ""
    public = handler_settings.get("publicSettings")
    if isinstance(public, str):  # vmSettings carries publicSettings as a JSON string
        try:
            public = json.loads(public) if public.strip() else {}
        except (ValueError, RecursionError):
            public = "<invalid JSON>"  # reported below as "not a JSON object"
    parts = []
    if isinstance(public, dict):
        parts.append("public settings keys: " + (", ".join(sorted(map(str, public))) or "none"))
        parts.extend(f"{k}={v}" for k, v in backup_settings(public).items())
    elif public is not None:
        parts.append("public settings: not a JSON object")
    if handler_settings.get("protectedSettings"):
        parts.append("protected settings present")
    return "; ".join(parts)


def _runtime_settings_summary(text: str | None) -> str:
    """Summary of a ``RuntimeSettings`` text: ``{"runtimeSettings": [{"handlerSettings": ..``."""
    if not text or not text.strip():
        return ""
    try:
        doc = json.loads(text)
        handler_settings = doc["runtimeSettings"][0]["handlerSettings"]
    except (ValueError, RecursionError, KeyError, IndexError, TypeError):
        return "runtime settings: not valid JSON of the expected shape"
    return _settings_summary(handler_settings)


# --- GoalState.xml ------------------------------------------------------------------------


def parse_goal_state(data: bytes, member: str, *, max_bytes: int = _MAX_XML) -> list[GoalStateRow]:
    """WireServer GoalState.xml -> one GoalStateRow (none for the 2.8+ placeholder file).

    >>> xml = (b"<GoalState><Incarnation>5</Incarnation><Machine><ExpectedState>Started"
    ...        b"</ExpectedState></Machine><Container><ContainerId>c1</ContainerId>"
    ...        b"<RoleInstanceList><RoleInstance><InstanceId>r1</InstanceId><Configuration>"
    ...        b"<ExtensionsConfig>http://x</ExtensionsConfig></Configuration></RoleInstance>"
    ...        b"</RoleInstanceList></Container></GoalState>")
    >>> row = parse_goal_state(xml, "GoalState.5.xml")[0]
    >>> row.incarnation, row.container_id, row.role_instance, row.details["has_extensions_config"]
    ('5', 'c1', 'r1', True)
    >>> parse_goal_state(b"<xml>empty placeholder file</xml>", "GoalState.1.xml")
    []
    """
    root = parse_xml(data, member, max_bytes)
    if local_name(root) == "xml":  # 2.8.0.11+ placeholder kept for other components
        return []
    _expect_root(root, "GoalState", member)
    hist = history_info(member)
    container = child(root, "Container")
    instance = child(container, "RoleInstanceList", "RoleInstance")
    configuration = child(instance, "Configuration")
    documents = [
        local_name(node)
        for node in (configuration if configuration is not None else ())
        if local_name(node) not in ("ConfigName", "")
    ]
    details: dict[str, Any] = {
        "version": child_text(root, "Version"),
        "expected_state": child_text(root, "Machine", "ExpectedState"),
        "role_instance_state": child_text(instance, "State"),
        "configurations": documents,
        "config_name": child_text(configuration, "ConfigName"),
        "has_extensions_config": "ExtensionsConfig" in documents,
        "has_certificates": "Certificates" in documents,
        "has_remote_access": child(container, "RemoteAccessInfo") is not None,
    }
    return [
        GoalStateRow(
            document="GoalState",
            member=member,
            incarnation=child_text(root, "Incarnation") or hist.incarnation,
            etag=hist.etag,
            timestamp=hist.timestamp,
            container_id=child_text(container, "ContainerId"),
            role_instance=child_text(instance, "InstanceId"),
            details=details,
        )
    ]


def _expect_root(root: etree._Element, name: str, member: str) -> None:
    if local_name(root) != name:
        raise ParseError(f"not a {name} document (root element <{local_name(root)}>)", member)


# --- ExtensionsConfig.xml -----------------------------------------------------------------


@dataclass
class _PluginSettings:
    name: str = ""
    version: str = ""
    sequence: str = ""
    summary: str = ""
    extensions: list[tuple[str, str, str, str]] = field(default_factory=list)
    """Multi-config: (extension name, seqNo, state, summary)."""


def parse_extensions_config(
    data: bytes, member: str, *, max_bytes: int = _MAX_XML
) -> GoalStateResult:
    """ExtensionsConfig.xml (2.2.0 era to today) -> GoalStateRow + one ExtensionRow per Plugin.

    >>> xml = (b'<Extensions goalStateIncarnation="9"><Plugins><Plugin name="A.B" version="1.0"'
    ...        b' state="enabled"/></Plugins><PluginSettings><Plugin name="A.B" version="1.0">'
    ...        b'<RuntimeSettings seqNo="4">{"runtimeSettings":[{"handlerSettings":'
    ...        b'{"protectedSettings":"MIIB","publicSettings":{"k":1}}}]}</RuntimeSettings>'
    ...        b'</Plugin></PluginSettings></Extensions>')
    >>> result = parse_extensions_config(xml, "ExtensionsConfig.9.xml")
    >>> ext = result.extensions[0]
    >>> ext.name, ext.version, ext.state, ext.sequence, ext.goal_state
    ('A.B', '1.0', 'enabled', '4', 'incarnation_9')
    >>> ext.message
    'public settings keys: k; protected settings present'
    """
    root = parse_xml(data, member, max_bytes)
    _expect_root(root, "Extensions", member)
    hist = history_info(member)
    incarnation = attr(root, "goalStateIncarnation") or hist.incarnation
    goal_state = goal_state_id(incarnation)
    meta = child(root, "InVMGoalStateMetaData")
    created = ticks_to_datetime(attr(meta, "createdOnTicks") or None)
    timestamp = hist.timestamp or created
    settings = _collect_plugin_settings(root)

    extensions: list[ExtensionRow] = []
    plugins = child(root, "Plugins")
    seen: set[tuple[str, str]] = set()
    for plugin in children(plugins, "Plugin") if plugins is not None else ():
        name, version = attr(plugin, "name"), attr(plugin, "version")
        key = (name.lower(), version)
        seen.add(key)
        extensions.extend(_plugin_rows(plugin, settings.get(key), member, goal_state, timestamp))

    blob = child(root, "StatusUploadBlob")
    families = _xml_ga_families(root)
    guest_agent = child(root, "GuestAgentExtension")
    details: dict[str, Any] = {
        "ga_families": families,
        "rsm_version": _rsm_version(families),
        "location": child_text(guest_agent, "Location"),
        "service_name": child_text(guest_agent, "ServiceName"),
        "required_features": [
            child_text(node, "Name") for node in _grandchildren(root, "RequiredFeatures")
        ],
        "has_status_upload_blob": blob is not None and bool((blob.text or "").strip()),
        "status_blob_type": attr(blob, "statusBlobType"),
        "has_in_vm_artifacts_profile": child(root, "InVMArtifactsProfileBlob") is not None,
        "in_svd_seq_no": attr(meta, "inSvdSeqNo"),
        "activity_id": attr(meta, "activityId"),
        "correlation_id": attr(meta, "correlationId"),
        "created_on": iso_utc(created),
        "plugin_count": len(seen),
        # The agent refuses a goal state whose settings name a handler version it was not
        # asked to run (PluginSettingsVersionMismatch).
        "settings_without_plugin": sorted(
            f"{entry.name}@{entry.version}" for key, entry in settings.items() if key not in seen
        ),
    }
    row = GoalStateRow(
        document="ExtensionsConfig",
        member=member,
        incarnation=incarnation,
        etag=hist.etag,
        timestamp=timestamp,
        details=details,
    )
    return GoalStateResult(goal_states=[row], extensions=extensions)


def _grandchildren(root: etree._Element, parent: str) -> list[etree._Element]:
    node = child(root, parent)
    return [] if node is None else list(node)


def _collect_plugin_settings(root: etree._Element) -> dict[tuple[str, str], _PluginSettings]:
    found: dict[tuple[str, str], _PluginSettings] = {}
    section = child(root, "PluginSettings")
    for plugin in children(section, "Plugin") if section is not None else ():
        entry = _PluginSettings(name=attr(plugin, "name"), version=attr(plugin, "version"))
        runtime = child(plugin, "RuntimeSettings")
        if runtime is not None:
            entry.sequence = attr(runtime, "seqNo")
            entry.summary = _runtime_settings_summary(runtime.text)
        for ext in children(plugin, "ExtensionRuntimeSettings"):
            entry.extensions.append(
                (
                    attr(ext, "name"),
                    attr(ext, "seqNo"),
                    attr(ext, "state"),
                    _runtime_settings_summary(ext.text),
                )
            )
        # Matched by name (case-insensitive) and version, as the agent does.
        found[(entry.name.lower(), entry.version)] = entry
    return found


def _plugin_rows(
    plugin: etree._Element,
    settings: _PluginSettings | None,
    member: str,
    goal_state: str,
    timestamp: datetime | None,
) -> list[ExtensionRow]:
    base = ExtensionRow(
        name=attr(plugin, "name"),
        version=attr(plugin, "version"),
        source_kind=SourceKind.EXTENSIONS_CONFIG,
        member=member,
        state=attr(plugin, "state"),
        goal_state=goal_state,
        timestamp=timestamp,
    )
    if settings is None:
        return [base]
    base.sequence = settings.sequence
    base.message = settings.summary
    rows = [base]
    for ext_name, seq, state, summary in settings.extensions:
        rows.append(
            ExtensionRow(
                name=base.name,
                version=base.version,
                source_kind=base.source_kind,
                member=member,
                state=state or base.state,
                goal_state=goal_state,
                sequence=seq,
                message=summary,
                timestamp=timestamp,
                extension=ext_name,
            )
        )
    return rows


def _xml_ga_families(root: etree._Element) -> list[dict[str, Any]]:
    families = child(root, "GuestAgentExtension", "GAFamilies")
    result = []
    for family in children(families, "GAFamily") if families is not None else ():
        result.append(
            {
                "name": child_text(family, "Name"),
                "version": child_text(family, "Version"),
                "is_version_from_rsm": _bool(child_text(family, "IsVersionFromRSM")),
                "is_vm_enabled_for_rsm_upgrades": _bool(
                    child_text(family, "IsVMEnabledForRSMUpgrades")
                ),
            }
        )
    return result


def _rsm_version(families: list[dict[str, Any]]) -> str:
    """Pinned agent version: the Prod family's ``Version`` (the default AutoUpdate.GAFamily)."""
    versioned = [f for f in families if f.get("version")]
    for family in versioned:
        if str(family.get("name", "")).lower() == "prod":
            return str(family["version"])
    return str(versioned[0]["version"]) if versioned else ""


# --- vmSettings (HostGAPlugin, Fast Track) ------------------------------------------------


def parse_vm_settings(data: bytes, member: str, *, max_bytes: int = _MAX_XML) -> GoalStateResult:
    """vmSettings JSON -> GoalStateRow(document="VmSettings") + one ExtensionRow per handler.

    >>> doc = (b'{"hostGAPluginVersion": "1.0.8.133", "extensionGoalStatesSource": "FastTrack",'
    ...        b' "inSvdSeqNo": 1, "extensionGoalStates": [{"name": "A.B", "version": "2.1",'
    ...        b' "state": "enabled", "settingsSeqNo": 3}]}')
    >>> r = parse_vm_settings(doc, "history/2024-01-31T10-00-00__3-541/VmSettings.json")
    >>> r.goal_states[0].source, r.goal_states[0].etag, r.goal_states[0].details["in_svd_seq_no"]
    ('FastTrack', '541', '1')
    >>> r.extensions[0].sequence, r.extensions[0].goal_state
    ('3', 'etag_541')
    """
    doc = load_json(data, member, max_bytes)
    if not isinstance(doc, dict):
        raise ParseError("vmSettings: expected a JSON object", member)
    hist = history_info(member)
    goal_state = goal_state_id(hist.incarnation, hist.etag)
    last_modified = ticks_to_datetime(doc.get("extensionsLastModifiedTickCount"))
    timestamp = hist.timestamp or last_modified
    families = _json_ga_families(doc.get("gaFamilies"))
    blob = doc.get("statusUploadBlob")
    blob = blob if isinstance(blob, dict) else {}
    vm = doc.get("inVMMetadata")
    vm = vm if isinstance(vm, dict) else {}
    details: dict[str, Any] = {
        "host_ga_plugin_version": _s(doc.get("hostGAPluginVersion")),
        "vm_settings_schema_version": _s(doc.get("vmSettingsSchemaVersion")),
        "in_svd_seq_no": _s(doc.get("inSvdSeqNo")),
        "activity_id": _s(doc.get("activityId")),
        "correlation_id": _s(doc.get("correlationId")),
        "extensions_last_modified": iso_utc(last_modified),
        "on_hold": _bool(doc.get("onHold")),
        "has_status_upload_blob": bool(_s(blob.get("value"))),
        "status_blob_type": _s(blob.get("statusBlobType")),
        "ga_families": families,
        "rsm_version": _rsm_version(families),
        "required_features": [_s(f.get("name")) for f in _dicts(doc.get("requiredFeatures"))],
        "vm": {
            key: _s(vm.get(src))
            for key, src in (
                ("name", "vmName"),
                ("id", "vmId"),
                ("location", "location"),
                ("size", "vmSize"),
                ("os_type", "osType"),
            )
            if vm.get(src) is not None
        },
    }
    row = GoalStateRow(
        document="VmSettings",
        member=member,
        incarnation=hist.incarnation,
        etag=hist.etag,
        timestamp=timestamp,
        source=_s(doc.get("extensionGoalStatesSource")),
        details=details,
    )
    extensions: list[ExtensionRow] = []
    for handler in _dicts(doc.get("extensionGoalStates")):
        extensions.extend(_vm_settings_rows(handler, member, goal_state, timestamp))
    return GoalStateResult(goal_states=[row], extensions=extensions)


def _vm_settings_rows(
    handler: dict[str, Any], member: str, goal_state: str, timestamp: datetime | None
) -> list[ExtensionRow]:
    settings = list(_dicts(handler.get("settings")))
    multi = _bool(handler.get("isMultiConfig")) or any("extensionName" in s for s in settings)
    base = ExtensionRow(
        name=_s(handler.get("name")),
        version=_s(handler.get("version")),
        source_kind=SourceKind.VM_SETTINGS,
        member=member,
        state=_s(handler.get("state")),
        goal_state=goal_state,
        sequence=_s(handler.get("settingsSeqNo")),
        timestamp=timestamp,
    )
    if not multi:
        base.message = _settings_summary(settings[0]) if settings else ""
        return [base]
    rows = [base]
    for entry in settings:
        rows.append(
            ExtensionRow(
                name=base.name,
                version=base.version,
                source_kind=base.source_kind,
                member=member,
                state=_s(entry.get("extensionState")) or base.state,
                goal_state=goal_state,
                sequence=_s(entry.get("seqNo")),
                message=_settings_summary(entry),
                timestamp=timestamp,
                extension=_s(entry.get("extensionName")),
            )
        )
    return rows


def _json_ga_families(value: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": _s(f.get("name")),
            "version": _s(f.get("version")),
            "is_version_from_rsm": _bool(f.get("isVersionFromRSM")),
            "is_vm_enabled_for_rsm_upgrades": _bool(f.get("isVMEnabledForRSMUpgrades")),
        }
        for f in _dicts(value)
    ]


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (anything else in it is ignored)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _s(value: Any) -> str:
    """A JSON scalar as a string; containers and null become ``""``."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- HostingEnvironmentConfig / SharedConfig ----------------------------------------------


def parse_hosting_env(data: bytes, member: str, *, max_bytes: int = _MAX_XML) -> list[GoalStateRow]:
    """HostingEnvironmentConfig.xml -> GoalStateRow with deployment, role and instance names.

    ApplicationSettings (which can hold storage account keys) are never read.

    >>> xml = (b'<HostingEnvironmentConfig goalStateIncarnation="1"><Deployment name="d1"/>'
    ...        b'<Incarnation number="1" instance="_vm"/><Role name="r"/>'
    ...        b'</HostingEnvironmentConfig>')
    >>> row = parse_hosting_env(xml, "HostingEnvironmentConfig.xml")[0]
    >>> row.deployment, row.role, row.role_instance, row.incarnation
    ('d1', 'r', '_vm', '1')
    """
    root = parse_xml(data, member, max_bytes)
    _expect_root(root, "HostingEnvironmentConfig", member)
    row = _config_row(root, "HostingEnvironmentConfig", member)
    certificates = child(root, "StoredCertificates")
    row.details["stored_certificates"] = (
        [attr(cert, "name") for cert in children(certificates, "StoredCertificate")]
        if certificates is not None
        else []
    )
    return [row]


def parse_shared_config(
    data: bytes, member: str, *, max_bytes: int = _MAX_XML
) -> list[GoalStateRow]:
    """SharedConfig.xml -> GoalStateRow; ``details["instance_address"]`` is the VM's private IP.

    >>> xml = (b'<SharedConfig goalStateIncarnation="1"><Incarnation number="1" instance="_vm"/>'
    ...        b'<Instances><Instance id="_vm" address="10.1.52.28"/></Instances></SharedConfig>')
    >>> parse_shared_config(xml, "SharedConfig.xml")[0].details["instance_address"]
    '10.1.52.28'
    """
    root = parse_xml(data, member, max_bytes)
    _expect_root(root, "SharedConfig", member)
    row = _config_row(root, "SharedConfig", member)
    instances_node = child(root, "Instances")
    instances = list(children(instances_node, "Instance")) if instances_node is not None else []
    mine = next((i for i in instances if attr(i, "id") == row.role_instance), None)
    if mine is None and instances:
        mine = instances[0]
    row.details.update(
        instance_id=attr(mine, "id"),
        instance_address=attr(mine, "address"),
        instance_count=len(instances),
    )
    return [row]


def _config_row(root: etree._Element, document: str, member: str) -> GoalStateRow:
    hist = history_info(member)
    deployment = child(root, "Deployment")
    incarnation = child(root, "Incarnation")
    return GoalStateRow(
        document=document,
        member=member,
        incarnation=attr(root, "goalStateIncarnation")
        or attr(incarnation, "number")
        or hist.incarnation,
        etag=hist.etag,
        timestamp=hist.timestamp,
        role_instance=attr(incarnation, "instance"),
        deployment=attr(deployment, "name"),
        role=attr(child(root, "Role"), "name"),
        details={
            "deployment_guid": attr(deployment, "guid"),
            "deployment_incarnation": attr(deployment, "incarnation"),
            "incarnation_number": attr(incarnation, "number"),
        },
    )
