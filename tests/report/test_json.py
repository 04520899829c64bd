"""The published JSON contract ``waagent-analyzer/report/v1``."""

from __future__ import annotations

import json
from typing import Any

from analyzer.report.model import SEVERITIES, Report
from analyzer.report.renderers import get_renderer

STR = str
OPT_STR = (str, type(None))
OPT_INT = (int, type(None))

# The exact shape: dict = these keys and no others; [x] = list of x; a type = value type.
CONTRACT: dict[str, Any] = {
    "schema": STR,
    "tool": {"name": STR, "version": STR},
    "bundle": {
        "source": STR,
        "sha256": STR,
        "collected_at": OPT_STR,
        "collected_at_source": OPT_STR,
        "time_range": {"start": OPT_STR, "end": OPT_STR},
        "agent": {"daemon_versions": [STR], "goal_state_agent_versions": [STR]},
        "extensions": [{"name": STR, "version": STR, "state": STR, "source": STR}],
        "files": [{"member": STR, "kind": STR, "size": int}],
        "problems": [{"member": STR, "message": STR}],
    },
    "findings": [
        {
            "rule": STR,
            "category": STR,
            "severity": STR,
            "title": STR,
            "message": STR,
            "count": int,
            "first_seen": OPT_STR,
            "last_seen": OPT_STR,
            "evidence": [{"member": STR, "line": OPT_INT, "timestamp": OPT_STR, "text": STR,
                          "repeats": int}],
            "remediation": STR,
            "references": [STR],
            "status": OPT_STR,
        }
    ],
    "summary": {
        "worst_severity": OPT_STR,
        "counts": {"critical": int, "high": int, "medium": int, "low": int, "info": int},
    },
    "coverage": {"not_checked": [{"missing": STR, "reason": STR, "rules": [STR]}]},
}


def check_shape(value: Any, shape: Any, path: str = "$") -> None:
    if isinstance(shape, dict):
        assert isinstance(value, dict), path
        assert set(value) == set(shape), f"{path}: keys {sorted(value)} != {sorted(shape)}"
        for key, sub in shape.items():
            check_shape(value[key], sub, f"{path}.{key}")
    elif isinstance(shape, list):
        assert isinstance(value, list), path
        for index, item in enumerate(value):
            check_shape(item, shape[0], f"{path}[{index}]")
    else:
        assert isinstance(value, shape), f"{path}: {type(value).__name__}"
        if shape is int:
            assert not isinstance(value, bool), path


def render(report: Report) -> str:
    return get_renderer("json", "en").render(report)


def test_contract_shape(report: Report) -> None:
    doc = json.loads(render(report))
    check_shape(doc, CONTRACT)
    assert doc["schema"] == "waagent-analyzer/report/v1"
    assert doc["tool"] == {"name": "waagent-analyzer", "version": "0.1.0"}
    assert len(doc["findings"]) == 5
    assert sum(1 for f in doc["findings"] if f["evidence"]) == 4
    assert doc["bundle"]["problems"] and doc["bundle"]["files"] and doc["bundle"]["extensions"]
    assert doc["summary"] == {
        "worst_severity": "critical",
        "counts": {"critical": 1, "high": 1, "medium": 1, "low": 1, "info": 1},
    }


def test_findings_worst_first_and_values(report: Report) -> None:
    doc = json.loads(render(report))
    severities = [f["severity"] for f in doc["findings"]]
    assert severities == sorted(severities, key=SEVERITIES.index)
    net = next(f for f in doc["findings"] if f["rule"] == "WAA-NET-001")
    assert net["first_seen"] == "2025-03-10T08:30:00Z"
    assert net["evidence"][0] == {
        "member": "case-4711.tgz!var/log/waagent.log",
        "line": 1204,
        "timestamp": "2025-03-10T08:30:00Z",
        "text": net["evidence"][0]["text"],
        "repeats": 1,
    }
    # Data is kept verbatim (consumers get the real text), just JSON-escaped.
    assert net["evidence"][1]["text"].startswith("attacker \x1b[2J")


def test_ascii_only_and_control_characters_escaped(report: Report) -> None:
    out = render(report)
    assert out.isascii()
    assert "\x1b" not in out and "\x07" not in out
    assert "\\u001b[2J" in out
    assert "\\u202e" in out
    assert json.loads(out) == report.to_dict()


def test_empty_report_contract(empty_report: Report) -> None:
    doc = json.loads(render(empty_report))
    check_shape(doc, CONTRACT)
    assert doc["findings"] == []
    assert doc["summary"]["worst_severity"] is None
    assert doc["bundle"]["collected_at"] is None
    assert doc["bundle"]["time_range"] == {"start": None, "end": None}


def test_language_does_not_change_json(report: Report) -> None:
    assert get_renderer("json", "pt-BR").render(report) == render(report)
