"""Configuration files: ``/etc/waagent.conf`` and VMSnapshot's ``/etc/azure/vmbackup.conf``.

Every assignment becomes a ``ConfigRow`` with its line number (duplicates included, so a
report can point at the line that wins); :func:`effective_waagent_conf` then applies the
agent's own reading rules and defaults.

>>> text = b"# c\\nExtensions.Enabled=n\\nLogs.Verbose=y # why\\n"
>>> rows = parse_waagent_conf(text, "etc/waagent.conf")
>>> [(r.key, r.value, r.line) for r in rows]
[('Extensions.Enabled', 'n', 2), ('Logs.Verbose', 'y', 3)]
>>> effective_waagent_conf(rows)["AutoUpdate.Enabled"]
'y'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from analyzer.bundle.model import SourceKind
from analyzer.parse.rows import ConfigRow
from analyzer.parse.text import decode_text
from analyzer.redact import redact_obj, redact_text
from analyzer.settings import DEFAULT_LIMITS

_MAX = DEFAULT_LIMITS.max_xml_bytes
_KEY = re.compile(r"^[A-Za-z][\w.\-]{0,127}$")
_MAX_VALUE = 1024

def _redact_setting(key: str, value: str) -> str:
    """A setting whose name says secret loses its value (yes/no switches stay), others are
    redacted as text: the value alone no longer shows it was a password."""
    masked = redact_obj({key: value})[key]
    return redact_text(masked) if isinstance(masked, str) else value


# --- waagent.conf -------------------------------------------------------------------------


def parse_waagent_conf(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ConfigRow]:
    """``Key=Value`` lines as the agent reads them: ``#`` lines are comments, the value is cut
    at the first ``#`` and stripped of spaces and double quotes. Lines that are not
    assignments, or whose key is not a plain identifier, are ignored.
    """
    rows = []
    for number, line in enumerate(decode_text(data, member, max_bytes).splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, raw = stripped.partition("=")
        key = key.strip()
        if not _KEY.match(key):
            continue
        value = raw.split("#", 1)[0].strip('" ').strip()
        rows.append(
            ConfigRow(
                source_kind=SourceKind.WAAGENT_CONF,
                key=key,
                value=_redact_setting(key, value)[:_MAX_VALUE],
                member=member,
                line=number,
            )
        )
    return rows


# Switch defaults of the agent (a switch reads only y/n, case-insensitive; anything else,
# including "yes"/"true", falls back to the default). Code defaults, not the shipped file:
# distro packages ship OS.EnableFirewall=y, the agent's own default is n.
SWITCH_DEFAULTS: dict[str, str] = {
    "Extensions.Enabled": "y",
    "Logs.Verbose": "n",
    "Logs.Collect": "y",
    "AutoUpdate.Enabled": "y",
    "OS.EnableFirewall": "n",
    "EnableOverProvisioning": "y",
}
STRING_DEFAULTS: dict[str, str | None] = {
    "HttpProxy.Host": None,
    "HttpProxy.Port": None,
    "Protocol.EndpointDiscovery": "dhcp",
    "AutoUpdate.GAFamily": "Prod",
    "Lib.Dir": "/var/lib/waagent",
    "Extension.LogDir": "/var/log/azure",
}
_UPDATE_TO_LATEST = "AutoUpdate.UpdateToLatestVersion"


def effective_waagent_conf(rows: Iterable[ConfigRow]) -> dict[str, str | None]:
    """The configuration the agent runs with: every key set in the file (last assignment
    wins, ``None`` means unset) plus defaults for the keys the rules look at.

    Switch values are normalised to ``"y"``/``"n"``. ``AutoUpdate.UpdateToLatestVersion``
    defaults to the effective ``AutoUpdate.Enabled`` (the newer key overrides the older one
    only when present).

    >>> conf = effective_waagent_conf([
    ...     ConfigRow("waagent_conf", "AutoUpdate.Enabled", "N", "f", 1),
    ...     ConfigRow("waagent_conf", "Extensions.Enabled", "yes", "f", 2),
    ...     ConfigRow("waagent_conf", "HttpProxy.Host", "None", "f", 3)])
    >>> conf["AutoUpdate.UpdateToLatestVersion"], conf["Extensions.Enabled"], conf["HttpProxy.Host"]
    ('n', 'y', None)
    """
    values: dict[str, str | None] = {}
    for row in rows:
        if row.source_kind == SourceKind.WAAGENT_CONF:
            values[row.key] = None if row.value == "None" else row.value
    effective: dict[str, str | None] = dict(values)
    for key, default in SWITCH_DEFAULTS.items():
        effective[key] = _switch(values.get(key), default)
    for key, fallback in STRING_DEFAULTS.items():
        if values.get(key) is None:
            effective[key] = fallback
    effective[_UPDATE_TO_LATEST] = _switch(
        values.get(_UPDATE_TO_LATEST), effective["AutoUpdate.Enabled"] or "y"
    )
    return effective


def _switch(value: str | None, default: str) -> str:
    if value is not None and value.lower() in ("y", "n"):
        return value.lower()
    return default


# --- vmbackup.conf ------------------------------------------------------------------------

_MAX_KEY = 128


def _split_assignment(line: str) -> tuple[str, str] | None:
    """``key = value`` or ``key: value`` at the first separator (str.find: linear on any line)."""
    cuts = [i for i in (line.find("="), line.find(":")) if i > 0]
    if not cuts:
        return None
    cut = min(cuts)
    key = line[:cut].strip()
    if not key or len(key) > _MAX_KEY:
        return None
    return key, line[cut + 1 :].strip()


def parse_vmbackup_conf(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ConfigRow]:
    """INI file with ``[SnapshotThread]`` / ``[Monitor]`` sections; ``key = value`` or
    ``key: value``; ``#``/``;`` comments. Keys become ``Section.key``.

    >>> rows = parse_vmbackup_conf(b"[SnapshotThread]\\nfsfreeze: True\\ntimeout = 120\\n", "c")
    >>> [(r.key, r.value, r.line) for r in rows]
    [('SnapshotThread.fsfreeze', 'True', 2), ('SnapshotThread.timeout', '120', 3)]
    """
    rows = []
    section = ""
    for number, line in enumerate(decode_text(data, member, max_bytes).splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()[:_MAX_KEY]
            continue
        assignment = _split_assignment(stripped)
        if assignment is None:
            continue
        key, value = assignment
        rows.append(
            ConfigRow(
                source_kind=SourceKind.VMBACKUP_CONF,
                key=f"{section}.{key}" if section else key,
                value=_redact_setting(key, value)[:_MAX_VALUE],
                member=member,
                line=number,
            )
        )
    return rows
