"""The agent's message catalogue (docs/catalogue/messages.toml) is honoured by the rule pack.

* every message mapped to a rule: a realistic line of it, in each log generation that emits
  it, makes that rule fire through the real engine (the rule-test harness);
* every benign message: a line of it alone gives no finding at medium or above;
* docs/coverage.md is what the catalogue generates, and the error/warning call sites of the
  daemon, ga/, common/protocol, common/osutil and VMBackup main/ are covered at >= 95%.
"""

from __future__ import annotations

import re

import pytest

from tools.catalogue.catalogue import VMSNAPSHOT_HANDLER, load_catalogue, load_releases
from tools.catalogue.coverage import COVERAGE_MD, TARGET, group_stats, render
from tools.catalogue.extract import TARGET_GROUPS
from tools.catalogue.harness import files_for, findings_at_or_above, fires, full_pack

MESSAGES = load_catalogue()
RULE_CASES = [
    pytest.param(m, sample, id=f"{m.rule}:{m.id}:{i}")
    for m in MESSAGES
    if m.rule
    for i, sample in enumerate(m.samples)
]
BENIGN_CASES = [
    pytest.param(m, sample, id=f"{m.id}:{i}")
    for m in MESSAGES
    if m.benign
    for i, sample in enumerate(m.samples)
]
# A run of the backup extension that ends normally: benign lines are checked inside one.
RUN_END = f"2024-03-01 10:30:00.000000 [{VMSNAPSHOT_HANDLER}-1.0]Enable,success,1,Enable Succeeded,False\n"


def test_catalogue_is_large_and_classified() -> None:
    counted = [m for m in MESSAGES if m.counted]
    assert all(m.classified for m in MESSAGES), [m.template for m in MESSAGES if not m.classified]
    assert len(counted) > 900  # several hundred error/warning templates across 2.0-2.15 + VMBackup
    assert all(m.classified for m in counted), [m.template for m in counted if not m.classified]
    assert all(not (m.rule and m.benign) for m in MESSAGES)
    assert all(
        m.benign.split(":", 1)[0]
        in {"noise", "precursor", "unrelated", "internal", "telemetry", "recovery"}
        for m in MESSAGES
        if m.benign
    )


def test_every_mapped_rule_exists() -> None:
    pack, _ = full_pack()
    known = set(pack.by_id())
    assert sorted({m.rule for m in MESSAGES if m.rule} - known) == []


def test_samples_render_their_template() -> None:
    for m in MESSAGES:
        if m.classified:
            assert m.samples, m.id
        for sample in m.samples:
            # the filled template appears in the sample line (wrapped or not)
            assert re.search(m.regex(), sample.replace("[000008] ", "")), (m.id, sample)


@pytest.mark.parametrize(("message", "sample"), RULE_CASES)
def test_mapped_message_fires_its_rule(message, sample) -> None:  # type: ignore[no-untyped-def]
    ok, reason = fires(message, sample)
    assert ok, f"{message.template!r}: {reason}"


@pytest.mark.parametrize(("message", "sample"), BENIGN_CASES)
def test_benign_message_alone_raises_nothing(message, sample) -> None:  # type: ignore[no-untyped-def]
    files = files_for(message, sample)
    for path in files:
        if VMSNAPSHOT_HANDLER in path:
            files[path] += RUN_END
    assert findings_at_or_above(files, "medium") == [], message.benign


def test_coverage_doc_is_current() -> None:
    assert COVERAGE_MD.read_text(encoding="utf-8") == render(MESSAGES, load_releases()), (
        "docs/coverage.md is stale: run python -m tools.catalogue.coverage"
    )


@pytest.mark.parametrize("group", TARGET_GROUPS)
def test_target_group_coverage(group: str) -> None:
    stats = group_stats(MESSAGES)[group]
    assert stats.sites > 50
    assert stats.ratio >= TARGET, f"{group}: {stats.covered}/{stats.sites}"
