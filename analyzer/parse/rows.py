"""Typed rows the parsers emit. ``analyzer.tables`` turns lists of them into tables.

Every row carries ``member`` (the provenance path of the file it came from) so any fact can
be traced back to its evidence.

Redaction at the source: every string of a row (names, versions, states, messages, values,
``details``) is redacted once, when the row is made, before any consumer can cut or show it.
Everything downstream (tables, rules, evidence, reports, exports) sees only the redacted form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from analyzer.redact import redact_obj, redact_text

_STRING_FIELDS: dict[type, tuple[str, ...]] = {}


def redact_row(row: Any) -> None:
    """Redact every string field of a row in place (``dict`` fields structurally)."""
    cls = type(row)
    names = _STRING_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(row))
        _STRING_FIELDS[cls] = names
    for name in names:
        value = getattr(row, name)
        if isinstance(value, str):
            if value:
                setattr(row, name, redact_text(value))
        elif isinstance(value, dict) and value:
            setattr(row, name, redact_obj(value))


@dataclass
class ExtensionRow:
    """One fact about one extension handler, from one source.

    ``source_kind`` says where the fact came from: ``extensions_config`` (requested version and
    state in a goal state), ``vm_settings``, ``waagent_status`` (handlerAggregateStatus),
    ``handler_status`` / ``handler_state`` (files under the handler directory),
    ``extension_status`` (``status/<n>.status`` written by the extension; ``code`` is the truth),
    ``directory`` (a ``<Name>-<Version>/`` folder exists), ``log`` (``[Name-Version]`` prefix).
    """

    name: str
    version: str
    source_kind: str
    member: str
    state: str = ""
    status: str = ""
    code: str = ""
    message: str = ""
    operation: str = ""
    goal_state: str = ""
    """``incarnation_<n>`` or ``etag_<e>`` when the fact belongs to one goal state."""
    sequence: str = ""
    timestamp: datetime | None = None
    line: int | None = None
    extension: str = ""
    """Multi-config handlers only: the extension's own name (``ExtensionRuntimeSettings@name``,
    vmSettings ``extensionName``, ``status/<ExtName>.<n>.status``, ``extensionName`` in the
    status blob). Empty for single-config handlers."""

    def __post_init__(self) -> None:
        redact_row(self)


@dataclass
class GoalStateRow:
    """One goal-state document (GoalState, ExtensionsConfig, VmSettings, HostingEnvironmentConfig,
    SharedConfig) found in the bundle."""

    document: str
    member: str
    incarnation: str = ""
    etag: str = ""
    timestamp: datetime | None = None
    container_id: str = ""
    role_instance: str = ""
    deployment: str = ""
    role: str = ""
    source: str = ""
    """``FastTrack`` / ``Fabric`` for vmSettings; empty otherwise."""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        redact_row(self)


@dataclass
class AgentRow:
    """A fact about the guest agent at one point in time."""

    role: str
    """``daemon`` or ``goal_state_agent`` for versions; ``os``/``python`` for platform facts."""
    value: str
    member: str
    timestamp: datetime | None = None
    line: int | None = None
    source_kind: str = "log"

    def __post_init__(self) -> None:
        redact_row(self)


@dataclass
class ConfigRow:
    """A key=value setting: waagent.conf, vmbackup.conf, DHCP lease options, live facts."""

    source_kind: str
    key: str
    value: str
    member: str
    line: int | None = None

    def __post_init__(self) -> None:
        redact_row(self)


def row_to_dict(row: Any) -> dict[str, Any]:
    return asdict(row)
