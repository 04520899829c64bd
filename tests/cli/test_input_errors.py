"""Every input mistake is loud: exit 2 before any analysis, with a message naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.clihelp import failing_bundle, run


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("WAA-AGT-001.nope=3", "unknown parameter; valid options: "),
        ("WAA-AGT-001.min_version=abc", "expected a version"),
        ("WAA-NOPE-001.x=1", "unknown rule id"),
        ("novalue", "expected RULE-ID.name=value"),
    ],
)
def test_bad_params_exit_2(tmp_path: Path, param: str, message: str) -> None:
    result = run("analyze", str(failing_bundle(tmp_path)), "--param", param)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert result.stdout == ""  # no report: nothing was analysed


def test_bad_numeric_param_values_exit_2(tmp_path: Path) -> None:
    rules = json.loads(run("rules", "list", "--format", "json").stdout)["rules"]
    numeric = next((r["id"], name) for r in rules for name, value in r["params"].items()
                   if isinstance(value, int | float) and not isinstance(value, bool))
    for bad in ("abc", "inf", "-5"):
        result = run("analyze", str(failing_bundle(tmp_path)),
                     "--param", f"{numeric[0]}.{numeric[1]}={bad}")
        assert result.returncode == 2, (bad, result)


def test_missing_rules_folder_exit_2(tmp_path: Path) -> None:
    result = run("analyze", str(failing_bundle(tmp_path)), "--rules", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such folder" in result.stderr


@pytest.mark.parametrize("target", ["missing-dir/out.json", "."])
def test_unwritable_output_exit_2(tmp_path: Path, target: str) -> None:
    result = run("analyze", str(failing_bundle(tmp_path)), "-f", "json", "-o",
                 str(tmp_path / target))
    assert result.returncode == 2, result
    assert "--output" in result.stderr and "internal error" not in result.stderr


def test_rule_load_problems_reach_the_json_problems(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "CUST-001.toml").write_text('id = "CUST-001"\ntitle = 3\n')
    result = run("analyze", str(failing_bundle(tmp_path)), "-f", "json", "--rules", str(rules))
    problems = json.loads(result.stdout)["bundle"]["problems"]
    assert any(p["member"] == "<rules>" and "CUST-001.toml" in p["message"] for p in problems)
