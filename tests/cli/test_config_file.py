"""The config file: found upwards from the current folder, overridden by options, loud when
wrong (exit 2 naming the file and the key), ignored with --no-config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.config import find_config, load_config
from analyzer.errors import UsageError
from tests.cli.clihelp import failing_bundle, run


def _project(tmp_path: Path, table: str, name: str = "pyproject.toml") -> Path:
    """A project folder (with .git, so the search stops there) and a sub-folder to run in."""
    (tmp_path / ".git").mkdir()
    body = f"[tool.waagent-analyzer]\n{table}" if name == "pyproject.toml" else table
    (tmp_path / name).write_text(body, encoding="utf-8")
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    return work


def test_pyproject_table_found_upwards_sets_format_and_fail_on(tmp_path: Path) -> None:
    bundle = failing_bundle(tmp_path)
    work = _project(tmp_path, 'fail-on = "never"\nformat = "json"\n')
    result = run("analyze", str(bundle), cwd=work)
    assert result.returncode == 0, result  # the findings are critical: only fail-on=never
    assert json.loads(result.stdout)["schema"] == "waagent-analyzer/report/v1"


def test_command_line_overrides_the_file(tmp_path: Path) -> None:
    bundle = failing_bundle(tmp_path)
    work = _project(tmp_path, 'fail-on = "never"\nformat = "json"\n')
    result = run("analyze", str(bundle), "--fail-on", "high", "--format", "text", cwd=work)
    assert result.returncode == 1, result
    assert "VERDICT" in result.stdout


def test_no_config_ignores_it_and_config_picks_one(tmp_path: Path) -> None:
    bundle = failing_bundle(tmp_path)
    work = _project(tmp_path, 'fail-on = "never"\n')
    assert run("analyze", str(bundle), "--no-config", cwd=work).returncode == 1
    other = tmp_path / "other.toml"
    other.write_text('format = "markdown"\nfail-on = "never"\n', encoding="utf-8")
    result = run("analyze", str(bundle), "--no-config", "--config", str(other), cwd=work)
    assert result.returncode == 2 and "exclude each other" in result.stderr
    result = run("analyze", str(bundle), "--config", str(other), cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("#"), result


def test_dot_file_params_rules_and_lang(tmp_path: Path) -> None:
    bundle = failing_bundle(tmp_path)
    rules = tmp_path / "my-rules"
    rules.mkdir()
    work = _project(tmp_path, 'lang = "pt-BR"\nrules = ["my-rules"]\nformat = "json"\n'
                    'param = ["WAA-AGT-001.min_version=9.9.9"]\n', name=".waagent-analyzer.toml")
    result = run("analyze", str(bundle), "--explain", "WAA-AGT-001", cwd=work)
    assert result.returncode in (0, 1), result
    assert "9.9.9" in result.stdout  # the file's parameter reached the rule
    report = json.loads(run("analyze", str(bundle), cwd=work).stdout)
    assert report["findings"], report
    pt = run("analyze", str(bundle), "--format", "text", cwd=work).stdout
    assert "VEREDITO" in pt, pt[:400]


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('fail_on = "high"\n', "fail_on", "unknown key"),
        ('fail-on = "urgent"\n', "fail-on", "is not one of"),
        ('color = true\n', "color", "expected a string"),
        ('format = "pdf"\n', "format", "is not one of"),
        ('lang = "klingon"\n', "lang", "is not one of en, pt-BR"),
        ('param = "WAA-AGT-001.min_version=1.0"\n', "param", "expected a list"),
        ('param = ["WAA-AGT-001.nope=3"]\n', "param", "unknown parameter"),
        ('param = ["WAA-AGT-001.min_version=abc"]\n', "param", "expected a version"),
        ('rules = ["missing-folder"]\n', "rules", "no such folder"),
    ],
)
def test_bad_key_or_value_is_exit_2_naming_file_and_key(
    tmp_path: Path, table: str, key: str, message: str
) -> None:
    bundle = failing_bundle(tmp_path)
    work = _project(tmp_path, table)
    result = run("analyze", str(bundle), cwd=work)
    assert result.returncode == 2, result
    assert str(tmp_path / "pyproject.toml") in result.stderr
    assert key in result.stderr and message in result.stderr, result.stderr
    assert result.stdout == ""


def test_broken_toml_and_missing_config_are_exit_2(tmp_path: Path) -> None:
    bundle = failing_bundle(tmp_path)
    work = _project(tmp_path, "fail-on = \n", name=".waagent-analyzer.toml")
    result = run("analyze", str(bundle), cwd=work)
    assert result.returncode == 2 and "not valid TOML" in result.stderr, result
    result = run("analyze", str(bundle), "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_search_stops_at_git_folder_and_skips_foreign_pyproject(tmp_path: Path) -> None:
    (tmp_path / ".waagent-analyzer.toml").write_text('fail-on = "never"\n', encoding="utf-8")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[tool.black]\nline-length = 99\n", encoding="utf-8")
    inner = repo / "src"
    inner.mkdir()
    assert find_config(inner) is None  # above .git is someone else's
    assert find_config(tmp_path) == tmp_path / ".waagent-analyzer.toml"
    config = load_config(None, False, start=tmp_path)
    assert config.fail_on == "never"


def test_rules_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "pack").mkdir()
    path = tmp_path / ".waagent-analyzer.toml"
    path.write_text('rules = ["pack"]\n', encoding="utf-8")
    assert load_config(path, False).rules == [tmp_path / "pack"]
    with pytest.raises(UsageError, match="no such file"):
        load_config(tmp_path / "absent.toml", False)


def test_a_broken_pyproject_counts_only_when_it_has_our_table(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["waagent-analyzer"\n', encoding="utf-8")
    assert find_config(tmp_path) is None
    pyproject.write_text('[tool.waagent-analyzer]\nfail-on = \n', encoding="utf-8")
    assert find_config(tmp_path) == pyproject
    with pytest.raises(UsageError, match="not valid TOML"):
        load_config(None, False, start=tmp_path)
