"""Terminal report: readable, worst first, and inert against terminal/markup injection."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from report_fixtures import make_report

from analyzer.report.model import Report
from analyzer.report.renderers import get_renderer
from analyzer.report.text import TextRenderer

RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def render(report: Report, *, color: bool = False, lang: str = "en") -> str:
    renderer = get_renderer("text", lang)
    assert isinstance(renderer, TextRenderer)
    return renderer.render(report, color=color, width=120)


def test_no_escape_sequences_at_all_without_colour(report: Report) -> None:
    out = render(report)
    assert "\x1b" not in out
    assert RAW_CONTROL.search(out) is None
    out.encode("utf-8")  # surrogate-escaped names do not crash the terminal write


def test_injected_sequences_are_shown_as_escapes(report: Report) -> None:
    out = render(report)
    for shown in (
        r"\x1b[2J\x1b[H",  # CSI clear screen
        r"\x1b]0;pwned\x07",  # OSC title (in evidence and in a problem's member name)
        r"\x1b]52;c;cm0gLXJmIH4=\x07",  # OSC 52 clipboard write
        r"\x1b]8;;https://evil.example\x1b\click",  # OSC 8 hyperlink
        r"\x9b31m",  # C1 CSI
        r"real-error\rOK",  # bare CR
        r"invoice\u202etxt.exe",  # bidi override
        r"var/log/azure/caf\xe9.log",  # surrogateescape'd byte in a member name
    ):
        assert shown in out, shown


def test_rich_markup_in_data_is_printed_literally(report: Report) -> None:
    for color in (False, True):
        out = render(report, color=color)
        assert "[link=https://evil.example]x[/link] [bold red]FAKE[/]" in out
        assert "\x1b]8;" not in out  # no OSC 8 hyperlink was produced


def test_colour_output_contains_only_sgr_sequences(report: Report) -> None:
    out = render(report, color=True)
    assert SGR.search(out), "colour requested but no styling emitted"
    leftover = SGR.sub("", out)
    assert "\x1b" not in leftover  # every ESC starts a plain colour code: no OSC/CSI from data
    assert RAW_CONTROL.search(leftover) is None
    assert r"\x1b[2J\x1b[H" in leftover


def test_layout_worst_first_with_verdict_evidence_and_next_step(report: Report) -> None:
    out = render(report)
    lines = out.splitlines()
    verdict = next(line for line in lines if line.startswith("VERDICT"))
    assert "CRITICAL" in verdict
    assert "5 findings" in verdict
    order = [out.index(rule) for rule in
             ("WAA-SNAP-002", "WAA-NET-001", "WAA-EXT-001", "WAA-GS-003", "WAA-CONF-002")]
    assert order == sorted(order)
    # NET-001 carries 7 evidence lines: 5 shown, the rest summarised.
    assert "(+2 more)" in out
    assert "case-4711.tgz!var/log/waagent.log:1204" in out
    assert "Remediation:" in out and "References:" in out
    assert "Input problems (2)" in out
    assert "Cause 5: " in out
    tail = out.rstrip().split("\n\n")[-1]
    assert tail.startswith("Next step: Start with WAA-SNAP-002")
    assert all(line == line.rstrip() for line in lines), "no trailing padding"


def test_portuguese_headings(report: Report) -> None:
    out = render(report, lang="pt-BR")
    assert "VEREDITO" in out
    assert "Achados (5)" in out
    assert "Problemas na entrada (2)" in out
    assert "Próximo passo:" in out
    assert "Maior gravidade: Crítica" in out


def test_empty_report(empty_report: Report) -> None:
    out = render(empty_report)
    assert "No findings" in out
    assert "Next step: Nothing to fix" in out
    assert "\x1b" not in out


def test_problems_only_report() -> None:
    out = render(make_report(findings=[]))
    assert "No rule matched, but some files could not be read" in out


def test_importing_renderers_does_not_import_rich_or_jinja() -> None:
    code = (
        "import sys; import analyzer.report.renderers, analyzer.report.i18n, "
        "analyzer.report.sanitize; "
        "print(sorted(m for m in ('rich', 'jinja2', 'markupsafe') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.stdout.strip() == "[]"
