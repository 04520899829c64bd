"""Event kinds: each pattern's leading words are looked for before its regex runs."""

from __future__ import annotations

import pytest

from analyzer.parse import log_facts


@pytest.mark.parametrize("message", ["Agent crashed hard", "daemon is gone for good"])
def test_every_branch_of_an_event_pattern_names_its_kind(monkeypatch: pytest.MonkeyPatch,
                                                         message: str) -> None:
    """A pattern that is an alternation at its top level has no leading words every match
    starts with: a message matching its second branch is still that kind of event."""
    monkeypatch.setattr(log_facts, "EVENT_KINDS",
                        {r"Agent crashed|daemon is gone": "agent-crash",
                         r"Enable,\w+,\d+,": "snapshot-run"})
    facts = log_facts.LogFacts(all_events=True)
    assert facts.event_kind(message) == "agent-crash"
    assert facts.event_kind("Enable,success,1,") == "snapshot-run"
    assert facts.event_kind("nothing here") is None
