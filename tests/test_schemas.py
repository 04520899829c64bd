"""The published JSON Schemas (schemas/): every JSON report the fixtures produce validates
against report-v1, every shipped rule file against rule.schema.json, and broken ones do not."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.engine.findings import CATEGORIES, SEVERITIES
from analyzer.engine.loader import COMPARE_OPS, LANGUAGES, LEVELS, SOURCE_KINDS
from analyzer.tables import TABLES
from tests.cli.clihelp import BENIGN, FAIL, log_text, run, tar_bundle

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "schemas"
BUNDLES = sorted((REPO / "fixtures" / "bundles").iterdir())
RULE_FILES = sorted((REPO / "rules").glob("*/*.toml"))


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


REPORT = _validator("report-v1.schema.json")
RULE = _validator("rule.schema.json")


def _errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return [f"{error.json_path}: {error.message[:200]}" for error in validator.iter_errors(document)]


def _analyze_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["analyze", *args, "--format", "json", "--no-config"])
    assert result.exit_code in (0, 1), (args, result.exit_code, result.output[-2000:])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_every_fixture_report_validates(bundle: Path) -> None:
    _, report = _analyze_json(str(bundle))
    assert _errors(REPORT, report) == []


def test_incomplete_and_problem_reports_validate(tmp_path: Path) -> None:
    conf_only = tar_bundle(tmp_path / "conf-only.tgz",
                           {"etc/waagent.conf": "Extensions.Enabled=y\n"})
    _, report = _analyze_json(str(conf_only))
    assert report["coverage"]["not_checked"]  # the incomplete case is really exercised
    assert _errors(REPORT, report) == []

    corrupt = tar_bundle(tmp_path / "corrupt.tgz", {
        "var/log/waagent.log": log_text([BENIGN, FAIL]),
        "var/log/waagent.log.1.gz": b"\x1f\x8b\x08\x00 not really gzip",
    })
    _, report = _analyze_json(str(corrupt))
    assert report["bundle"]["problems"], report["bundle"]
    assert _errors(REPORT, report) == []

    rules = tmp_path / "my-rules"
    rules.mkdir()
    (rules / "MY-001.toml").write_text('id = "MY-001"\n', encoding="utf-8")
    result = run("analyze", str(corrupt), "--rules", str(rules), "-f", "json", "--no-config")
    assert result.returncode in (0, 1), result  # a broken extra rule: said in the report
    report = json.loads(result.stdout)
    assert any(p["member"] == "<rules>" for p in report["bundle"]["problems"])
    assert _errors(REPORT, report) == []


def test_stdin_and_self_check_reports_validate(tmp_path: Path) -> None:
    bundle = BUNDLES[0] if BUNDLES[0].is_file() else next(b for b in BUNDLES if b.is_file())
    piped = run("analyze", "-", "-f", "json", "--no-config", stdin=bundle.read_bytes())
    assert piped.returncode in (0, 1), piped
    assert _errors(REPORT, json.loads(piped.stdout)) == []
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "waagent.conf").write_text("Extensions.Enabled=n\n", encoding="utf-8")
    live = run("self-check", "--root", str(tmp_path), "-f", "json",
               env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert live.returncode in (0, 1), live
    assert _errors(REPORT, json.loads(live.stdout)) == []


def _a_report() -> dict[str, Any]:
    _, report = _analyze_json(str(REPO / "fixtures" / "bundles" / "wireserver-down-g4.tgz"))
    assert report["findings"] and report["findings"][0]["evidence"]
    return report


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("severity", lambda r: r["findings"][0].update(severity="severe")),
        ("category", lambda r: r["findings"][0].update(category="misc")),
        ("extra key", lambda r: r["findings"][0].update(confidence=0.9)),
        ("missing summary", lambda r: r.pop("summary")),
        ("schema id", lambda r: r.update(schema="waagent-analyzer/report/v2")),
        ("timestamp without Z", lambda r: r["findings"][0].update(first_seen="2024-01-01 10:00")),
        ("line as text", lambda r: r["findings"][0]["evidence"][0].update(line="12")),
        ("counts key", lambda r: r["summary"]["counts"].update(fatal=1)),
        ("file size", lambda r: r["bundle"]["files"][0].update(size=-1)),
    ],
)
def test_a_broken_report_fails_validation(where: str, change: Any) -> None:
    report = copy.deepcopy(_REPORT_CACHE.setdefault("r", _a_report()))
    assert _errors(REPORT, report) == []
    change(report)
    assert _errors(REPORT, report), where


_REPORT_CACHE: dict[str, dict[str, Any]] = {}


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.stem for p in RULE_FILES])
def test_every_shipped_rule_validates(path: Path) -> None:
    assert _errors(RULE, tomllib.loads(path.read_text(encoding="utf-8"))) == []


def _net001() -> dict[str, Any]:
    return tomllib.loads((REPO / "rules" / "network" / "WAA-NET-001.toml").read_text("utf-8"))


def _first_check(rule: dict[str, Any]) -> dict[str, Any]:
    return next(iter(rule["checks"].values()))


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("unknown top key", lambda r: r.update(seed_cause=1)),
        ("missing condition", lambda r: r.pop("condition")),
        ("bad severity", lambda r: r.update(severity="urgent")),
        ("bad category", lambda r: r.update(category="misc")),
        ("remediation without pt-BR", lambda r: r["remediation"].pop("pt-BR")),
        ("unknown check kind", lambda r: _first_check(r).update(kind="regex")),
        ("duration without unit", lambda r: _first_check(r).update(within="72")),
        ("unknown source", lambda r: _first_check(r).update(sources=["syslog.old"])),
        ("unknown check key", lambda r: _first_check(r).update(maximum=3)),
        ("sequence without then", lambda r: _first_check(r).update(kind="sequence")),
        ("table check with pattern",
         lambda r: _first_check(r).update(kind="table", table="config")),
        ("translation key", lambda r: r.update(translations={"pt-BR": {"remedy": "x"}})),
        ("test without files", lambda r: r.update(tests=[{"name": "x", "expect": []}])),
    ],
)
def test_a_broken_rule_fails_validation(where: str, change: Any) -> None:
    rule = _net001()
    assert _errors(RULE, rule) == []
    change(rule)
    assert _errors(RULE, rule), where


def test_schema_vocabularies_follow_the_code() -> None:
    """A new category, severity, source kind, table or operator must reach the schemas."""
    report = json.loads((SCHEMAS / "report-v1.schema.json").read_text(encoding="utf-8"))
    rule = json.loads((SCHEMAS / "rule.schema.json").read_text(encoding="utf-8"))
    finding = report["$defs"]["finding"]["properties"]
    assert finding["category"]["enum"] == list(CATEGORIES)
    assert finding["severity"]["enum"] == list(SEVERITIES)
    assert rule["properties"]["category"]["enum"] == list(CATEGORIES)
    assert rule["$defs"]["severity"]["enum"] == list(SEVERITIES)
    assert rule["properties"]["remediation"]["required"] == list(LANGUAGES)
    log_check = rule["properties"]["checks"]["additionalProperties"]["oneOf"][1]["properties"]
    assert log_check["sources"]["items"]["enum"] == list(SOURCE_KINDS)
    assert log_check["levels"]["items"]["enum"] == list(LEVELS)
    table_check = rule["properties"]["checks"]["additionalProperties"]["oneOf"][4]["properties"]
    assert table_check["table"]["enum"] == list(TABLES)
    assert table_check["compare"]["properties"]["op"]["enum"] == list(COMPARE_OPS)


def test_schemas_ship_in_the_wheel() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include.get("schemas") == "analyzer/schemas"
