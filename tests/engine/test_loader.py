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


# -- hostile rule files and parameters are rule errors (exit 2), never a crash (exit 4) ---------


def _net_001_with(tmp_path: Path, old: str, new: str) -> tuple[Path, list[str]]:
    text = NET_001.read_text()
    assert old in text
    path = write_rule(tmp_path, "WAA-NET-001", text.replace(old, new, 1))
    return path, [str(e) for e in load_rules([tmp_path]).errors]


def test_infinite_window_is_a_rule_error(tmp_path: Path) -> None:
    _, errors = _net_001_with(tmp_path, "[checks.wire_failure]\n",
                              "[checks.wire_failure]\nwithin_hours = inf\n")
    assert any("'within_hours' must be a finite number, got inf" in e for e in errors), errors


def test_infinite_sequence_window_is_a_rule_error(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "rules" / "snapshot-failure" /
            "WAA-SNAP-015.toml").read_text()
    assert 'kind = "sequence"\n' in text
    text = text.replace('kind = "sequence"\n', 'kind = "sequence"\nwithin_minutes = inf\n', 1)
    write_rule(tmp_path, "WAA-SNAP-015", text)
    pack = load_rules([tmp_path])
    assert pack.rules == []
    assert any("'within_minutes' must be a finite number" in str(e) for e in pack.errors)


def test_deeply_nested_toml_is_a_rule_error(tmp_path: Path) -> None:
    for depth in (40, 100_000):
        _, errors = _net_001_with(tmp_path, "[params]\n",
                                  f"deep = {'[' * depth}1{']' * depth}\n[params]\n")
        assert errors and all("nested" in e for e in errors), (depth, errors[:2])


def test_a_non_numeric_param_is_a_usage_error(tmp_path: Path) -> None:
    pack = load_rules([NET_001], {"WAA-NET-001": {"min_count": "abc"}})
    (error,) = pack.errors
    assert error.from_params
    assert "--param min_count: must be an integer like its default 1, got 'abc'" in str(error)


def test_analyze_refuses_a_bad_param_before_any_work() -> None:
    import pytest

    from analyzer.errors import UsageError
    from analyzer.pipeline import AnalyzeOptions, load_pack

    with pytest.raises(UsageError, match="min_count"):
        load_pack(AnalyzeOptions(params={"WAA-NET-001": {"min_count": "1e999x"}}))


def test_message_templates_cannot_reach_objects_or_pad_without_bound(tmp_path: Path) -> None:
    for template, problem in (
        ("{count:>2000000000}", "width or precision above 100"),
        ("{count:.999999}", "width or precision above 100"),
        ("{x.__class__.__mro__}", "must be a plain variable name"),
        ("{x[0]}", "must be a plain variable name"),
        ("{0}", "must be a plain variable name"),
        ("{count:{count}}", "nested fields are not allowed"),
        ("{count", "invalid message template"),
    ):
        _, errors = _net_001_with(tmp_path, 'message = "', f'message = "{template} ')
        assert any(problem in e for e in errors), (template, errors)


def test_fill_refuses_attribute_access_even_from_a_cached_pack() -> None:
    from analyzer.engine.template import fill

    assert fill("{x.__class__}", {"x": 1}) == "{x.__class__}"
    assert fill("{count:>2000000000}", {"count": 1}) == "{count:>2000000000}"
    assert fill("{count:>4} times, {missing}", {"count": 7}) == "   7 times, "
