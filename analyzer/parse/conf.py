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

from collections.abc import Iterable

from analyzer import redact
from analyzer.bundle.model import SourceKind
from analyzer.onvm import formats
from analyzer.onvm.formats import STRING_DEFAULTS, SWITCH_DEFAULTS
from analyzer.parse.rows import ConfigRow
from analyzer.parse.text import decode_text
from analyzer.settings import DEFAULT_LIMITS

__all__ = ["STRING_DEFAULTS", "SWITCH_DEFAULTS", "effective_waagent_conf", "parse_vmbackup_conf",
           "parse_waagent_conf"]

_MAX = DEFAULT_LIMITS.max_xml_bytes
_MAX_VALUE = formats.MAX_VALUE


def _redact_setting(key: str, value: str) -> str:
    """A setting whose name says secret loses its value (yes/no switches stay), others are
    redacted as text: the value alone no longer shows it was a password."""
    return formats.redact_setting(key, value, redact)


# --- waagent.conf -------------------------------------------------------------------------


def parse_waagent_conf(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ConfigRow]:
    """``Key=Value`` lines as the agent reads them (``analyzer/onvm/formats.py``, the one
    reading of the format, which the live self-check and the on-VM zipapp use too)."""
    text = decode_text(data, member, max_bytes)
    return [
        ConfigRow(
            source_kind=SourceKind.WAAGENT_CONF,
            key=key,
            value=_redact_setting(key, value),
            member=member,
            line=number,
        )
        for key, value, number in formats.conf_assignments(text)
    ]


def effective_waagent_conf(rows: Iterable[ConfigRow]) -> dict[str, str | None]:
    """The configuration the agent runs with (``formats.effective_conf``): every key set in
    the file (last assignment wins, ``None`` means unset) plus defaults for the keys the
    rules look at; switch values normalised to ``"y"``/``"n"``.

    >>> conf = effective_waagent_conf([
    ...     ConfigRow("waagent_conf", "AutoUpdate.Enabled", "N", "f", 1),
    ...     ConfigRow("waagent_conf", "Extensions.Enabled", "yes", "f", 2),
    ...     ConfigRow("waagent_conf", "HttpProxy.Host", "None", "f", 3)])
    >>> conf["AutoUpdate.UpdateToLatestVersion"], conf["Extensions.Enabled"], conf["HttpProxy.Host"]
    ('n', 'y', None)
    """
    effective: dict[str, str | None] = formats.effective_conf(
        (row.key, row.value) for row in rows if row.source_kind == SourceKind.WAAGENT_CONF
    )
    return effective


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
