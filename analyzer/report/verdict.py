"""What all renderers share: the base class, formatting helpers and the verdict logic.

Stdlib only (rich/jinja2 are imported lazily by the renderers that need them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from analyzer.report.i18n import (
    DEFAULT_LANG,
    cause_label,
    finding_cause,
    severity_label,
    t,
    tn,
)
from analyzer.report.model import CATEGORIES, SEVERITIES, SEVERITY_RANK, Finding, Report

__all__ = [
    "CategorySummary",
    "Renderer",
    "category_summaries",
    "fmt_size",
    "fmt_ts",
    "next_step",
    "safe_href",
    "to_utc",
    "verdict_sentence",
]


class Renderer:
    """One output format. Subclasses set the class attributes and implement ``render``."""

    format: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    """File name suffix for ``--output`` defaults (``.html``)."""
    media_type: ClassVar[str] = "text/plain"

    def __init__(self, lang: str = DEFAULT_LANG) -> None:
        self.lang = lang

    def t(self, key: str, **kwargs: Any) -> str:
        return t(key, self.lang, **kwargs)

    def render(self, report: Report) -> str:
        raise NotImplementedError


def to_utc(ts: datetime) -> datetime:
    """Aware datetimes converted to UTC; naive ones are taken as UTC already (agent logs)."""
    if ts.tzinfo is None:
        return ts
    return ts.astimezone(UTC).replace(tzinfo=None)


def fmt_ts(ts: datetime | None, default: str = "") -> str:
    """``2024-05-01 12:34:56Z`` - compact, sortable, the same in every language."""
    if ts is None:
        return default
    return to_utc(ts).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_size(size: int, lang: str) -> str:
    """Human-readable byte count with the language's decimal separator."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            text = f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return text.replace(".", t("format.decimal_separator", lang))
        value /= 1024
    raise AssertionError("unreachable")


def safe_href(url: str) -> str | None:
    """``url`` if it may become a link (plain-ASCII http/https with a host), else ``None``."""
    if not url or not url.isascii() or not url.isprintable() or " " in url:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _count_items(counts: dict[str, int], lang: str) -> str:
    items = [
        t("verdict.count_item", lang, count=counts[sev], severity=severity_label(sev, lang).lower())
        for sev in SEVERITIES
        if counts.get(sev)
    ]
    return t("format.list_separator", lang).join(items)


def verdict_sentence(report: Report, lang: str) -> str:
    """``Worst severity: High. 7 findings: 1 critical, 2 high, ...`` (or "no problems")."""
    from analyzer.checkable import verdict_override

    worst = report.worst_severity
    if worst is None:
        return verdict_override(report, lang) or t("verdict.none", lang)
    counts = report.counts
    return t(
        "verdict.sentence",
        lang,
        worst=severity_label(worst, lang),
        findings=tn("verdict.findings", len(report.findings), lang),
        counts=_count_items(counts, lang),
    )


@dataclass
class CategorySummary:
    category: str
    count: int
    worst: str
    causes: list[int]


def category_summaries(findings: Iterable[Finding]) -> list[CategorySummary]:
    """One row per category that has findings: worst category first."""
    rows: dict[str, CategorySummary] = {}
    for finding in findings:
        row = rows.get(finding.category)
        if row is None:
            row = rows[finding.category] = CategorySummary(finding.category, 0, "info", [])
        row.count += 1
        if SEVERITY_RANK.get(finding.severity, 0) > SEVERITY_RANK.get(row.worst, 0):
            row.worst = finding.severity
        cause = finding_cause(finding.category, finding.guide_cause)
        if cause is not None and cause not in row.causes:
            row.causes.append(cause)
    for row in rows.values():
        row.causes.sort()
    order = {name: index for index, name in enumerate(CATEGORIES)}
    return sorted(
        rows.values(),
        key=lambda r: (-SEVERITY_RANK.get(r.worst, 0), order.get(r.category, 99), r.category),
    )


def next_step(report: Report, lang: str) -> str:
    """The one sentence that tells the reader what to do first."""
    parts: list[str] = []
    findings = report.sorted_findings()
    if findings:
        first = findings[0]
        parts.append(t("next.fix", lang, rule=first.rule, title=first.title))
        cause = finding_cause(first.category, first.guide_cause)
        if cause is not None:
            parts.append(t("next.cause", lang, cause=cause_label(cause, lang)))
        if report.bundle.problems:
            parts.append(t("next.also_problems", lang))
    elif report.bundle.problems:
        parts.append(t("next.problems_only", lang))
    else:
        parts.append(t("next.none", lang))
    return " ".join(parts)
