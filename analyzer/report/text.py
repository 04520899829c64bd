"""Readable terminal report (rich), worst finding first.

Bundle data never goes through rich markup: every piece is a ``rich.text.Text`` built from a
:func:`~analyzer.report.sanitize.for_terminal` string, and the console runs with
``markup=False, highlight=False, emoji=False``. Without colour the output contains no escape
sequence at all.
"""

from __future__ import annotations

import re
from io import StringIO
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.checkable import not_checked_lines, verdict_state
from analyzer.report.i18n import category_label, cause_label, finding_cause, severity_label
from analyzer.report.model import Finding, Report
from analyzer.report.sanitize import for_terminal
from analyzer.report.verdict import Renderer, fmt_ts, next_step, verdict_sentence

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["TextRenderer"]

MAX_EVIDENCE = 5
UNWRAPPED_WIDTH = 1_000_000
"""The console width that stands for "do not wrap"."""
RULE_WIDTH = 100
"""Length of a section rule when the text is not wrapped to a terminal."""
_TRAILING_PAD = re.compile(r"[ ]+((?:\x1b\[[0-9;]*m)*)$", re.MULTILINE)

# Only used when colour is on; "standard" colour system (16 colours) keeps them portable.
SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "bold yellow",
    "low": "bold blue",
    "info": "bold",
}


def _wrap_offsets(plain: str, width: int) -> list[int]:
    """Where to break ``plain`` (one line) so that no line is longer than ``width``, breaking
    only before a word (after a space); a word longer than ``width`` stays whole."""
    offsets: list[int] = []
    line_start = 0
    for word in re.finditer(r"\S+", plain):
        if word.end() - line_start > width and word.start() > line_start:
            offsets.append(word.start())
            line_start = word.start()
    return offsets


def _clean(value: object, *, multiline: bool = False) -> str:
    return for_terminal(str(value), multiline=multiline)


