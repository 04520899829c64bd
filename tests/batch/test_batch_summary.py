"""summary(): the fleet view in every format, failures listed, bundle strings sanitized."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from batch_helpers import BASE, Spec, build
from conftest import FAST

from analyzer.batch import run_batch, summary
from analyzer.errors import UsageError

MINUTE = timedelta(minutes=1)
EVIL_DEPLOYMENT = "=1+2\u202edep"
EVIL_NAME = "evil\x1b[2Jname.bin"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("summary")
    fleet = root / "fleet"
    build(fleet, Spec("a", wire_failures=6, deployment="dep-1", role_instance="_a",
                      runs=[(BASE, BASE + 10 * MINUTE)]))
    build(fleet, Spec("b", wire_failures=6, deployment="dep-1", role_instance="_b",
                      daemon_version="2.10.0.8", runs=[(BASE + 5 * MINUTE, BASE + 9 * MINUTE)]))
    build(fleet, Spec("c", deployment=EVIL_DEPLOYMENT, role_instance="_c"))
    junk = root / EVIL_NAME
    junk.write_bytes(bytes(range(256)) * 4)
    out = root / "results"
    run_batch([fleet, junk], out, workers=2, limits=FAST, progress=False)
    return out


def test_text_by_category(results: Path) -> None:
    text = summary(results, by="category", fmt="text")
    assert "4 entries: 3 analysed (ok), 0 failed, 1 rejected, 0 timed out, 0 skipped" in text
    network = next(line for line in text.splitlines() if line.strip().startswith("network"))
    assert "2" in network.split() and "66.7%" in network and "critical" in network
    assert "snapshot-failure" in text  # the fleet finding counts as a category
    assert "Fleet findings:" in text and "WAA-FLEET-001" in text and "dep-1" in text
    assert "Not analysed (1):" in text and "rejected" in text


def test_text_is_sanitized(results: Path) -> None:
    text = summary(results, by="deployment", fmt="text")
    assert "\x1b" not in text and "\u202e" not in text
    assert "\\x1b[2J" in text  # the escape is shown, not executed
    assert "\\u202e" in text


def test_by_rule_agent_and_extension_versions(results: Path) -> None:
    by_rule = summary(results, by="rule", fmt="json")
    rules = {g["key"]: g for g in json.loads(by_rule)["groups"]}
    assert rules["WAA-NET-001"]["bundles"] == 2 and rules["WAA-NET-001"]["category"] == "network"
    assert rules["WAA-FLEET-001"]["bundles"] == 2
    assert rules["WAA-NET-001"]["share"] == pytest.approx(2 / 3)

    by_agent = json.loads(summary(results, by="agent_version", fmt="json"))
    assert {g["key"] for g in by_agent["groups"]} == {"(unknown)"}  # no goal-state agent line
    by_extension = json.loads(summary(results, by="extension_version", fmt="json"))
    assert [g["bundles"] for g in by_extension["groups"]] == [3]


def test_json(results: Path) -> None:
    document = json.loads(summary(results, by="deployment", fmt="json"))
    assert document["schema"] == "waagent-analyzer/batch-summary/v1"
    assert document["totals"]["bundles"] == 4 and document["totals"]["rejected"] == 1
    groups = {g["key"]: g for g in document["groups"]}
    assert groups["dep-1"]["bundles"] == 2 and groups["dep-1"]["affected"] == 2
    assert groups["dep-1"]["share"] == pytest.approx(2 / 3)
    assert EVIL_DEPLOYMENT in groups  # JSON keeps the data; its encoding keeps it inert
    assert [f["deployment"] for f in document["fleet_findings"]] == ["dep-1"]
    assert document["failed"][0]["status"] == "rejected"
    assert "\u202e" not in summary(results, by="deployment", fmt="json")  # ensure_ascii


def test_csv(results: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(summary(results, by="deployment", fmt="csv"))))
    sections = [r["section"] for r in rows]
    assert sections.count("group") == 2 and sections.count("fleet") == 1
    assert sections.count("failed") == 1
    keys = [r["key"] for r in rows if r["section"] == "group"]
    assert any(k.startswith("'=1+2") for k in keys)  # formula neutralised
    assert not any(k.startswith("=") for k in keys)
    failed = next(r for r in rows if r["section"] == "failed")
    assert "\x1b" not in failed["key"] and failed["category"] == "rejected"


def test_markdown(results: Path) -> None:
    text = summary(results, by="rule", fmt="markdown")
    assert text.startswith("# Batch summary")
    assert "| key | bundles | share | occurrences | worst severity | category | title |" in text
    assert "## Fleet findings" in text and "## Not analysed" in text
    assert "\x1b" not in text


def test_bad_arguments(results: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--by"):
        summary(results, by="colour")
    with pytest.raises(UsageError, match="--format"):
        summary(results, fmt="xml")
    with pytest.raises(UsageError, match="not a batch results folder"):
        summary(tmp_path)
