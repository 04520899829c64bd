"""Geometry of the HTML timeline chart, computed server-side (no charting JS).

:func:`build_timeline` turns ``Report.timeline_counts`` / ``timeline_events`` and the findings'
first/last-seen times into plain shapes (coordinates in a fixed SVG ``viewBox``) that the
jinja2 template draws. All text here is sanitized; the template autoescapes it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analyzer.report.i18n import severity_label, t
from analyzer.report.model import Report
from analyzer.report.sanitize import for_html_text
from analyzer.report.verdict import fmt_ts, to_utc

__all__ = ["Timeline", "build_timeline", "outcome_class"]

WIDTH = 1000
GUTTER = 150
RIGHT = 14
BAR_TOP = 30
BAR_HEIGHT = 150
AXIS_LABEL_Y = BAR_TOP + BAR_HEIGHT + 16
LANES_TOP = BAR_TOP + BAR_HEIGHT + 34
LANE_HEIGHT = 26
FINDING_LANE_HEIGHT = 20
MAX_BINS = 180
MAX_MARKS_PER_LANE = 1500
MAX_FINDING_LANES = 15

LEVEL_ORDER = ("ERROR", "WARNING", "INFO", "VERBOSE")
_LEVEL_ALIASES = {"WARN": "WARNING", "ERR": "ERROR"}
LANES = (
    ("agent", ("agent-start", "agent-crash")),
    ("goal_state", ("goal-state",)),
    ("extensions", ("extension-op",)),
    ("snapshots", ("snapshot-run",)),
)
_BIN_HOURS = (1, 2, 3, 6, 12, 24, 48, 168)
_TICK_HOURS = (1, 2, 3, 6, 12, 24, 48, 168, 336, 720)
_OK = {"success", "succeeded", "ok", "completed", "complete", "done", "ready"}
_BAD = ("fail", "error", "timeout", "timed out", "crash", "killed", "abort", "stuck")


def _level_class(level: str) -> str:
    return level.lower() if level in LEVEL_ORDER else "other"


def _level_name(level: str) -> str:
    return for_html_text(level)


def outcome_class(outcome: str) -> str:
    """``ok`` / ``bad`` / ``neutral`` for colouring an event by its outcome."""
    value = outcome.strip().lower()
    if value in _OK:
        return "ok"
    if any(word in value for word in _BAD):
        return "bad"
    return "neutral"


@dataclass
class Segment:
    level: str
    x: float
    y: float
    w: float
    h: float
    title: str


@dataclass
class Tick:
    x: float
    label: str
    anchor: str = "middle"


@dataclass
class GridLine:
    y: float
    label: str


@dataclass
class Mark:
    kind: str
    outcome: str
    x: float
    w: float
    title: str


@dataclass
class Lane:
    key: str
    label: str
    y: float
    marks: list[Mark] = field(default_factory=list)
    omitted: int = 0


@dataclass
class FindingSpan:
    rule: str
    severity: str
    category: str
    y: float
    x1: float
    x2: float
    title: str


@dataclass
class Timeline:
    width: int
    height: int
    plot_left: int
    plot_right: int
    bar_top: int
    bar_bottom: int
    bin_hours: int
    levels: list[tuple[str, str]]
    """(level name, css class) in stacking order, for the legend."""
    segments: list[Segment]
    grid: list[GridLine]
    ticks: list[Tick]
    lanes: list[Lane]
    findings: list[FindingSpan]
    findings_top: float
    findings_omitted: int
    collected_x: float | None
    start: str
    end: str
    has_counts: bool


def _nice_step(value: float) -> float:
    """Smallest 1/2/5 x 10^k step >= ``value`` (at least 1: counts are integers)."""
    if value <= 1:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _fmt_count(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _floor_to(ts: datetime, hours: int) -> datetime:
    ts = ts.replace(minute=0, second=0, microsecond=0)
    if hours >= 24:
        ts = ts.replace(hour=0)
        days = hours // 24
        if days > 1:
            ordinal = ts.toordinal()
            ts -= timedelta(days=ordinal % days)
        return ts
    return ts.replace(hour=ts.hour - ts.hour % hours)


def build_timeline(report: Report, lang: str) -> Timeline | None:
    """The chart model, or ``None`` when the report has no time data at all."""
    counts = [
        (to_utc(p.hour), _LEVEL_ALIASES.get(p.level.upper(), p.level.upper()), p.count)
        for p in report.timeline_counts
    ]
    events = sorted(report.timeline_events, key=lambda e: to_utc(e.timestamp))
    ranked = [f for f in report.sorted_findings() if f.first_seen or f.last_seen]

    stamps: list[datetime] = []
    stamps += [hour for hour, _, _ in counts]
    stamps += [hour + timedelta(hours=1) for hour, _, _ in counts]
    for event in events:
        start = to_utc(event.timestamp)
        stamps.append(start)
        if event.duration_seconds:
            stamps.append(start + timedelta(seconds=max(0.0, event.duration_seconds)))
    for finding in ranked:
        stamps += [to_utc(ts) for ts in (finding.first_seen, finding.last_seen) if ts]
    if not stamps:
        return None
    collected = to_utc(report.bundle.collected_at) if report.bundle.collected_at else None
    if collected is not None:
        stamps.append(collected)

    lo, hi = min(stamps), max(stamps)
    span_hours = max(1.0, (hi - lo).total_seconds() / 3600)
    bin_hours = next(
        (b for b in _BIN_HOURS if span_hours / b <= MAX_BINS),
        24 * math.ceil(span_hours / MAX_BINS / 24),
    )
    t0 = _floor_to(lo, bin_hours)
    nbins = max(1, math.ceil((hi - t0).total_seconds() / 3600 / bin_hours))
    t1 = t0 + timedelta(hours=bin_hours * nbins)
    total_seconds = (t1 - t0).total_seconds()
    x0, x1 = GUTTER, WIDTH - RIGHT

    def x_of(ts: datetime) -> float:
        frac = (to_utc(ts) - t0).total_seconds() / total_seconds
        return round(x0 + min(1.0, max(0.0, frac)) * (x1 - x0), 1)

    # -- stacked bars ----------------------------------------------------------------------
    per_bin: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    present: set[str] = set()
    for hour, level, count in counts:
        index = int((hour - t0).total_seconds() // (bin_hours * 3600))
        per_bin[index][level] += count
        present.add(level)
    levels = [lvl for lvl in LEVEL_ORDER if lvl in present]
    levels += sorted(present - set(LEVEL_ORDER))
    highest = max((sum(b.values()) for b in per_bin.values()), default=0)
    y_step = _nice_step(highest / 4)
    top = y_step * max(1, math.ceil(highest / y_step))
    slot = (x1 - x0) / nbins
    gap = 1.0 if slot > 4 else 0.0
    segments: list[Segment] = []
    bar_bottom = BAR_TOP + BAR_HEIGHT
    for index in sorted(per_bin):
        y = float(bar_bottom)
        start = t0 + timedelta(hours=bin_hours * index)
        for level in levels:
            value = per_bin[index].get(level, 0)
            if not value:
                continue
            height = value / top * BAR_HEIGHT
            y -= height
            title = t(
                "timeline.bar_title",
                lang,
                level=_level_name(level),
                count=value,
                start=fmt_ts(start),
                hours=bin_hours,
            )
            segments.append(
                Segment(
                    level=_level_class(level),
                    x=round(x0 + index * slot + gap / 2, 1),
                    y=round(y, 1),
                    w=round(max(0.5, slot - gap), 1),
                    h=round(height, 1),
                    title=title,
                )
            )
    grid = [
        GridLine(
            y=round(bar_bottom - BAR_HEIGHT * i * y_step / top, 1), label=_fmt_count(i * y_step)
        )
        for i in range(round(top / y_step) + 1)
    ]

    # -- x axis ----------------------------------------------------------------------------
    tick_hours = next((h for h in _TICK_HOURS if total_seconds / 3600 / h <= 8), 720)
    tick = _floor_to(t0, tick_hours)
    if tick < t0:
        tick += timedelta(hours=tick_hours)
    pattern = "%Y-%m-%d" if tick_hours >= 24 else "%m-%d %H:%M"
    ticks: list[Tick] = []
    while tick <= t1:
        x = x_of(tick)
        anchor = "end" if x > x1 - 36 else "middle"
        ticks.append(Tick(x=x, label=tick.strftime(pattern), anchor=anchor))
        tick += timedelta(hours=tick_hours)
    if len(ticks) > 1 and ticks[-1].anchor == "end" and ticks[-1].x - ticks[-2].x < 110:
        ticks[-1].label = ""  # keep the grid line; its label would collide with the previous

    # -- event lanes -----------------------------------------------------------------------
    lanes: list[Lane] = []
    lane_of: dict[str, Lane] = {}
    for number, (key, kinds) in enumerate(LANES):
        fixed = Lane(key, t(f"timeline.lane.{key}", lang), LANES_TOP + number * LANE_HEIGHT)
        lanes.append(fixed)
        for kind in kinds:
            lane_of[kind] = fixed
    for event in events:
        found = lane_of.get(event.kind)
        if found is not None:
            lane = found
        else:
            if "other" not in lane_of:
                lane_of["other"] = Lane(
                    "other", t("timeline.lane.other", lang), LANES_TOP + len(lanes) * LANE_HEIGHT
                )
                lanes.append(lane_of["other"])
            lane = lane_of["other"]
        if len(lane.marks) >= MAX_MARKS_PER_LANE:
            lane.omitted += 1
            continue
        x = x_of(event.timestamp)
        width = 0.0
        details = [fmt_ts(event.timestamp), for_html_text(event.label)]
        if event.duration_seconds is not None:
            end = to_utc(event.timestamp) + timedelta(seconds=max(0.0, event.duration_seconds))
            width = max(3.0, round(x_of(end) - x, 1))
            details.append(t("timeline.duration", lang, seconds=f"{event.duration_seconds:g}"))
        if event.outcome:
            details.append(for_html_text(event.outcome))
        kind_key = f"event.{event.kind}"
        try:
            kind_label = t(kind_key, lang)
        except KeyError:
            kind_label = for_html_text(event.kind)
        lane.marks.append(
            Mark(
                kind=event.kind if event.kind in lane_of else "other",
                outcome=outcome_class(event.outcome) if event.outcome else "neutral",
                x=x,
                w=width,
                title=f"{kind_label} · " + " · ".join(details),
            )
        )

    # -- finding spans ---------------------------------------------------------------------
    findings_top = LANES_TOP + len(lanes) * LANE_HEIGHT + 22
    spans: list[FindingSpan] = []
    for number, finding in enumerate(ranked[:MAX_FINDING_LANES]):
        first = finding.first_seen or finding.last_seen
        last = finding.last_seen or finding.first_seen
        assert first is not None and last is not None
        spans.append(
            FindingSpan(
                rule=for_html_text(finding.rule),
                severity=finding.severity,
                category=finding.category,
                y=findings_top + number * FINDING_LANE_HEIGHT,
                x1=x_of(first),
                x2=x_of(last),
                title=t(
                    "timeline.finding_title",
                    lang,
                    rule=for_html_text(finding.rule),
                    severity=severity_label(finding.severity, lang),
                    title=for_html_text(finding.title),
                    first=fmt_ts(first),
                    last=fmt_ts(last),
                    count=finding.count,
                ),
            )
        )
    height = findings_top + len(spans) * FINDING_LANE_HEIGHT + 6
    return Timeline(
        width=WIDTH,
        height=int(height),
        plot_left=x0,
        plot_right=x1,
        bar_top=BAR_TOP,
        bar_bottom=bar_bottom,
        bin_hours=bin_hours,
        levels=[(_level_name(lvl), _level_class(lvl)) for lvl in levels],
        segments=segments,
        grid=grid,
        ticks=ticks,
        lanes=lanes,
        findings=spans,
        findings_top=findings_top,
        findings_omitted=max(0, len(ranked) - MAX_FINDING_LANES),
        collected_x=x_of(collected) if collected is not None else None,
        start=fmt_ts(t0),
        end=fmt_ts(t1),
        has_counts=bool(segments),
    )
