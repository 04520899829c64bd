"""Rule titles and messages can be translated; a translation is checked like the rest."""

from __future__ import annotations

import re
from pathlib import Path

from analyzer.batch.fleet import load_fleet_rules
from analyzer.engine.benign import load_benign
from analyzer.engine.loader import load_rules
from analyzer.pipeline import AnalyzeOptions, analyze_files

RULE = """\
id = "MY-T01"
title = "Agent stopped"
category = "agent-not-running"
severity = "high"
description = "d"
message = "Stopped {count} times ({what})"
condition = "a"

[remediation]
en = "Start it."
pt-BR = "Inicie-o."

[translations.pt-BR]
title = "Agente parado"
message = "Parou {count} vezes ({what})"

[checks.a]
kind = "log"
sources = ["windows_agent_log"]
pattern = '(?P<what>WindowsAzureGuestAgent stopping)'
"""
RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
LOG = "[00000007] [07/18/2019 14:46:28.87] [WARN] WindowsAzureGuestAgent stopping.\n"


def _analyse(directory: Path, lang: str) -> tuple[str, str]:
    pack = load_rules([directory])
    assert not pack.errors, pack.errors
    analysis = analyze_files(
        {"WindowsAzure/Logs/WaAppAgent.log": LOG},
        AnalyzeOptions(builtin_rules=False, lang=lang, isolate=False),
        pack=pack,
    )
    (finding,) = analysis.report.findings
    return finding.title, finding.message


def test_titles_and_messages_follow_the_language(tmp_path: Path) -> None:
    (tmp_path / "MY-T01.toml").write_text(RULE, encoding="utf-8")
    assert _analyse(tmp_path, "pt-BR") == (
        "Agente parado", "Parou 1 vezes (WindowsAzureGuestAgent stopping)"
    )
    assert _analyse(tmp_path, "en") == (
        "Agent stopped", "Stopped 1 times (WindowsAzureGuestAgent stopping)"
    )


def test_bad_translations_are_errors(tmp_path: Path) -> None:
    text = RULE.replace("[translations.pt-BR]", "[translations.fr]").replace(
        'message = "Parou {count} vezes ({what})"', 'message = "Parou {total}"'
    )
    (tmp_path / "MY-T01.toml").write_text(text, encoding="utf-8")
    messages = [str(e) for e in load_rules([tmp_path]).errors]
    assert any("unknown translation language 'fr'; valid options: pt-BR" in m for m in messages)
    text = RULE.replace('message = "Parou {count} vezes ({what})"', 'message = "Parou {total}"')
    (tmp_path / "MY-T01.toml").write_text(text, encoding="utf-8")
    messages = [str(e) for e in load_rules([tmp_path]).errors]
    assert any("translated message uses ['total']" in m for m in messages), messages


def test_every_windows_rule_is_translated() -> None:
    rules_dir = Path(__file__).resolve().parents[2] / "rules"
    pack = load_rules([rules_dir])
    windows = [r for r in pack.rules if r.id.startswith("WAA-WIN-")]
    assert len(windows) == 17
    for rule in windows:
        assert set(rule.translations["pt-BR"]) == {"title", "message"}, rule.id
        assert rule.guide_cause in (1, 3, 4, 5), rule.id
        assert any(test.expect == [] for test in rule.tests), rule.id
        assert any(rule.id in test.expect for test in rule.tests), rule.id


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def _translation_problems(rule_id: str, english: dict[str, str],
                          portuguese: dict[str, str]) -> list[str]:
    problems = []
    for key in ("title", "message"):
        text = portuguese.get(key, "")
        if not text.strip():
            problems.append(f"{rule_id}: no pt-BR {key}")
        elif text.strip() == english[key].strip():
            problems.append(f"{rule_id}: pt-BR {key} is the English text")
    if _placeholders(portuguese.get("message", "")) != _placeholders(english["message"]):
        problems.append(
            f"{rule_id}: pt-BR message placeholders {_placeholders(portuguese.get('message', ''))}"
            f" differ from the English {_placeholders(english['message'])}"
        )
    return problems


