"""Facts and events the tool itself takes from log records, beside the rules' matches.

* agent facts: daemon / goal-state agent versions, Python, OS (``AgentRow``), and the target
  state of each extension handler (``ExtensionRow`` with ``source_kind = "log"``);
* events: agent starts, crashes, goal states, extension operations, backup runs
  (:class:`LogEvent`; backup runs are paired in :mod:`analyzer.parse.snapshot_runs`).

Their patterns join the rules' prefilter, so finding these records costs nothing extra.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from analyzer.bundle.model import SourceKind
from analyzer.parse.records import Record
from analyzer.parse.rows import AgentRow, ExtensionRow
from analyzer.redact import redact_text

FACT_PATTERNS = (
    r"Azure Linux Agent Version",
    r"Goal State Agent version",
    # The 2.2.0-2.7 start-up line and the [HEARTBEAT] that repeats it every 30 min (an
    # excerpt may hold no other word of the agent's version; a repeat adds no fact row).
    r"Agent WALinuxAgent-[\w.-]+ is running as the goal state agent",
    r"running as process",
    r"is the most current agent",
    r"to be the latest agent",
    r"launched with command '[^']*' is successfully running",
    r"is blacklisted - skipping download",
    r"Python: \d",
    r"OS: ",
    r"Target handler state",
)

EVENT_KINDS: dict[str, str] = {
    r"Azure Linux Agent Version": "agent-start",
    r"Goal State Agent version": "agent-start",
    r"failed with exception": "agent-crash",
    r"did not terminate cleanly": "agent-crash",
    r"ProcessExtensionsGoalState started": "goal-state",
    r"ProcessGoalState completed": "goal-state",
    r"Fetched a new incarnation": "goal-state",
    r"Enable extension": "extension-op",
    r"Install extension": "extension-op",
    r"starting daemon(?: initially\b| *(?:\n|$))": "snapshot-run",
    r"Enable,\w+,\d+,": "snapshot-run",
    r"WindowsAzureGuestAgent starting": "agent-start",  # Windows guest agent
    r"failed for plugin \(name: ": "extension-op",  # Windows guest agent
}
"""Pattern -> event kind, in the order they are tried (the first match names the event)."""

TIMELINE_PATTERNS = tuple(EVENT_KINDS)
RUN_PATTERNS = tuple(p for p, kind in EVENT_KINDS.items() if kind == "snapshot-run")
"""Always looked for: the ``snapshot_runs`` table is built for every bundle."""

EVENT_LABEL_CHARS = 200

_FACT_FIELDS = (
    ("daemon_version", "daemon"),
    ("goal_state_agent_version", "goal_state_agent"),
    ("blacklisted_agent_version", "blacklisted_agent"),
    ("python_version", "python"),
    ("os", "os"),
)


@dataclass
class LogEvent:
    """A dated event worth a mark on the timeline; ``label`` is the record's first line."""

    timestamp: datetime
    kind: str
    label: str


HANDLER_STATE = "Target handler state"
"""The words of an extension state line (:meth:`LogFacts.rows`)."""


def may_hold_facts(message: str) -> bool:
    """Cheap test before building a record: versions, Python, OS, extension states."""
    return ("Agent" in message or "Python: " in message or message.startswith("OS: ")
            or HANDLER_STATE in message)


def may_hold_version_fields(message: bytes) -> bool:
    """:func:`may_hold_facts` less the extension states, on a message's bytes (the bulk
    path): the words beside which :func:`version_fields` finds anything."""
    return b"Agent" in message or b"Python: " in message or message.startswith(b"OS: ")


