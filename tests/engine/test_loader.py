"""Rule validation collects every error with path:line:col and lists the valid options."""

from __future__ import annotations

from pathlib import Path

from analyzer.engine.loader import load_rules

BROKEN = """\
id = "MY-001"
title = "Broken on purpose"
category = "netwrk"
severity = "urgent"
description = "d"
message = "m"
condition = "a and not missing"

[remediation]
en = "fix it"

[checks.a]
kind = "log"
levels = ["WARN"]
pattern = '(a)\\1'

[checks.b]
kind = "tabel"
"""


def write_rule(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_all_errors_at_once_with_positions(tmp_path: Path) -> None:
    path = write_rule(tmp_path, "MY-001", BROKEN)
    pack = load_rules([tmp_path])
    messages = sorted(str(e) for e in pack.errors)
    assert pack.rules == []
    expected_starts = [
        f"{path}:14:1: unknown level 'WARN'",
        f"{path}:15:1: pattern not accepted by the linear-time regex engine",
        f"{path}:18:1: unknown check kind 'tabel'; valid options: log, absence, sequence, table",
        f"{path}:3:1: unknown category 'netwrk'; valid options: network, dhcp,",
        f"{path}:4:1: unknown severity 'urgent'; valid options: critical, high, medium, low, info",
        f"{path}:7:1: condition refers to unknown check 'missing'",
        f"{path}:9:1: remediation needs a non-empty 'pt-BR' text",
    ]
    for start in expected_starts:
        assert any(m.startswith(start) for m in messages), (start, messages)
    assert len(messages) == len(expected_starts)


def test_toml_syntax_error_position(tmp_path: Path) -> None:
    path = write_rule(tmp_path, "MY-002", 'id = "MY-002"\ntitle = \n')
    (error,) = load_rules([tmp_path]).errors
    assert str(error).startswith(f"{path}:2:")
    assert "invalid TOML" in str(error)


def test_file_name_must_be_the_id_and_ids_unique(tmp_path: Path) -> None:
    good = (Path(__file__).parents[2] / "rules" / "network" / "WAA-NET-001.toml").read_text()
    write_rule(tmp_path, "OTHER", good)
    errors = [str(e) for e in load_rules([tmp_path]).errors]
    assert any("file name must be the rule id: expected WAA-NET-001.toml" in e for e in errors)


def test_unknown_param_override_is_reported(tmp_path: Path) -> None:
    rules_dir = Path(__file__).parents[2] / "rules" / "network"
    pack = load_rules([rules_dir / "WAA-NET-001.toml"], {"WAA-NET-001": {"nope": "1"}})
    assert any("unknown parameter 'nope'; valid options: min_count" in str(e) for e in pack.errors)


def test_param_override_changes_the_check() -> None:
    rules_dir = Path(__file__).parents[2] / "rules" / "network"
    pack = load_rules([rules_dir / "WAA-NET-001.toml"], {"WAA-NET-001": {"min_count": "7"}})
    (rule,) = pack.rules
    assert rule.checks["wire_failure"].min_count == 7  # type: ignore[attr-defined]


def test_missing_tests_are_errors_when_required(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "rules" / "network" / "WAA-NET-001.toml").read_text()
    text = text[: text.index("[[tests]]")]
    write_rule(tmp_path, "WAA-NET-001", text)
    assert load_rules([tmp_path]).errors == []
    assert len(load_rules([tmp_path]).warnings) == 2
    errors = [str(e) for e in load_rules([tmp_path], require_tests=True).errors]
    assert any("no test case where it fires" in e for e in errors)
    assert any("no test case where it must not fire" in e for e in errors)


NET_001 = Path(__file__).parents[2] / "rules" / "network" / "WAA-NET-001.toml"


def test_the_old_seed_cause_key_points_to_guide_cause(tmp_path: Path) -> None:
    text = NET_001.read_text().replace("guide_cause = ", "seed_cause = ")
    path = write_rule(tmp_path, "WAA-NET-001", text)
    line = text.splitlines().index(next(x for x in text.splitlines()
                                        if x.startswith("seed_cause"))) + 1
    pack = load_rules([tmp_path])
    assert pack.rules == []
    assert [str(e) for e in pack.errors] == [
        f"{path}:{line}:1: 'seed_cause' was renamed: write 'guide_cause' instead"]


def test_guide_cause_reaches_the_rule() -> None:
    (rule,) = load_rules([NET_001]).rules
    assert rule.guide_cause == 1