def test_every_shipped_rule_has_a_pt_br_title_and_message() -> None:
    """What a reader sees is in both languages: a rule without its pt-BR title or message, or
    whose translated message drops or adds a placeholder, fails here."""
    pack = load_rules([RULES_DIR])
    assert not pack.errors, pack.errors
    assert len(pack.rules) == len(list(RULES_DIR.rglob("WAA-*.toml"))) >= 70
    problems = []
    for rule in pack.rules:
        english = {"title": rule.title, "message": rule.message}
        problems += _translation_problems(rule.id, english, rule.translations.get("pt-BR", {}))
    assert problems == [], "\n".join(problems)


def test_every_fleet_rule_has_a_pt_br_title_and_message() -> None:
    rules = load_fleet_rules()
    assert rules
    problems = []
    for rule in rules.values():
        english = {"title": rule.title, "message": rule.message}
        problems += _translation_problems(rule.id, english, rule.translations.get("pt-BR", {}))
    assert problems == [], "\n".join(problems)


def test_the_completeness_check_catches_what_is_missing() -> None:
    english = {"title": "Agent stopped", "message": "Stopped {count} times ({what})"}
    assert _translation_problems("X", english, {"title": "Agente parado"}) == [
        "X: no pt-BR message", "X: pt-BR message placeholders [] differ from the English "
        "['count', 'what']"]
    assert _translation_problems("X", english, {
        "title": "Agent stopped", "message": "Parou {count} vezes"}) == [
        "X: pt-BR title is the English text",
        "X: pt-BR message placeholders ['count'] differ from the English ['count', 'what']"]
    assert _translation_problems("X", english, {
        "title": "Agente parado", "message": "Parou {count} vezes ({what})"}) == []


FETCH_TIMEOUT = (
    "WARNING ExtHandler ExtHandler Fetch failed: [HttpError] [HTTP Failed] GET "
    "http://168.63.129.16/machine/?comp=goalstate -- IOError timed out -- 6 attempts made"
)


def test_every_benign_reason_has_a_pt_br_text() -> None:
    """The down-rank reason is printed under the finding: it is translated too."""
    benign, errors = load_benign(RULES_DIR / "benign.toml")
    assert errors == [] and benign.entries
    missing = [e.id for e in benign.entries
               if not e.translations.get("pt-BR", "").strip()
               or e.translations["pt-BR"].strip() == e.reason.strip()]
    assert missing == []


def test_the_down_rank_reason_follows_the_language() -> None:
    log = "".join(f"2024-02-01T10:{i:02d}:00.000000Z {FETCH_TIMEOUT}\n" for i in range(2))
    reasons = {}
    for lang in ("en", "pt-BR"):
        analysis = analyze_files({"var/log/waagent.log": log},
                                 AnalyzeOptions(lang=lang, isolate=False))
        finding = next(f for f in analysis.report.findings if f.rule == "WAA-NET-001")
        assert finding.severity == "info"
        reasons[lang] = finding.downranked
    assert reasons["en"] == ("goal-state-timeouts: a few goal-state timeouts happen on healthy "
                             "VMs during host maintenance (seen 2x, threshold 5)")
    assert reasons["pt-BR"] == ("goal-state-timeouts: alguns timeouts do goal state acontecem "
                                "em VMs saudáveis durante a manutenção do host (visto 2x, "
                                "limite 5)")


def test_a_malformed_benign_translation_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "benign.toml"
    path.write_text('[[benign]]\nid = "x"\npattern = "a"\nsample = "a"\nreason = "r"\n'
                    '[benign.translations.pt-BR]\ntext = "r"\n', encoding="utf-8")
    benign, errors = load_benign(path)
    assert benign.entries == []
    assert errors and "must be a table with a 'reason' text" in errors[0]
