"""Status documents: waagent_status.json (three generations), the per-handler files under
``/var/lib/waagent/<Handler>-<Version>/`` and the agent's own ``error.json`` / ``current_version``.

References: waagent-formats.md 3.1, 3.7, 3.8; vmsnapshot.md 4, 4.1, 5.1.

Two facts drive this module:

* the handler name and *version* come from the directory ``<Name>-<Version>``; the
  ``"version"`` inside a ``.status`` file is a schema version (``1.0``), never the handler's;
* in a ``.status`` file the ``code`` is the truth: VMSnapshot forces ``status`` to
  ``success`` on ARM VMs even when the run failed.

>>> handler_from_path("b.tgz!var/lib/waagent/Microsoft.Azure.X.Y-1.0.9225.0/status/3.status")
('Microsoft.Azure.X.Y', '1.0.9225.0')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analyzer.bundle.model import PROVENANCE_SEPARATOR, SourceKind
from analyzer.parse.errors import ParseError
from analyzer.parse.goal_state import (
    backup_settings,
    goal_state_id,
    history_info,
    iso_utc,
    parse_timestamp,
)
from analyzer.parse.rows import AgentRow, ConfigRow, ExtensionRow
from analyzer.parse.windows_agent_log import plugin_from_path
from analyzer.parse.xmlsafe import decode_text, load_json
from analyzer.redact import redact_text
from analyzer.settings import DEFAULT_LIMITS

_MAX = DEFAULT_LIMITS.max_xml_bytes
_MAX_MESSAGE = 4096
"""Messages are evidence, not archives: extension stdout embedded by the agent can be long."""


@dataclass
class StatusResult:
    """What one waagent_status.json yields."""

    agents: list[AgentRow] = field(default_factory=list)
    extensions: list[ExtensionRow] = field(default_factory=list)


# --- paths --------------------------------------------------------------------------------

# The version is the last "-<dotted digits>" (handler names may contain "-" themselves).
_HANDLER_DIR = re.compile(r"^(?P<name>[A-Za-z][\w.\-]*?)-(?P<version>\d+(?:\.\d+)+)$")
_MAX_DIR_NAME = 256
_STATUS_FILE = re.compile(r"^(?:(?P<ext>.+)\.)?(?P<seq>\d+)[._]status$")
_SETTINGS_FILE = re.compile(r"^(?:(?P<ext>.+)\.)?(?P<seq>\d+)[._]settings$")


def _path_parts(member: str) -> list[str]:
    return member.rsplit(PROVENANCE_SEPARATOR, 1)[-1].split("/")


def handler_from_path(member: str) -> tuple[str, str]:
    """(name, version) of the nearest ``<Name>-<Version>`` folder above the file, or ("", "")."""
    for part in reversed(_path_parts(member)[:-1]):
        m = _HANDLER_DIR.match(part) if len(part) <= _MAX_DIR_NAME else None
        if m:
            return m.group("name"), m.group("version")
    # Windows: C:\Packages\Plugins\<Name>\<Version>\Status\<n>.status (same JSON).
    return plugin_from_path(member)


def _file_name(member: str) -> str:
    return _path_parts(member)[-1]


# --- small JSON helpers -------------------------------------------------------------------


def _s(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _get(obj: dict[str, Any], *keys: str) -> Any:
    """First present key; status files written by hand use ``Message``/``FormattedMessage``."""
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def _formatted(obj: dict[str, Any]) -> str:
    """Text of ``formattedMessage.message`` (either capitalisation) or a plain ``message``."""
    formatted = _get(obj, "formattedMessage", "FormattedMessage")
    if isinstance(formatted, dict):
        return _s(_get(formatted, "message", "Message"))
    message = _get(obj, "message", "Message")
    return "" if isinstance(message, dict) else _s(message)


def _clip(text: str) -> str:
    text = redact_text(text.strip())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _load_object(data: bytes, member: str, max_bytes: int, what: str) -> dict[str, Any]:
    doc = load_json(data, member, max_bytes)
    if not isinstance(doc, dict):
        raise ParseError(f"{what}: expected a JSON object", member)
    return doc


# --- waagent_status.json ------------------------------------------------------------------


def parse_waagent_status(data: bytes, member: str, *, max_bytes: int = _MAX) -> StatusResult:
    """waagent_status.json of any generation -> agent facts + one row per handler.

    * 2.2.35-2.4: agent summary (``current_version``, ``extensions_status``);
    * 2.5-2.7: status blob + ``_metadataNotSentToCRP`` (daemon and Python versions);
    * 2.8+: the status blob exactly as uploaded.

    Handler rows: ``state`` is the handler status the agent reports (Ready/NotReady/...),
    ``status``/``code``/``operation`` come from the extension's runtime-settings status when
    present (else the handler's), ``message`` joins both messages.

    >>> doc = (b'{"timestampUTC": "2024-01-31T10:00:00Z", "aggregateStatus": {'
    ...        b'"guestAgentStatus": {"version": "2.9.1.1", "status": "Ready"},'
    ...        b'"handlerAggregateStatus": [{"handlerName": "A.B", "handlerVersion": "1.2",'
    ...        b'"status": "NotReady", "code": 1, "runtimeSettingsStatus": {"sequenceNumber": 7,'
    ...        b'"settingsStatus": {"status": {"operation": "Enable", "status": "error",'
    ...        b'"code": 122}}}}]}}')
    >>> r = parse_waagent_status(doc, "waagent_status.json")
    >>> [(a.role, a.value) for a in r.agents][0]
    ('goal_state_agent', '2.9.1.1')
    >>> e = r.extensions[0]
    >>> e.name, e.version, e.state, e.status, e.code, e.operation, e.sequence
    ('A.B', '1.2', 'NotReady', 'error', '122', 'Enable', '7')
    """
    doc = _load_object(data, member, max_bytes, "waagent_status.json")
    hist = history_info(member)
    goal_state = goal_state_id(hist.incarnation, hist.etag)
    if isinstance(doc.get("aggregateStatus"), dict):
        return _status_blob(doc, member, goal_state)
    if any(k in doc for k in ("extensions_status", "current_version", "agent_name")):
        return _agent_summary(doc, member, goal_state)
    raise ParseError("waagent_status.json: neither a status blob nor an agent summary", member)


def _agent_row(role: str, value: str, member: str, ts: datetime | None) -> AgentRow:
    return AgentRow(
        role=role, value=value, member=member, timestamp=ts, source_kind=SourceKind.WAAGENT_STATUS
    )


def _status_blob(doc: dict[str, Any], member: str, goal_state: str) -> StatusResult:
    ts = parse_timestamp(doc.get("timestampUTC"))
    aggregate = _d(doc.get("aggregateStatus"))
    guest = _d(aggregate.get("guestAgentStatus"))
    result = StatusResult()
    add = result.agents.append
    if _s(guest.get("version")):
        add(_agent_row("goal_state_agent", _s(guest["version"]), member, ts))
    if _s(guest.get("status")):
        add(_agent_row("agent_status", _join(_s(guest["status"]), _formatted(guest)), member, ts))
    update = _d(guest.get("updateStatus"))
    if update:
        text = (
            f"expected={_s(update.get('expectedVersion'))} status={_s(update.get('status'))} "
            f"code={_s(update.get('code'))}"
        )
        add(_agent_row("agent_update_status", _join(text, _formatted(update)), member, ts))
    metadata = _d(doc.get("_metadataNotSentToCRP"))
    if _s(metadata.get("daemonVersion")):
        add(_agent_row("daemon", _s(metadata["daemonVersion"]), member, ts))
    if _s(metadata.get("pythonVersion")):
        add(_agent_row("python", _python(_s(metadata["pythonVersion"])), member, ts))
    os_info = _d(doc.get("guestOSInfo"))
    os_text = f"{_s(os_info.get('osName'))} {_s(os_info.get('osVersion'))}".strip()
    if os_text:
        add(_agent_row("os", os_text, member, ts))
    artifacts = _d(_d(aggregate.get("vmArtifactsAggregateStatus")).get("goalStateAggregateStatus"))
    if artifacts:
        text = (
            f"{_s(artifacts.get('status'))} code={_s(artifacts.get('code'))} "
            f"inSvdSeqNo={_s(artifacts.get('inSvdSeqNo'))}"
        )
        add(_agent_row("goal_state_status", _join(text, _formatted(artifacts)), member, ts))
    for handler in _dicts(aggregate.get("handlerAggregateStatus")):
        result.extensions.append(_handler_row(handler, member, goal_state, ts))
    return result


def _handler_row(
    handler: dict[str, Any], member: str, goal_state: str, doc_ts: datetime | None
) -> ExtensionRow:
    runtime = _d(handler.get("runtimeSettingsStatus"))
    settings = _d(runtime.get("settingsStatus"))
    status = _d(settings.get("status"))
    settings_message = _formatted(status)
    message = _formatted(handler)
    if settings_message:
        message = _join(message, f"extension status: {settings_message}", " | ")
    return ExtensionRow(
        name=_s(handler.get("handlerName")),
        version=_s(handler.get("handlerVersion")),
        source_kind=SourceKind.WAAGENT_STATUS,
        member=member,
        state=_s(handler.get("status")),
        status=_s(status.get("status")) or _s(handler.get("status")),
        code=_s(status.get("code")) if "code" in status else _s(handler.get("code")),
        message=_clip(message),
        operation=_s(status.get("operation")),
        goal_state=goal_state,
        sequence=_s(runtime.get("sequenceNumber")),
        timestamp=parse_timestamp(settings.get("timestampUTC")) or doc_ts,
        extension=_s(runtime.get("extensionName")),
    )


def _agent_summary(doc: dict[str, Any], member: str, goal_state: str) -> StatusResult:
    ts = parse_timestamp(doc.get("last_successful_status_upload_time"))
    result = StatusResult()
    add = result.agents.append
    version = _s(doc.get("current_version")) or _s(doc.get("goal_state_version"))
    if version:
        add(_agent_row("goal_state_agent", version, member, ts))
    if _s(doc.get("distro_details")):
        add(_agent_row("os", _s(doc["distro_details"]), member, ts))
    if _s(doc.get("python_version")):
        add(_agent_row("python", _python(_s(doc["python_version"])), member, ts))
    if ts is not None:
        add(_agent_row("last_status_upload", iso_utc(ts), member, ts))
    for handler in _dicts(doc.get("extensions_status")):
        result.extensions.append(_summary_handler_row(handler, member, goal_state, ts))
    return result


def _summary_handler_row(
    handler: dict[str, Any], member: str, goal_state: str, ts: datetime | None
) -> ExtensionRow:
    # 2.2.x wrote the handler status object's properties; accept both naming styles.
    ext = _d(_get(handler, "extension_status", "extensionStatus"))
    return ExtensionRow(
        name=_s(_get(handler, "name", "handlerName")),
        version=_s(_get(handler, "version", "handlerVersion")),
        source_kind=SourceKind.WAAGENT_STATUS,
        member=member,
        state=_s(handler.get("status")),
        status=_s(ext.get("status")) or _s(handler.get("status")),
        code=_s(ext.get("code")) if "code" in ext else _s(handler.get("code")),
        message=_clip(_join(_formatted(handler), _formatted(ext), " | ")),
        operation=_s(ext.get("operation")),
        goal_state=goal_state,
        sequence=_s(_get(ext, "sequenceNumber", "seq_no")),
        timestamp=ts,
    )


def _python(value: str) -> str:
    return value.removeprefix("Python:").strip()


def _join(first: str, second: str, sep: str = ": ") -> str:
    first, second = first.strip(), second.strip()
    return f"{first}{sep}{second}" if first and second else first or second


# --- status/<n>.status --------------------------------------------------------------------

# Telemetry worth surfacing from VMSnapshot status reports (vmsnapshot.md 4, item 6).
TELEMETRY_KEYS = (
    "extensionVersion",
    "extErrorCode",
    "vmHealthStatusCode",
    "FreezeTime",
    "ThawTime",
    "snapshotTimeTaken",
    "snapshotCreator",
    "hostStatusCodePreSnapshot",
    "hostStatusCodeDoSnapshot",
    "statusBlobUploadError",
    "guestAgentVersion",
    "pythonVersion",
)
_KV_IN_TEXT = re.compile(r"(?<![\w.])([A-Za-z]\w{1,40})=([^,\s;]{0,200})")


def parse_extension_status(
    data: bytes, member: str, *, max_bytes: int = _MAX
) -> list[ExtensionRow]:
    """``status/<n>.status`` (also ``<n>_status`` and multi-config ``<Ext>.<n>.status``).

    Handler name/version come from the path. ``message`` is the extension's formatted
    message followed by ``telemetry: k=v, ...`` for the keys in ``TELEMETRY_KEYS`` found in
    the message, ``telemetryData`` or the report embedded in ``substatus[].name``.

    >>> doc = (b'[{"version": "1.0", "timestampUTC": "2024-01-31T10:00:00Z", "status": {'
    ...        b'"name": "VMSnapshotLinux", "operation": "Enable", "status": "success",'
    ...        b'"code": "122", "formattedMessage": {"lang": "en-US", "message":'
    ...        b'" extErrorCode=FailedRetryableFsFreezeTimeout, "}}}]')
    >>> row = parse_extension_status(doc, "var/lib/waagent/X.Y-1.0.9225.0/status/3.status")[0]
    >>> row.name, row.version, row.status, row.code, row.sequence, row.operation
    ('X.Y', '1.0.9225.0', 'success', '122', '3', 'Enable')
    >>> row.message
    'extErrorCode=FailedRetryableFsFreezeTimeout'
    """
    doc = load_json(data, member, max_bytes)
    items = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if items is None:
        raise ParseError("extension status: expected a JSON array of status objects", member)
    name, version = handler_from_path(member)
    file_match = _STATUS_FILE.match(_file_name(member))
    extension = (file_match.group("ext") or "") if file_match else ""
    sequence = file_match.group("seq") if file_match else ""
    rows = []
    for item in _dicts(items):
        status = _d(item.get("status"))
        if not status:
            continue
        rows.append(
            ExtensionRow(
                name=name or _s(status.get("name")),
                version=version,
                source_kind=SourceKind.EXTENSION_STATUS,
                member=member,
                status=_s(status.get("status")),
                code=_s(status.get("code")),
                message=_status_message(status),
                operation=_s(status.get("operation")),
                sequence=sequence,
                timestamp=parse_timestamp(item.get("timestampUTC")),
                extension=extension,
            )
        )
    if items and not rows:
        raise ParseError("extension status: no status object in the file", member)
    return rows


def _status_message(status: dict[str, Any]) -> str:
    text = _unwrap_response(_formatted(status))
    telemetry: dict[str, str] = {}
    _telemetry_from(status, text, telemetry)
    for sub in _dicts(_get(status, "substatus", "subStatus")):
        for report in _embedded_reports(_s(sub.get("name"))):
            _telemetry_from(report, _unwrap_response(_formatted(report)), telemetry)
    text = text.strip(" ,")
    # Keys the message already states verbatim are not repeated.
    pairs = [
        f"{k}={telemetry[k]}"
        for k in TELEMETRY_KEYS
        if k in telemetry and f"{k}={telemetry[k]}" not in text
    ]
    if pairs:
        text = _join(text, "telemetry: " + ", ".join(pairs), "; ")
    return _clip(text)


def _unwrap_response(message: str) -> str:
    """VMSnapshot >= 2019-12 wraps its message as JSON ``{"messageStr": ..., ...}``."""
    stripped = message.strip()
    if stripped.startswith("{"):
        try:
            wrapper = json.loads(stripped)
        except (ValueError, RecursionError):
            return stripped
        if isinstance(wrapper, dict) and "messageStr" in wrapper:
            return _join(_s(wrapper.get("messageStr")), _s(wrapper.get("jobMessage")), " ")
    return stripped


def _embedded_reports(name: str) -> list[dict[str, Any]]:
    """The full status report VMSnapshot embeds as a JSON string in ``substatus[].name``."""
    if not name.lstrip().startswith(("[", "{")):
        return []
    try:
        doc = json.loads(name)
    except (ValueError, RecursionError):
        return []
    items = doc if isinstance(doc, list) else [doc]
    return [_d(item.get("status")) for item in _dicts(items) if _d(item.get("status"))]


def _telemetry_from(status: dict[str, Any], text: str, out: dict[str, str]) -> None:
    for key, value in _KV_IN_TEXT.findall(text):
        if key in TELEMETRY_KEYS:
            out.setdefault(key, value)
    for entry in _dicts(status.get("telemetryData")):
        key = _s(entry.get("Key"))
        if key in TELEMETRY_KEYS:
            out.setdefault(key, _s(entry.get("Value"))[:200])
    health = _d(status.get("vmHealthInfo"))
    if "vmHealthStatusCode" in health:
        out.setdefault("vmHealthStatusCode", _s(health["vmHealthStatusCode"]))


# --- config/HandlerState, config/HandlerStatus, HandlerManifest.json ----------------------

_HANDLER_STATE = re.compile(r"[A-Za-z]{1,40}")


def parse_handler_state(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ExtensionRow]:
    """``config/HandlerState`` (``<Ext>.HandlerState`` for multi-config): one word.

    >>> parse_handler_state(b"Enabled\\n", "var/lib/waagent/A.B-1.2/config/HandlerState")[0].state
    'Enabled'
    """
    text = decode_text(data, member, max_bytes).strip()
    if not _HANDLER_STATE.fullmatch(text):
        raise ParseError("HandlerState: expected a single state word", member)
    name, version = handler_from_path(member)
    extension = _file_name(member).removesuffix("HandlerState").removesuffix(".")
    return [
        ExtensionRow(
            name=name,
            version=version,
            source_kind=SourceKind.HANDLER_STATE,
            member=member,
            state=text,
            extension=extension,
        )
    ]


def parse_handler_status(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ExtensionRow]:
    """``config/HandlerStatus`` (JSON written by the agent): the real handler version,
    Ready/NotReady, code and message (how install/enable failures are reported).

    >>> doc = b'{"name": "A.B", "version": "1.0.9225.0", "status": "NotReady", "code": -1,' \\
    ...       b' "message": "Non-zero exit code: 1"}'
    >>> row = parse_handler_status(doc, "var/lib/waagent/A.B-1.0.9225.0/config/HandlerStatus")[0]
    >>> row.version, row.status, row.code, row.message
    ('1.0.9225.0', 'NotReady', '-1', 'Non-zero exit code: 1')
    """
    doc = _load_object(data, member, max_bytes, "HandlerStatus")
    name, version = handler_from_path(member)
    extension = _file_name(member).removesuffix("HandlerStatus").removesuffix(".")
    return [
        ExtensionRow(
            name=_s(_get(doc, "name", "handlerName")) or name,
            version=_s(_get(doc, "version", "handlerVersion")) or version,
            source_kind=SourceKind.HANDLER_STATUS,
            member=member,
            status=_s(doc.get("status")),
            code=_s(doc.get("code")),
            message=_clip(_formatted(doc)),
            extension=extension,
        )
    ]


def parse_handler_manifest(
    data: bytes, member: str, *, max_bytes: int = _MAX
) -> list[ExtensionRow]:
    """``HandlerManifest.json`` -> one row saying the handler is installed, with its flags.

    >>> doc = b'[{"name": "X", "version": 1.0, "handlerManifest": {"reportHeartbeat": true}}]'
    >>> parse_handler_manifest(doc, "var/lib/waagent/A.B-1.2/HandlerManifest.json")[0].message
    'reportHeartbeat=true'
    """
    doc = load_json(data, member, max_bytes)
    entries = _dicts(doc) if isinstance(doc, list) else _dicts([doc])
    manifest = _d(entries[0].get("handlerManifest")) if entries else {}
    if not manifest:
        raise ParseError("HandlerManifest.json: no handlerManifest object", member)
    name, version = handler_from_path(member)
    flags = (
        "reportHeartbeat",
        "continueOnUpdateFailure",
        "supportsMultipleExtensions",
        "rebootAfterInstall",
        "updateMode",
    )
    message = ", ".join(f"{k}={_s(manifest[k])}" for k in flags if k in manifest)
    return [
        ExtensionRow(
            name=name or _s(entries[0].get("name")),
            version=version,
            source_kind=SourceKind.HANDLER_MANIFEST,
            member=member,
            message=message,
        )
    ]


# --- config/<n>.settings ------------------------------------------------------------------


def parse_extension_settings(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ConfigRow]:
    """``config/<n>.settings`` -> ConfigRows for the few public settings that matter
    (:func:`backup_settings`), plus ``seqNo`` and whether protected settings are still
    present (VMSnapshot removes them once it has read the file). Never a protected value.

    >>> doc = (b'{"runtimeSettings": [{"handlerSettings": {"protectedSettings": "MIIB",'
    ...        b' "publicSettings": {"commandToExecute": "snapshot", "objectStr": "e30="}}}]}')
    >>> rows = parse_extension_settings(doc, "var/lib/waagent/A.B-1.2/config/5.settings")
    >>> [(r.key, r.value) for r in rows]
    [('seqNo', '5'), ('protectedSettings', 'present'), ('commandToExecute', 'snapshot')]
    """
    doc = _load_object(data, member, max_bytes, "extension settings")
    runtime = _dicts(doc.get("runtimeSettings"))
    if not runtime:
        raise ParseError("extension settings: no runtimeSettings entry", member)
    handler_settings = _d(runtime[0].get("handlerSettings"))
    file_match = _SETTINGS_FILE.match(_file_name(member))
    rows = []

    def add(key: str, value: str) -> None:
        rows.append(ConfigRow(SourceKind.EXTENSION_SETTINGS, key, value, member))

    if file_match:
        add("seqNo", file_match.group("seq"))
    add("protectedSettings", "present" if handler_settings.get("protectedSettings") else "absent")
    for key, value in backup_settings(_d(handler_settings.get("publicSettings"))).items():
        add(key, value)
    return rows


# --- the agent's own files ----------------------------------------------------------------


def parse_agent_error(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[AgentRow]:
    """``WALinuxAgent-<v>/error.json`` -> AgentRow(role="agent_error", value=<JSON summary>).

    >>> doc = b'{"last_failure": 1706695200, "failure_count": 3, "was_fatal": true, "reason": "x"}'
    >>> row = parse_agent_error(doc, "var/lib/waagent/WALinuxAgent-2.9.1.1/error.json")[0]
    >>> json.loads(row.value)["failure_count"], row.timestamp.isoformat()
    (3, '2024-01-31T10:00:00+00:00')
    """
    doc = _load_object(data, member, max_bytes, "error.json")
    name, version = handler_from_path(member)
    last = _epoch(doc.get("last_failure"))
    count = doc.get("failure_count")
    summary = {
        "agent": f"{name}-{version}" if name else "",
        "failure_count": count if isinstance(count, int) and not isinstance(count, bool) else None,
        "was_fatal": doc.get("was_fatal") if isinstance(doc.get("was_fatal"), bool) else None,
        "reason": _clip(_s(doc.get("reason")))[:1000],
        "last_failure": iso_utc(last),
    }
    return [
        AgentRow(
            role="agent_error",
            value=json.dumps(summary, sort_keys=True),
            member=member,
            timestamp=last,
            source_kind=SourceKind.AGENT_ERROR_JSON,
        )
    ]


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def parse_crash_sentinel(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[AgentRow]:
    """``current_version``: present when the previous ExtHandler did not exit cleanly.

    >>> parse_crash_sentinel(b"WALinuxAgent-2.9.1.1\\n", "var/lib/waagent/current_version")[0].value
    'WALinuxAgent-2.9.1.1'
    """
    text = decode_text(data, member, max_bytes)
    return [
        AgentRow(
            role="crash_sentinel",
            value=_clip(text)[:1000],
            member=member,
            source_kind=SourceKind.AGENT_SENTINEL,
        )
    ]
