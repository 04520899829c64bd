"""The message catalogue as data: reading/writing ``docs/catalogue/messages.toml`` and turning
a catalogued message into realistic log lines for each log generation that emits it."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "catalogue" / "messages.toml"
HOLE = "<*>"
VMBACKUP = "VMBackup"


def is_vmbackup(version: str) -> bool:
    """Backup-extension releases are labelled ``VMBackup@<commit date>``."""
    return version.startswith(VMBACKUP)


VMSNAPSHOT_HANDLER = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
OTHER_HANDLER = "Microsoft.Azure.Extensions.CustomScript"

# Error classes the agent prints with a class token ("[ProtocolError] ..."); up to 2.2.18 the
# token was numeric (2.1: "(000009)msg", 2.2.x: "[000009] msg").
NUMERIC_TOKENS = {
    "AgentConfigError": "000001",
    "AgentNetworkError": "000002",
    "ExtensionError": "000003",
    "ProvisionError": "000004",
    "ResourceDiskError": "000005",
    "DhcpError": "000006",
    "OSUtilError": "000007",
    "ProtocolError": "000008",
    "HttpError": "000009",
    "EventError": "000010",
    "CryptError": "000011",
    "UpdateError": "000012",
}
PLAIN_EXCEPTIONS = {
    "Exception",
    "ValueError",
    "OSError",
    "IOError",
    "ImportError",
    "RuntimeError",
    "ExitException",
    "AgentUpgradeExitException",
}


@dataclass
class Message:
    """One catalogue entry: a distinct message template and its classification."""

    id: str
    template: str
    level: str
    kind: str
    groups: list[str]
    modules: list[str]
    versions: list[str]
    sites: int
    category: str
    rule: str = ""
    benign: str = ""
    exception: str = ""
    event_op: str = ""
    wrap: str = ""
    extension: str = ""
    repeat: int = 1
    fill: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    @property
    def first(self) -> str:
        return self.versions[0]

    @property
    def last(self) -> str:
        return self.versions[-1]

    @property
    def counted(self) -> bool:
        """An error/warning call site (the denominator of the coverage target)."""
        return self.level in ("ERROR", "WARNING")

    @property
    def classified(self) -> bool:
        return bool(self.rule or self.benign)

    def regex(self) -> str:
        """The template as a regex: literal text escaped, holes matching anything."""
        parts = [re.escape(p) for p in self.template.split(HOLE)]
        return r"[\s\S]*?".join(parts)


# --------------------------------------------------------------------------- generations


def vtuple(version: str) -> tuple[int, ...]:
    return (99,) if is_vmbackup(version) else tuple(int(x) for x in version.split("."))


def generation(version: str) -> str:
    if is_vmbackup(version):
        return "VMBackup"
    nums = vtuple(version)
    if nums < (2, 1):
        return "G0"
    if nums < (2, 2, 31):
        return "G1"
    if nums < (2, 2, 46):
        return "G2"
    if nums < (2, 2, 47):
        return "G3"
    return "G4"


# One representative version per generation present in an entry (the newest of each).
def generation_versions(versions: list[str]) -> dict[str, str]:
    """Newest version of each generation; the backup extension's copy of a helper that the
    agent also has is sampled as the agent writes it."""
    out: dict[str, str] = {}
    for v in versions:
        out[generation(v)] = v
    if len(out) > 1:
        out.pop("VMBackup", None)
    return out


ERA_TIME = {
    "G0": "2015/12/01 10:00:00",
    "G1": "2017/06/01 10:00:00.000000",
    "G2": "2019/06/01 10:00:00.000000",
    "G3": "2021-06-01T10:00:00.000000Z",
    "G4": "2024-03-01T10:00:00.000000Z",
    "VMBackup": "2024-03-01 10:00:00.000000",
}


def header(gen: str, level: str, thread: str, prefix: str) -> str:
    """The record header of one log generation (see /work/shared/reference/waagent-formats.md)."""
    when = ERA_TIME[gen]
    if gen == "G0":
        marker = {"ERROR": "ERROR:", "WARNING": "WARNING:"}.get(level, "")
        return f"{when} {marker}"
    if gen == "G1":
        return f"{when} {level} " + (f"{prefix} " if prefix.startswith("[") else "")
    if gen in ("G2", "G3"):
        return f"{when} {level} {prefix} "
    if gen == "G4":
        return f"{when} {level} {thread} {prefix} "
    return f"{when} [{VMSNAPSHOT_HANDLER}-1.0]"


def exception_token(cls: str, version: str) -> str:
    if not cls or cls in PLAIN_EXCEPTIONS:
        return ""
    code = NUMERIC_TOKENS.get(cls)
    if code and not is_vmbackup(version):
        gen = generation(version)
        if gen == "G0" or vtuple(version)[:2] == (2, 1):
            return f"({code})"
        if gen == "G1":
            return f"[{code}] "
    return f"[{cls}] "


NAMED_WRAPS = {"event", "ext_event", "goal_state", "processing", "crash"}


# Named wrappers: how a raised exception's text reaches the log, per era.
def wrap_message(msg: Message, text: str, version: str) -> tuple[str, str]:
    """(level, message) of the log record that carries ``text`` in ``version``."""
    gen = generation(version)
    wrap = (
        msg.wrap
        if msg.kind == "event" and msg.wrap == "ext_event"
        else ("event" if msg.kind == "event" else msg.wrap)
    )
    if wrap in NAMED_WRAPS and msg.kind == "log":
        wrap = ""  # named wrappers say how a *raised* exception reaches the log
    if wrap == "event" or wrap == "ext_event":
        name = msg.extension or ("WALA" if vtuple(version)[:2] == (2, 1) else "WALinuxAgent")
        op = msg.event_op  # empty when the call passed a variable; old agents log "op=" too
        if wrap == "ext_event":
            name = msg.extension or OTHER_HANDLER
            op = (
                msg.event_op
                if msg.event_op
                in ("Install", "Enable", "Update", "Disable", "UnInstall", "Download")
                else "Enable"
            )
        tail = "" if gen in ("G0", "G1") and vtuple(version) < (2, 2, 15) else ", duration=0"
        return "ERROR", f"Event: name={name}, op={op}, message={text}{tail}"
    if wrap == "goal_state":
        nums = vtuple(version)
        if nums < (2, 2, 47):
            return "WARNING", f"Exception retrieving extension handlers: {text}"
        if nums < (2, 8):
            return "WARNING", f"An error occurred while retrieving the goal state: {text}"
        return "ERROR", f"Error fetching the goal state: {text}"
    if wrap == "processing":
        return "WARNING", f"Exception processing extension handlers: {text}"
    if wrap == "crash":
        return "WARNING", f"Agent WALinuxAgent-{version} failed with exception: {text}"
    if wrap and "{}" in wrap:
        return ("ERROR" if msg.kind == "raise" else msg.level), wrap.replace("{}", text)
    return ("WARNING" if msg.kind == "raise" else msg.level), text


def fill_template(msg: Message) -> str:
    values = msg.fill or ["x"]
    parts = msg.template.split(HOLE)
    out = [parts[0]]
    for i, part in enumerate(parts[1:]):
        out.append(values[min(i, len(values) - 1)])
        out.append(part)
    return "".join(out)


def thread_for(msg: Message) -> str:
    mods = " ".join(msg.modules)
    if "daemon" in mods and "ga/" not in mods:
        return "Daemon"
    if "monitor" in mods:
        return "MonitorHandler"
    if "ga/env" in mods:
        return "EnvHandler"
    return "ExtHandler"


def sample_lines(msg: Message) -> list[str]:
    """One realistic record (first line(s)) per log generation that emits the message."""
    body = fill_template(msg)
    lines = []
    for gen, version in sorted(generation_versions(msg.versions).items()):
        text = exception_token(msg.exception, version) + body if msg.kind == "raise" else body
        level, message = wrap_message(msg, text, version)
        if gen == "VMBackup" and message.startswith("Event: "):
            gen = "G4"  # the agent logs the extension's failure in waagent.log
        thread = thread_for(msg)
        prefix = "Daemon" if thread == "Daemon" else "ExtHandler"
        if msg.extension and not message.startswith("Event: "):
            prefix = f"[{msg.extension}-1.0.9225.0]"
        lines.append(header(gen, level, thread, prefix) + message)
    return lines


# --------------------------------------------------------------------------- TOML I/O


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


FIELDS = (
    "id",
    "template",
    "level",
    "kind",
    "exception",
    "event_op",
    "groups",
    "modules",
    "first",
    "last",
    "versions",
    "sites",
    "category",
    "rule",
    "benign",
    "repeat",
    "samples",
)


def _contiguous(versions: list[str], order: list[str]) -> bool:
    first, last = order.index(versions[0]), order.index(versions[-1])
    return order[first : last + 1] == versions


def write_catalogue(
    path: Path, messages: list[Message], releases: list[str], vmbackup_commits: list[str]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [
        "# Message catalogue of the Linux guest agent (WALinuxAgent 2.0-2.15) and of the backup",
        "# extension (azure-linux-extensions VMBackup/main). Generated by",
        "# `python -m tools.catalogue.extract` from the public git history; classification from",
        "# tools/catalogue/classify.toml. Templates: dynamic parts are <*> (Message.regex() in",
        "# tools/catalogue/catalogue.py turns one into a regex).",
        "# Releases sampled: first..last is inclusive; `versions` is listed only when a template",
        "# was absent from some release in between.",
        f"releases = {_toml_value(releases)}",
        f"vmbackup_commits = {_toml_value(vmbackup_commits)}",
        "",
    ]
    for m in sorted(messages, key=lambda m: (m.groups[0], m.template, m.kind, m.level)):
        out.append("[[message]]")
        for name in FIELDS:
            value = getattr(m, name)
            if name == "versions" and _contiguous(m.versions, releases):
                continue  # first..last says it all
            if value in ("", [], None) or (name == "repeat" and value == 1):
                continue
            if name in ("rule", "benign") and not value:
                continue
            out.append(f"{name} = {_toml_value(value)}")
        out.append("")
    path.write_text("\n".join(out), encoding="utf-8")


def load_releases(path: Path = CATALOGUE) -> list[str]:
    """The releases sampled, oldest first (agent tags, then backup-extension snapshots)."""
    releases: list[str] = tomllib.loads(path.read_text(encoding="utf-8"))["releases"]
    return releases


def load_catalogue(path: Path = CATALOGUE) -> list[Message]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    order: list[str] = data["releases"]
    out = []
    for raw in data.get("message", []):
        raw = dict(raw)
        raw.pop("regex", None)
        first, last = raw.pop("first"), raw.pop("last")
        if "versions" not in raw:
            raw["versions"] = order[order.index(first) : order.index(last) + 1]
        out.append(Message(**raw))
    return out
