"""Regression tests for classes of issue #11 that had none of their own (docs/security.md,
second table): secrets in timeline labels, a secret past the evidence cut, escape sequences in
rule text, and attacker URLs that GFM would turn into links in the Markdown report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.pipeline import AnalyzeOptions, analyze_files
from analyzer.report.markdown import md_cell, md_inline
from analyzer.report.renderers import get_renderer
from tests.cli.clihelp import run

REPO = Path(__file__).resolve().parents[2]
SECRET = "QzPlantedSecret7f3a"
HEAD = "2024-01-31T10:{:02d}:00.000000Z {} ExtHandler ExtHandler "
FAILURE = ("[ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET "
           "http://168.63.129.16/machine/ -- IOError timed out -- 6 attempts made")


def _log(*messages: tuple[str, str]) -> str:
    return "".join(HEAD.format(i, level) + text + "\n" for i, (level, text) in enumerate(messages))


@pytest.mark.parametrize("bulk", ["1", "0"])
def test_timeline_labels_are_redacted_on_both_scan_paths(
        bulk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timeline events are made from the record (record path) or from the raw message (bulk
    path); the HTML timeline shows their label, so both must be redacted before the cut."""
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", bulk)
    log = _log(
        ("INFO", "Azure Linux Agent Version: 2.9.1.1 "
                 f"https://a.blob.core.windows.net/c?sv=1&sig={SECRET} Bearer {SECRET}"),
        ("INFO", f'ProcessExtensionsGoalState started [incarnation 3] {{"password": "{SECRET}"}}'),
    )
    analysis = analyze_files({"var/log/waagent.log": log},
                             AnalyzeOptions(isolate=False, timeline=True))
    kinds = [event.kind for event in analysis.report.timeline_events]
    assert kinds == ["agent-start", "goal-state"]  # the events were made...
    assert all(SECRET not in event.label for event in analysis.report.timeline_events)
    html = get_renderer("html").render(analysis.report)
    assert "Azure Linux Agent Version" in html and SECRET not in html  # ...and shown redacted


def test_a_secret_past_the_evidence_cut_is_redacted_before_the_cut() -> None:
    """Evidence is cut at 600 characters: a quoted secret straddling the cut must not leave
    its first part behind (it would have no closing quote after the cut)."""
    tail = SECRET + "y" * 400
    log = _log(*[("WARNING", FAILURE + " " + "x" * 560 + f' {{"password": "{tail}"}}')] * 3)
    analysis = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(isolate=False))
    assert [f.rule for f in analysis.report.findings] == ["WAA-NET-001"]
    for fmt in ("text", "json", "markdown", "html"):
        assert SECRET[:8] not in get_renderer(fmt).render(analysis.report), fmt


def _rule_with_escapes(folder: Path) -> None:
    text = (REPO / "rules" / "network" / "WAA-NET-001.toml").read_text(encoding="utf-8")
    text = text.replace('id = "WAA-NET-001"', 'id = "CUST-901"', 1)
    text = re.sub(r'(?m)^title = .*$',
                  r'title = "Evil \\u001b]52;c;ZXZpbA==\\u0007 \\u001b]8;;https://evil.example'
                  r'\\u001b\\\\link\\u001b]8;;\\u001b\\\\ \\u001b[2J\\u009b31m"', text, count=1)
    text = text.replace("expect = [\"WAA-NET-001\"]", "expect = [\"CUST-901\"]")
    (folder / "CUST-901.toml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("args", [["rules", "list"], ["rules", "list", "-f", "markdown"],
                                  ["rules", "show", "CUST-901"]])
def test_rule_text_reaches_the_terminal_without_escape_sequences(
        tmp_path: Path, args: list[str]) -> None:
    _rule_with_escapes(tmp_path)
    result = run(*args, "--rules", str(tmp_path))
    assert result.returncode == 0, result
    assert "CUST-901" in result.stdout and "Evil" in result.stdout
    assert "\x1b" not in result.stdout + result.stderr
    assert "\x9b" not in result.stdout and "\x07" not in result.stdout
    assert re.search(r"\\x1b\\?\]52", result.stdout)  # shown as visible text


# GFM (github.github.com/gfm, "Autolinks (extension)") links http(s)://, www. and e-mail
# addresses found in plain text; inside a code span nothing is linked.
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)*?\1", re.S)
_GFM_AUTOLINK = re.compile(
    r"(?i)(?:^|[\s*_~(])(?:https?://|ftp://|www\.)|[a-z0-9._+-]@[a-z0-9_-]+\.[a-z0-9]")


def _linkable_outside_code(markdown: str) -> list[str]:
    plain = _CODE_SPAN.sub(" ", re.sub(r"(?ms)^```.*?^```", " ", markdown))
    return [line for line in plain.splitlines() if _GFM_AUTOLINK.search(line)]


@pytest.mark.parametrize("hostile", [
    "see https://evil.example/pay now", "www.evil.example/login", "mail admin@evil.example",
    "(http://evil.example)", "*https://evil.example*", "x|https://evil.example|y",
])
def test_markdown_inline_text_leaves_no_bare_link(hostile: str) -> None:
    for rendered in (md_inline(hostile), md_cell(hostile), md_inline(hostile, line_start=False)):
        assert "evil.example" in rendered
        assert not _linkable_outside_code(rendered), rendered


def test_markdown_report_leaves_no_bare_attacker_url() -> None:
    """A message capture and a member name carrying URLs: the whole Markdown report has no
    text GFM would link, except the rule pack's own references."""
    line = ("WARNING", FAILURE.replace("IOError", "IOError https://evil.example/phish "
                                        "www.evil.example admin@evil.example"))
    files = {"var/log/waagent.log": _log(line, line, line),
             "var/log/azure/https:/evil.example/x.log": "hello\n"}
    analysis = analyze_files(files, AnalyzeOptions(isolate=False))
    assert analysis.report.findings
    markdown = get_renderer("markdown").render(analysis.report)
    assert "evil.example" in markdown
    references = re.compile(r"^- <https://[^>]+>$")
    linkable = [line for line in _linkable_outside_code(markdown)
                if not references.match(line) and "evil" in line]
    assert not linkable, linkable


def test_a_result_part_is_on_disk_before_its_name_appears(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between the write and the rename must not leave a named, half-written part:
    the temporary file is fsync'd before the rename, and the folder after it."""
    import os

    from analyzer.batch import store as store_module

    journal: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        journal.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source: str | Path, target: str | Path) -> None:
        journal.append(("rename", str(target)))
        real_replace(source, target)

    monkeypatch.setattr(store_module.os, "fsync", fsync)
    monkeypatch.setattr(store_module.os, "replace", replace)
    results = store_module.ResultStore(tmp_path / "out")
    results.open_for_writing(resume=False)
    try:
        results.write_fleet([])
    finally:
        results.close()
    (part,) = (tmp_path / "out" / "fleet_findings").glob("*.parquet")
    renamed = journal.index(("rename", str(part)))
    synced = [i for i, (what, path) in enumerate(journal)
              if what == "fsync" and Path(path).name.startswith(store_module.TEMP_PREFIX)]
    assert synced and synced[0] < renamed, journal
    assert ("fsync", str(part.parent)) in journal[renamed:], journal