class LogFacts:
    """Turns records into agent/extension rows (kept only when a value changes) and events."""

    def __init__(self, all_events: bool) -> None:
        # Every pattern is tried even when only runs are wanted, so a record gets the same
        # kind whether the timeline is on or off.
        # Each pattern's leading words are looked for first: most messages are no event, and
        # a substring test rejects a long one (a handler's [stdout] block) in a fraction of
        # a regex search's time.
        self._events = [(_leading_literal(p), _regex_unless_plain(p), kind)
                        for p, kind in EVENT_KINDS.items()]
        self._wanted = set(EVENT_KINDS.values()) if all_events else {"snapshot-run"}
        self._last: dict[tuple[str, ...], str] = {}

    def _changed(self, key: tuple[str, ...], value: str) -> bool:
        """Facts repeat on every goal state; keep a row only when the value changes."""
        if self._last.get(key) == value:
            return False
        self._last[key] = value
        return True

    def would_add(self, fields: dict[str, str], extension: str, version: str,
                  message: str) -> bool:
        """Whether :meth:`rows` would keep a row for a record with these parts (the bulk
        path asks before building a record: a heartbeat repeating a known version adds none).
        Waagent-log records only, like :meth:`rows`."""
        for field_name, role in _FACT_FIELDS:
            if field_name in fields and self._last.get((role,)) != fields[field_name]:
                return True
        if extension and HANDLER_STATE in message:
            state = message.split(HANDLER_STATE + ":", 1)[-1].strip().split(" ")[0]
            return self._last.get(("extension", extension.lower())) != f"{version} {state}"
        return False

    def rows(self, record: Record) -> list[AgentRow | ExtensionRow]:
        if record.source_kind != SourceKind.WAAGENT_LOG:
            return []
        rows: list[AgentRow | ExtensionRow] = []
        fields = record.fields
        for field_name, role in _FACT_FIELDS:
            if field_name in fields and self._changed((role,), fields[field_name]):
                rows.append(
                    AgentRow(role, fields[field_name], record.member, record.timestamp, record.line)
                )
        if record.extension and HANDLER_STATE in record.message:
            state = record.message.split(HANDLER_STATE + ":", 1)[-1].strip().split(" ")[0]
            key = ("extension", record.extension.lower())
            if self._changed(key, f"{record.extension_version} {state}"):
                rows.append(ExtensionRow(
                    name=record.extension,
                    version=record.extension_version,
                    source_kind="log",
                    member=record.member,
                    state=state,
                    timestamp=record.timestamp,
                    line=record.line,
                ))
        return rows

    def event_kind(self, message: str) -> str | None:
        """The kind of event a record with this message is, when that kind is wanted."""
        for words, regex, kind in self._events:
            if words not in message:
                continue
            if regex is None or regex.search(message):
                return kind if kind in self._wanted else None
        return None

    def event(self, record: Record) -> LogEvent | None:
        if record.timestamp is None:
            return None
        kind = self.event_kind(record.message)
        if kind is None:
            return None
        return LogEvent(record.timestamp, kind, event_label(record.message))


_PLAIN = re.compile(r"[A-Za-z0-9 ,:]*")


def _leading_literal(pattern: str) -> str:
    """The characters every match of ``pattern`` starts with (its plain leading run, less a
    last character a quantifier makes optional); none when the pattern is an alternation
    at its top level (the run would be only the first branch's).

    >>> _leading_literal(r"Enable,\\w+,\\d+,"), _leading_literal("ab?c"), _leading_literal("x")
    ('Enable,', 'a', 'x')
    >>> _leading_literal("ab|cd"), _leading_literal("ab(?:c|d)")
    ('', 'ab')
    """
    if _top_level_alternation(pattern):
        return ""
    run = _PLAIN.match(pattern).group()  # type: ignore[union-attr]
    if pattern[len(run):len(run) + 1] in ("?", "*", "{"):
        run = run[:-1]
    return run


def _top_level_alternation(pattern: str) -> bool:
    depth, index, in_class = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            index += 1 + pattern.startswith("]", index + 1)  # a leading "]" is a member
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False


def _regex_unless_plain(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when it is plain text (its leading run decides)."""
    return None if _leading_literal(pattern) == pattern else re.compile(pattern)


def event_label(message: str) -> str:
    """The first line of the message, redacted before it is cut: the bulk path hands over
    the raw message (no Record was made), and a cut secret would lose its delimiter."""
    return redact_text(message.split("\n", 1)[0])[:EVENT_LABEL_CHARS]
