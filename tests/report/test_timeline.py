"""Server-side geometry of the HTML timeline chart."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from report_fixtures import make_report

from analyzer.report.model import Report, TimelineEvent, TimelinePoint
from analyzer.report.timeline import build_timeline, outcome_class


def test_no_time_data_gives_no_chart(empty_report: Report) -> None:
    assert build_timeline(empty_report, "en") is None


def test_two_days_hourly(report: Report) -> None:
    tl = build_timeline(report, "en")
    assert tl is not None
    assert tl.bin_hours == 1
    assert [name for name, _ in tl.levels] == ["ERROR", "WARNING", "INFO", "VERBOSE"]
    assert tl.start == "2025-03-10 06:00:00Z"
    assert tl.end == "2025-03-12 06:00:00Z"  # collection time included
    for seg in tl.segments:
        assert tl.plot_left <= seg.x and seg.x + seg.w <= tl.plot_right + 0.2
        assert tl.bar_top - 0.2 <= seg.y and seg.y + seg.h <= tl.bar_bottom + 0.2
    stacks: dict[float, float] = defaultdict(float)
    for seg in tl.segments:
        stacks[seg.x] += seg.h
    assert max(stacks.values()) <= tl.bar_bottom - tl.bar_top + 0.5
    assert any("ERROR: 28 records" in seg.title for seg in tl.segments)
    lanes = {lane.key: lane for lane in tl.lanes}
    assert [m.kind for m in lanes["agent"].marks] == ["agent-start", "agent-crash", "agent-start"]
    snaps = lanes["snapshots"].marks
    assert [m.outcome for m in snaps] == ["bad", "ok", "bad"]
    assert 15 < snaps[0].w < 20  # one hour out of 48 on 836 px
    assert "&lt;" not in snaps[0].title and "<script>" in snaps[0].title  # escaped by jinja
    assert [span.rule for span in tl.findings] == [
        "WAA-SNAP-002", "WAA-NET-001", "WAA-EXT-001", "WAA-GS-003",
    ]
    assert all(span.x1 <= span.x2 for span in tl.findings)
    assert tl.collected_x == tl.plot_right
    assert [g.label for g in tl.grid][:2] == ["0", "100"]
    assert tl.ticks and tl.ticks[-1].anchor == "end"


def test_long_range_is_binned_and_bounded() -> None:
    start = datetime(2025, 1, 1)
    points = [TimelinePoint(start + timedelta(hours=h), "INFO", 5) for h in range(24 * 90)]
    report = make_report(timeline_counts=points, timeline_events=[], findings=[])
    report.bundle.collected_at = None
    tl = build_timeline(report, "en")
    assert tl is not None
    assert tl.bin_hours == 12  # 2160 hours in at most 180 bars
    assert len(tl.segments) == 180
    assert len(tl.ticks) <= 9


def test_unknown_events_aware_times_and_caps() -> None:
    aware = datetime(2025, 5, 1, 12, tzinfo=UTC)
    events = [TimelineEvent(aware, "reboot", "kernel reboot")]
    events += [
        TimelineEvent(aware + timedelta(seconds=i), "goal-state", f"gs {i}") for i in range(1600)
    ]
    report = make_report(timeline_counts=[], timeline_events=events, findings=[])
    report.bundle.collected_at = None
    tl = build_timeline(report, "pt-BR")
    assert tl is not None
    assert not tl.has_counts
    lanes = {lane.key: lane for lane in tl.lanes}
    assert lanes["other"].label == "Outros"
    assert lanes["other"].marks[0].kind == "other"
    assert len(lanes["goal_state"].marks) == 1500 and lanes["goal_state"].omitted == 100


def test_outcome_class() -> None:
    assert outcome_class("success") == "ok"
    assert outcome_class("Failed (122)") == "bad"
    assert outcome_class("timed out") == "bad"
    assert outcome_class("transitioning") == "neutral"
