"""Markdown ticket summary: data renders as literal text and cannot break the structure.

The output is parsed with markdown-it-py (CommonMark + GFM tables; installed with rich)."""

from __future__ import annotations

from datetime import datetime

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from report_fixtures import make_report

from analyzer.report.markdown import md_code_block, md_code_span, md_inline
from analyzer.report.model import Evidence, Finding, Report
from analyzer.report.renderers import get_renderer


def parse(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        if token.children:
            out.extend(walk(token.children))
    return out


def plain_text(source: str) -> str:
    """What a reader sees for an inline snippet."""
    tokens = walk(parse(source))
    return "".join(t.content for t in tokens if t.type in ("text", "code_inline"))


def inline_text(source: str) -> str:
    """What a reader sees for the content of a table cell (inline parsing only)."""
    tokens = walk(MarkdownIt("commonmark").parseInline(source))
    return "".join(t.content for t in tokens if t.type in ("text", "code_inline"))


def table_rows(tokens: list[Token]) -> list[list[str]]:
    """Rendered text of every table cell, row by row (header row first)."""
    rows: list[list[str]] = []
    in_cell = False
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type in ("th_open", "td_open"):
            in_cell = True
        elif token.type == "inline" and in_cell:
            rows[-1].append(inline_text(token.content))
            in_cell = False
    return rows


def render(report: Report, lang: str = "en") -> str:
    return get_renderer("markdown", lang).render(report)


def test_structure_survives_hostile_data(report: Report) -> None:
    md = render(report)
    tokens = walk(parse(md))
    types = {t.type for t in tokens}
    assert "html_inline" not in types and "html_block" not in types
    assert [t.tag for t in tokens if t.type == "heading_open"].count("h1") == 1
    headings = [
        tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"
    ]
    assert not any("Injected heading" in h for h in headings)
    links = [t.attrGet("href") for t in tokens if t.type == "link_open"]
    assert links == [
        "https://learn.microsoft.com/azure/backup/backup-azure-linux-app-consistent",
        "https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16",
    ]
    assert "\x1b" not in md and "\u202e" not in md and "\r" not in md


def test_summary_table(report: Report) -> None:
    rows = table_rows(walk(parse(render(report))))
    assert len(rows) == 6  # header + 5 findings
    assert all(len(row) == 7 for row in rows)
    assert rows[0] == [
        "Severity", "Category", "Rule", "Finding", "Occurrences", "First seen", "Last seen",
    ]
    assert rows[1] == [
        "Critical", "Snapshot timeouts", "WAA-SNAP-002", "Filesystem freeze timed out", "3",
        "2025-03-11 02:00:00Z", "2025-03-12 02:00:00Z",
    ]
    assert rows[5][-2:] == ["-", "-"]


def test_table_cells_escape_pipes_and_newlines() -> None:
    finding = Finding(
        rule="WAA-EXT-014", category="extension-failure", severity="high",
        title="Ext | evil\n| injected | row |", message="m", count=2,
        first_seen=datetime(2025, 1, 1), last_seen=None, evidence=[], remediation="",
        references=[],
    )
    rows = table_rows(walk(parse(render(make_report(findings=[finding])))))
    assert len(rows) == 2
    assert len(rows[1]) == 7
    assert rows[1][3] == "Ext | evil\\n| injected | row |"


def test_evidence_fence_cannot_be_closed_from_data() -> None:
    payload = "````` not the end\n```\n# heading?\n<script>alert(1)</script>"
    finding = Finding(
        rule="WAA-SNAP-012", category="snapshot-failure", severity="critical",
        title="t", message="m", count=1, first_seen=None, last_seen=None,
        evidence=[Evidence("var/log/`x`.log", 3, None, payload)], remediation="r",
        references=[],
    )
    md = render(make_report(findings=[finding]))
    fences = [t for t in walk(parse(md)) if t.type == "fence"]
    assert len(fences) == 1
    assert "````` not the end" in fences[0].content
    assert "<script>alert(1)</script>" in fences[0].content
    assert fences[0].markup == "``````"  # longer than the 5-backtick run in the data


def test_inline_helpers_render_literally() -> None:
    hostile = "# [x](javascript:alert(1)) <b>*bold*</b> _u_ `code` ~~s~~ &amp; | \\ 1. a"
    assert plain_text(md_inline(hostile)) == hostile
    assert plain_text(md_inline("- item")) == "- item"
    assert plain_text(md_inline("1) item")) == "1) item"
    assert plain_text(md_inline("> quote")) == "> quote"
    assert plain_text(md_code_span("a `` b")) == "a `` b"
    assert plain_text(md_code_span("`edge`")) == "`edge`"
    block = md_code_block(["```", "x\x1b[2J"])
    assert block.startswith("````text\n") and "x\\x1b[2J" in block


def test_footer_and_sections(report: Report) -> None:
    md = render(report)
    assert "`waagent-analyzer 0.1.0`" in md
    assert report.bundle.sha256 in md
    assert "**Remediation:**" in md
    assert "## Input problems" in md
    assert "`case-4711.tgz!var/log/\\x1b]0;pwned\\x07.log`" in md
    assert "`javascript:alert(document.domain)`" in md  # shown, not linked
    assert "**Next step:** Start with WAA\\-SNAP\\-002" not in md  # only line starts escaped
    assert "**Next step:** Start with WAA-SNAP-002" in md


@pytest.mark.parametrize(
    "heading", ["**Veredito:**", "## Achados", "## Problemas na entrada", "**Próximo passo:**"]
)
def test_portuguese(report: Report, heading: str) -> None:
    assert heading in render(report, "pt-BR")


def test_empty(empty_report: Report) -> None:
    md = render(empty_report)
    assert "No findings" in md
    assert "|" not in md.split("---")[0]
