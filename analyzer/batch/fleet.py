"""Cross-bundle ("fleet") rules, evaluated over the whole results folder.

WAA-FLEET-001: VMs of one deployment whose backup runs overlap in time. Its words and params
are data in ``fleet_rules.toml`` (kept out of ``rules/``, see README); the logic is here.

VM identity: bundles of one deployment are grouped per role instance (``_vm1`` in
SharedConfig), so two bundles collected from the same VM on different days count as one VM
and never "overlap" with themselves. A bundle without a role instance is a VM of its own.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.batch.model import OK

RULES_FILE = Path(__file__).with_name("fleet_rules.toml")
OVERLAP_RULE = "WAA-FLEET-001"


@dataclass(frozen=True)
class FleetRule:
    id: str
    title: str
    category: str
    severity: str
    guide_cause: int | None
    message: str
    remediation: dict[str, str]
    params: dict[str, Any]
    references: list[str] = field(default_factory=list)
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{lang: {"title": ..., "message": ...}}``, as in a rule file's ``[translations.<lang>]``."""

    def text(self, key: str, lang: str) -> str:
        """``title`` or ``message`` in ``lang``, English when that language has none."""
        return str(self.translations.get(lang, {}).get(key) or getattr(self, key))


def load_fleet_rules(path: Path = RULES_FILE) -> dict[str, FleetRule]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {
        rule_id: FleetRule(
            id=rule_id, title=body["title"], category=body["category"],
            severity=body["severity"], guide_cause=body.get("guide_cause"),
            message=body["message"], remediation=dict(body["remediation"]),
            params=dict(body.get("params", {})), references=list(body.get("references", [])),
            translations={lang: dict(table)
                          for lang, table in body.get("translations", {}).items()})
        for rule_id, body in data.items()
    }


@dataclass(frozen=True)
class Run:
    vm: str
    sha256: str
    start: datetime
    end: datetime


def evaluate_fleet(bundles: list[dict[str, Any]], runs: list[dict[str, Any]],
                   lang: str = "en", rules: dict[str, FleetRule] | None = None
                   ) -> list[dict[str, Any]]:
    """Fleet findings as rows of the ``fleet_findings`` table.

    ``bundles``: rows with sha256, status, deployment, role_instance, collected_at;
    ``runs``: rows with sha256, start, end (``None`` for a run that never ended).
    """
    rules = rules or load_fleet_rules()
    rule = rules[OVERLAP_RULE]
    by_deployment = runs_by_deployment(bundles, runs, rule.params)
    findings = []
    for deployment in sorted(by_deployment):
        finding = overlap_finding(deployment, by_deployment[deployment], rule, lang)
        if finding is not None:
            findings.append(finding)
    return findings


def runs_by_deployment(bundles: list[dict[str, Any]], runs: list[dict[str, Any]],
                       params: dict[str, Any]) -> dict[str, list[Run]]:
    open_for = timedelta(minutes=float(params.get("open_run_minutes", 30)))
    identity = {
        b["sha256"]: b for b in bundles
        if b.get("status") == OK and b.get("deployment") and b.get("sha256")
    }
    grouped: dict[str, list[Run]] = defaultdict(list)
    for row in runs:
        bundle = identity.get(row["sha256"])
        if bundle is None or row.get("start") is None:
            continue
        start = row["start"]
        end = row.get("end") or _assumed_end(start, bundle.get("collected_at"), open_for)
        vm = bundle.get("role_instance") or f"bundle {bundle['sha256'][:12]}"
        grouped[bundle["deployment"]].append(Run(vm, bundle["sha256"], start, end))
    return dict(grouped)


def _assumed_end(start: datetime, collected_at: datetime | None, open_for: timedelta) -> datetime:
    """A run that never logged its end lasted ``open_for``, or until collection if sooner."""
    end = start + open_for
    if collected_at is not None and start < collected_at < end:
        return collected_at
    return end


def overlap_finding(deployment: str, runs: list[Run], rule: FleetRule,
                    lang: str) -> dict[str, Any] | None:
    minimum = timedelta(seconds=float(rule.params.get("min_overlap_seconds", 1)))
    pairs = overlapping_pairs(_distinct_windows(runs), minimum)
    if not pairs:
        return None
    vms = sorted({vm for pair in pairs for vm in pair[:2]})
    first_seen = min(p[2] for p in pairs)
    last_seen = max(p[3] for p in pairs)
    shas = sorted({r.sha256 for r in runs if r.vm in vms})
    variables = {"vms": len(vms), "deployment": deployment, "overlaps": len(pairs),
                 "first_seen": first_seen.strftime("%Y-%m-%d %H:%M:%S UTC")}
    return {
        "rule": rule.id, "category": rule.category, "severity": rule.severity,
        "guide_cause": rule.guide_cause, "title": rule.text("title", lang),
        "deployment": deployment,
        "vms": len(vms), "overlaps": len(pairs), "first_seen": first_seen,
        "last_seen": last_seen, "bundles": shas,
        "message": rule.text("message", lang).format(**variables),
        "remediation": rule.remediation.get(lang, rule.remediation["en"]).strip(),
    }


def overlapping_pairs(windows: list[tuple[str, datetime, datetime]], minimum: timedelta
                      ) -> list[tuple[str, str, datetime, datetime]]:
    """(vm_a, vm_b, overlap start, overlap end) for windows of different VMs that share at
    least ``minimum``; a sweep over windows sorted by start, keeping only the ones still open."""
    pairs = []
    active: list[tuple[str, datetime, datetime]] = []
    for vm, start, end in windows:
        active = [w for w in active if w[2] - start >= minimum]
        for other_vm, _, other_end in active:
            finish = min(end, other_end)
            if other_vm != vm and finish - start >= minimum:
                pairs.append((other_vm, vm, start, finish))
        active.append((vm, start, end))
    return pairs


def _distinct_windows(runs: list[Run]) -> list[tuple[str, datetime, datetime]]:
    """One window per (VM, start, end): several bundles of a VM repeat the same runs."""
    return sorted({(r.vm, r.start, r.end) for r in runs}, key=lambda w: (w[1], w[0]))
