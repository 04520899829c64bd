"""SARIF 2.1.0 output, validated against the official OASIS schema (tests/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.cli.clihelp import failing_bundle, run, tar_bundle

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "sarif-schema-2.1.0.json").read_text()
)


def _validate(document: dict) -> None:
    jsonschema.Draft4Validator(
        SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    ).validate(document)


def test_findings_are_valid_sarif_results(tmp_path: Path) -> None:
    result = run("analyze", str(failing_bundle(tmp_path)), "-f", "sarif")
    assert result.returncode == 1, result
    document = json.loads(result.stdout)
    _validate(document)
    run0 = document["runs"][0]
    results = {r["ruleId"]: r for r in run0["results"]}
    assert results["WAA-NET-001"]["level"] == "error"
    location = results["WAA-NET-001"]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "case.tgz!var/log/waagent.log"
    assert location["region"]["startLine"] >= 2
    assert run0["tool"]["driver"]["rules"][results["WAA-NET-001"]["ruleIndex"]]["id"] == (
        "WAA-NET-001")


def test_not_checked_and_hostile_names_stay_valid(tmp_path: Path) -> None:
    bundle = tar_bundle(tmp_path / "odd name.tgz", {
        "etc/waagent.conf": "Extensions.Enabled=n\n",
        "var/lib/waagent/a b%c\u00e9/HandlerState": "Enabled",
    })
    result = run("analyze", str(bundle), "-f", "sarif", "--lang", "pt-BR")
    document = json.loads(result.stdout)
    _validate(document)
    notes = document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any("sem log do agente" in n["message"]["text"] for n in notes)


def test_an_invalid_document_is_caught() -> None:
    """The validation is real: a result without a message fails."""
    with pytest.raises(jsonschema.ValidationError):
        _validate({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                                  "results": [{"ruleId": "X"}]}]})
