"""``analyze --lang pt-BR``: every format shows the rules' Portuguese titles and messages
(translated once, at evaluation), never the English ones."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from tests.cli.clihelp import REPO, run

BUNDLE = REPO / "fixtures" / "bundles" / "wireserver-down-g4.tgz"
TITLE_PT = "A VM não consegue alcançar o WireServer (168.63.129.16)"
MESSAGE_PT = "As chamadas ao WireServer falharam 39 vezes"
TITLE_EN = "The VM cannot reach the WireServer"
MESSAGE_EN = "Calls to the WireServer failed"


def _analyze(tmp_path: Path, fmt: str) -> str:
    output = tmp_path / f"report.{fmt}"
    result = run("analyze", str(BUNDLE), "--lang", "pt-BR", "-f", fmt, "-o", str(output))
    assert result.returncode == 1, result
    return output.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_readable_formats_show_portuguese_titles_and_messages(tmp_path: Path, fmt: str) -> None:
    document = _analyze(tmp_path, fmt)
    if fmt == "html":
        document = html.unescape(document)
    assert TITLE_PT in document and MESSAGE_PT in document
    assert TITLE_EN not in document and MESSAGE_EN not in document


def test_json_findings_carry_portuguese_titles_and_messages(tmp_path: Path) -> None:
    findings = {f["rule"]: f for f in json.loads(_analyze(tmp_path, "json"))["findings"]}
    assert findings["WAA-NET-001"]["title"] == TITLE_PT
    assert findings["WAA-NET-001"]["message"].startswith(MESSAGE_PT)
    assert findings["WAA-GS-001"]["title"] == (
        "O goal state não pode ser obtido ou processado e não se recuperou")


def test_sarif_rules_and_results_are_in_portuguese(tmp_path: Path) -> None:
    run0 = json.loads(_analyze(tmp_path, "sarif"))["runs"][0]
    assert run0["language"] == "pt-BR"
    rules = {r["id"]: r for r in run0["tool"]["driver"]["rules"]}
    assert rules["WAA-NET-001"]["shortDescription"]["text"] == TITLE_PT
    results = {r["ruleId"]: r for r in run0["results"]}
    assert results["WAA-NET-001"]["message"]["text"].startswith(f"{TITLE_PT}: {MESSAGE_PT}")


def test_rule_catalogue_and_rules_show_carry_the_portuguese_title() -> None:
    listed = run("rules", "list", "--format", "json")
    assert listed.returncode == 0, listed
    rules = {r["id"]: r for r in json.loads(listed.stdout)["rules"]}
    assert rules["WAA-NET-001"]["title_pt"] == TITLE_PT
    assert [r for r, entry in rules.items() if not entry["title_pt"]] == []
    shown = run("rules", "show", "WAA-NET-001", "--lang", "pt-BR")
    assert shown.returncode == 0, shown
    assert shown.stdout.splitlines()[0] == f"# WAA-NET-001: {TITLE_PT}"
    assert "[translations.pt-BR]" in shown.stdout
    english = run("rules", "show", "WAA-NET-001", "--lang", "en")
    assert english.stdout.splitlines()[0].startswith(f"# WAA-NET-001: {TITLE_EN}")
