"""Run catalogue sample lines through the real engine.

The rule-test harness is imported here and nowhere else in tools/catalogue and
tests/catalogue, so that its move (analyzer/engine/ruletest.py -> analyzer/testing/rules.py)
touches one line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache

from analyzer.engine.benign import BenignList, load_benign
from analyzer.engine.loader import RulePack, default_rules_dir, load_rules
from analyzer.engine.model import Rule, RuleTest

try:  # the harness is moving; accept both homes
    from analyzer.testing.rules import run_rule_test  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the merge order
    from analyzer.engine.ruletest import run_rule_test

from tools.catalogue.catalogue import VMSNAPSHOT_HANDLER, Message

WAAGENT_LOG = "var/log/waagent.log"
VMSNAPSHOT_LOG = f"var/log/azure/{VMSNAPSHOT_HANDLER}/extension.log"
SEVERITY_ORDER = ["info", "low", "medium", "high", "critical"]

_STAMPS = [
    (re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"), "%Y-%m-%dT%H:%M:%S.%fZ"),
    (re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}"), "%Y/%m/%d %H:%M:%S.%f"),
    (re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"), "%Y/%m/%d %H:%M:%S"),
    (re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"), "%Y-%m-%d %H:%M:%S.%f"),
]


@lru_cache(maxsize=1)
def full_pack() -> tuple[RulePack, BenignList]:
    pack = load_rules([default_rules_dir()])
    benign, _ = load_benign(default_rules_dir() / "benign.toml")
    return pack, benign


def repeated(line: str, times: int, minutes: int = 5) -> str:
    """``line`` written ``times`` times, ``minutes`` apart (each copy restamped)."""
    for regex, fmt in _STAMPS:
        m = regex.match(line)
        if m:
            start = datetime.strptime(m.group(0), fmt)
            out = []
            for i in range(times):
                stamp = (start + timedelta(minutes=minutes * i)).strftime(fmt)
                out.append(stamp + line[m.end() :])
            return "\n".join(out) + "\n"
    return (line + "\n") * times


def files_for(msg: Message, sample: str) -> dict[str, str]:
    """A minimal bundle holding ``sample`` as the message's emitter would write it."""
    in_extension_log = f" [{VMSNAPSHOT_HANDLER}-1.0]" in sample[:120]
    path = VMSNAPSHOT_LOG if in_extension_log else WAAGENT_LOG
    return {path: repeated(sample, max(msg.repeat, 1))}


def fires(msg: Message, sample: str) -> tuple[bool, str]:
    """Does ``msg.rule`` fire on ``sample`` (through the rule-test harness)?"""
    pack, benign = full_pack()
    by_id: dict[str, Rule] = pack.by_id()
    rule = by_id.get(msg.rule)
    if rule is None:
        return False, f"unknown rule {msg.rule}"
    test = RuleTest(name=msg.id, expect=[msg.rule], files=files_for(msg, sample))
    result = run_rule_test(rule, test, by_id, benign)
    return result.passed, result.reason


def findings_at_or_above(files: dict[str, str], severity: str) -> list[str]:
    """Ids of the findings of the whole rule pack at ``severity`` or above."""
    from analyzer.pipeline import AnalyzeOptions, analyze_files

    pack, benign = full_pack()
    analysis = analyze_files(files, AnalyzeOptions(), pack=pack, benign=benign, source="catalogue")
    floor = SEVERITY_ORDER.index(severity)
    return [f.rule for f in analysis.report.findings if SEVERITY_ORDER.index(f.severity) >= floor]