class TextRenderer(Renderer):
    format: ClassVar[str] = "text"
    suffix: ClassVar[str] = ".txt"
    media_type: ClassVar[str] = "text/plain"

    def __init__(self, lang: str = "en", *, width: int = 100) -> None:
        super().__init__(lang)
        self.width = width

    def render(self, report: Report, color: bool = False, *, width: int | None = None) -> str:
        """The report as text; ``color=True`` adds ANSI colours (16-colour palette).

        ``width`` defaults to the renderer's width (100); with ``color`` (the caller writes to
        a terminal) it follows the terminal's width, clamped to 60..160 columns. ``width=0``
        does not wrap at all (text for a pipe or a file). A URL or a path is never cut: a word
        longer than the line overflows it instead.
        """
        from rich.console import Console

        self._unwrapped = width == 0
        if width == 0:
            width = UNWRAPPED_WIDTH
        elif width is None:
            width = self.width
            if color:
                import shutil

                columns = shutil.get_terminal_size((self.width, 24)).columns
                width = max(60, min(160, columns))
        buffer = StringIO()
        console = Console(
            file=buffer,
            width=width,
            color_system="standard" if color else None,
            force_terminal=color,
            force_interactive=False,
            no_color=not color,
            markup=False,
            highlight=False,
            emoji=False,
            legacy_windows=False,
            tab_size=4,
        )
        self._render(console, report)
        # rich pads wrapped blocks to their width; drop that (before any trailing SGR reset).
        return _TRAILING_PAD.sub(r"\1", buffer.getvalue())

    # -- pieces -----------------------------------------------------------------------------

    def _print(self, console: Console, *parts: Any, indent: int = 0) -> None:
        """Print one paragraph, wrapped at spaces only: a URL, a path or any other long word
        is never cut (it overflows the line instead); unwrapped when ``width=0``."""
        from rich.text import Text

        text = Text.assemble(*parts)
        room = UNWRAPPED_WIDTH if getattr(self, "_unwrapped", False) else console.width - indent
        pad = " " * indent
        for line in text.split("\n", allow_blank=True):
            pieces = line.divide(_wrap_offsets(line.plain, max(room, 20)))
            for piece in pieces:
                piece.rstrip()
                console.print(Text(pad) + piece if indent else piece, soft_wrap=True)

    def _render(self, console: Console, report: Report) -> None:
        bundle = report.bundle
        tr = self.t
        none = tr("label.none")

        self._print(
            console,
            (_clean(f"{report.tool_name} {report.tool_version}"), "bold"),
            "  ",
            _clean(bundle.source),
        )
        self._print(console, (tr("label.sha256") + ": ", "dim"), _clean(bundle.sha256 or none))
        self._print(
            console,
            (tr("label.collected_at") + ": ", "dim"),
            fmt_ts(bundle.collected_at, tr("label.unknown")),
            "   ",
            (tr("label.time_range") + ": ", "dim"),
            fmt_ts(bundle.time_start, "?"),
            " .. ",
            fmt_ts(bundle.time_end, "?"),
        )
        self._print(
            console,
            (tr("label.daemon_versions") + ": ", "dim"),
            _clean(", ".join(bundle.daemon_versions) or none),
            "   ",
            (tr("label.gs_agent_versions") + ": ", "dim"),
            _clean(", ".join(bundle.goal_state_agent_versions) or none),
        )
        console.print()

        worst = report.worst_severity
        badge = (
            (f" {severity_label(worst, self.lang).upper()} ", SEVERITY_STYLE[worst])
            if worst in SEVERITY_STYLE
            else (f" {tr('verdict.incomplete.badge')} ", "bold yellow")
            if verdict_state(report) == "incomplete"
            else (f" {tr('verdict.ok_badge')} ", "bold green")
        )
        self._print(
            console, (tr("heading.verdict").upper() + " ", "bold"), badge, " ",
            verdict_sentence(report, self.lang),
        )

        findings = report.sorted_findings()
        console.print()
        self._rule(console, tr("heading.findings") + f" ({len(findings)})")
        if not findings:
            self._print(console, tr("findings.none"), indent=2)
        for finding in findings:
            self._finding(console, finding)

        if bundle.problems:
            console.print()
            self._rule(console, tr("heading.problems") + f" ({len(bundle.problems)})")
            for problem in bundle.problems:
                self._print(
                    console, (_clean(problem.member), "bold"), ": ", _clean(problem.message),
                    indent=2,
                )
        if report.not_checked:
            console.print()
            self._rule(console, tr("coverage.heading") + f" ({len(report.not_checked)})")
            self._print(console, (tr("coverage.intro"), "dim"), indent=2)
            for line in not_checked_lines(report, self.lang):
                self._print(console, _clean(line), indent=2)
        if report.rule_errors:
            console.print()
            self._rule(console, tr("heading.rule_errors") + f" ({len(report.rule_errors)})")
            for error in report.rule_errors:
                self._print(console, _clean(error), indent=2)

        console.print()
        self._print(
            console, (tr("heading.next_step") + ": ", "bold"), _clean(next_step(report, self.lang))
        )

    def _rule(self, console: Console, title: str) -> None:
        from rich.rule import Rule
        from rich.text import Text

        if getattr(self, "_unwrapped", False):
            line = Text(title + " ")
            line.append("─" * max(3, RULE_WIDTH - len(title) - 1), style="dim")
            console.print(line, soft_wrap=True)
            return
        console.print(Rule(title, align="left", style="dim", characters="─"))

    def _finding(self, console: Console, finding: Finding) -> None:
        tr = self.t
        lang = self.lang
        console.print()
        style = SEVERITY_STYLE.get(finding.severity, "bold")
        self._print(
            console,
            (f" {severity_label(finding.severity, lang).upper()} ", style),
            "  ",
            (_clean(finding.rule), "bold"),
            "  ",
            (_clean(finding.title), "bold"),
        )
        cause = finding_cause(finding.category, finding.guide_cause)
        meta: list[Any] = [
            (tr("label.category") + ": ", "dim"),
            _clean(category_label(finding.category, lang)),
        ]
        if cause is not None:
            meta += ["   ", (cause_label(cause, lang), "dim")]
        self._print(console, *meta, indent=2)
        self._print(console, _clean(finding.message, multiline=True), indent=2)
        self._print(
            console,
            (tr("label.count") + ": ", "dim"),
            str(finding.count),
            "   ",
            (tr("label.first_seen") + ": ", "dim"),
            fmt_ts(finding.first_seen, "-"),
            "   ",
            (tr("label.last_seen") + ": ", "dim"),
            fmt_ts(finding.last_seen, "-"),
            indent=2,
        )
        if finding.downranked:
            self._print(
                console,
                (tr("label.downranked", reason=_clean(finding.downranked)), "italic"),
                indent=2,
            )
        if finding.evidence:
            self._print(console, (tr("label.evidence") + ":", "bold"), indent=2)
            for ev in finding.evidence[:MAX_EVIDENCE]:
                where = _clean(ev.member) + (f":{ev.line}" if ev.line is not None else "")
                parts: list[Any] = [(where, "cyan")]
                if ev.timestamp is not None:
                    parts += ["  ", (fmt_ts(ev.timestamp), "dim")]
                first, *more = _clean(ev.text, multiline=True).split("\n")
                parts += ["  ", first]
                self._print(console, *parts, indent=4)
                for line in more:
                    self._print(console, line, indent=6)
            hidden = len(finding.evidence) - MAX_EVIDENCE
            if hidden > 0:
                self._print(console, (tr("text.more_evidence", count=hidden), "dim"), indent=4)
        if finding.remediation:
            self._print(console, (tr("label.remediation") + ":", "bold"), indent=2)
            self._print(console, _clean(finding.remediation.strip(), multiline=True), indent=4)
        if finding.references:
            self._print(console, (tr("label.references") + ":", "bold"), indent=2)
            for ref in finding.references:
                self._print(console, _clean(ref), indent=4)
