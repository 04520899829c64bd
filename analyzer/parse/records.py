"""The log record shared by every log parser (waagent.log, CommandExecution.log, extension logs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from analyzer.redact import redact_text


class Tz:
    UTC = "utc"
    """The line carried an explicit UTC timestamp (``...Z``)."""
    ASSUMED_UTC = "assumed-utc"
    """The line was written in the VM's local time without a zone; read as UTC unless the
    user gives the VM's zone (``--vm-timezone``)."""
    NONE = "none"
    """No timestamp could be read."""


@dataclass(slots=True)
class Record:
    """One log record: a header line plus its continuation lines (tracebacks, [stdout] blocks).

    ``line`` and ``end_line`` are 1-based physical line numbers in the member.
    """

    member: str
    source_kind: str
    line: int
    end_line: int
    timestamp: datetime | None
    tz: str
    level: str
    """VERBOSE, INFO, WARNING, ERROR; empty when the format has no level (G0 info lines,
    extension-written lines)."""
    thread: str
    prefix: str
    """Daemon, ExtHandler, LogCollector, Firewall, ``[Name-Version]`` or empty."""
    extension: str
    extension_version: str
    generation: str
    """Line format: G0..G4 (agent), X (extension-written legacy line), VA/VB/VC (VMSnapshot
    extension.log), SH (shell.log), CONT (orphan continuation), RAW (no header at all)."""
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    """truncated_line, truncated_record, no_trailing_newline, first_line_cut, bad_timestamp."""

    def __post_init__(self) -> None:
        # Redaction at the source: a record's text is redacted once, here, before anything
        # (evidence cut at 600 characters, timeline labels, exports) can shorten or show it.
        self.message = redact_text(self.message)
        if self.fields:
            self.fields = {key: redact_text(value) for key, value in self.fields.items()}

    @property
    def text(self) -> str:
        """The message as logged, continuation lines included."""
        return self.message
