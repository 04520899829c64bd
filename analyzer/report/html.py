"""One self-contained HTML file (jinja2, autoescape on).

Defences, in order: every bundle string is sanitized with :func:`for_html_text` (controls and
bidi characters become visible escapes) and HTML-escaped by jinja2 autoescape; nothing from
the bundle is marked safe; data reaches JavaScript only through a ``<script
type="application/json">`` block filled with ``|tojson``; references become links only for
http/https URLs (``rel="noopener noreferrer"``); and a Content-Security-Policy meta tag allows
nothing but inline styles, ``data:`` images and the one inline script whose SHA-256 is computed
at render time - so even a missed escape could neither run script nor load anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from analyzer.checkable import not_checked_lines, verdict_state
from analyzer.report.i18n import (
    category_label,
    cause_label,
    finding_cause,
    severity_label,
    t,
    tn,
)
from analyzer.report.model import SEVERITIES, Finding, Report
from analyzer.report.sanitize import for_html_text
from analyzer.report.timeline import build_timeline
from analyzer.report.verdict import (
    Renderer,
    category_summaries,
    fmt_size,
    fmt_ts,
    next_step,
    safe_href,
    to_utc,
    verdict_sentence,
)

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["HtmlRenderer", "content_security_policy", "script_hash"]

TEMPLATE = "report.html.j2"
MAX_EVIDENCE = 20
MAX_EVENT_ROWS = 500
TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
"""Next to this module, so it works from a checkout and when installed."""


@cache
def _asset(name: str) -> str:
    with open(os.path.join(TEMPLATES_DIR, name), encoding="utf-8") as handle:
        return handle.read()


@cache
def _environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def script_hash(script: str) -> str:
    """CSP source expression for an inline script: ``'sha256-<base64>'``."""
    import base64
    import hashlib

    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(script: str) -> str:
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src {script_hash(script)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def _h(value: object, *, multiline: bool = False) -> str:
    return for_html_text(str(value), multiline=multiline)


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def _with_code(text: str) -> Any:
    """Remediation text with its `commands` as <code>; everything else escaped."""
    from markupsafe import Markup, escape  # lazily, like jinja2

    out = Markup("")
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out += escape(_h(text[position:match.start()], multiline=True))
        out += Markup("<code>") + escape(_h(match.group(1))) + Markup("</code>")
        position = match.end()
    return out + escape(_h(text[position:], multiline=True))


def _iso(ts: datetime | None) -> str:
    return to_utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else ""


class HtmlRenderer(Renderer):
    format: ClassVar[str] = "html"
    suffix: ClassVar[str] = ".html"
    media_type: ClassVar[str] = "text/html"

    def render(self, report: Report) -> str:
        from markupsafe import Markup

        script = _asset("report.js")
        style = _asset("report.css")
        # Our own static assets, inserted verbatim (the CSP hash must match byte for byte).
        if "</script" in script.lower() or "<!--" in script or "</style" in style.lower():
            raise ValueError("report assets must not contain closing tags")
        context = self.context(report)
        context["style"] = Markup(style)  # static asset of this package
        context["script"] = Markup(script)  # static asset of this package
        context["csp"] = content_security_policy(script)
        return _environment().get_template(TEMPLATE).render(context)

    # -- view model (all bundle text sanitized here; the template only autoescapes) --------

    def context(self, report: Report) -> dict[str, Any]:
        lang = self.lang
        bundle = report.bundle
        findings = report.sorted_findings()
        counts = report.counts
        worst = report.worst_severity
        unknown = t("label.unknown", lang)

        def tr(key: str, **kwargs: Any) -> str:
            return t(key, lang, **kwargs)

        def trn(key: str, count: int, **kwargs: Any) -> str:
            return tn(key, count, lang, **kwargs)

        categories = [
            {
                "key": row.category,
                "label": category_label(row.category, lang),
                "count": row.count,
                "worst": row.worst,
                "worst_label": severity_label(row.worst, lang),
                "causes": [cause_label(c, lang) for c in row.causes],
            }
            for row in category_summaries(findings)
        ]
        files = sorted(bundle.files, key=lambda f: f.member)
        history = sorted(
            report.agent_history,
            key=lambda row: (row[0] is not None, to_utc(row[0]) if row[0] else datetime.min),
        )
        previous: dict[str, str] = {}
        history_rows = []
        for ts, role, version in history:
            changed = role in previous and previous[role] != version
            previous[role] = version
            history_rows.append(
                {
                    "time": fmt_ts(ts, unknown),
                    "iso": _iso(ts),
                    "role": _h(role),
                    "version": _h(version),
                    "changed": changed,
                }
            )
        events = sorted(report.timeline_events, key=lambda e: to_utc(e.timestamp))
        event_rows = []
        for event in events[:MAX_EVENT_ROWS]:
            try:
                kind = tr(f"event.{event.kind}")
            except KeyError:
                kind = _h(event.kind)
            event_rows.append(
                {
                    "time": fmt_ts(event.timestamp),
                    "iso": _iso(event.timestamp),
                    "kind": kind,
                    "label": _h(event.label),
                    "duration": (
                        tr("timeline.duration", seconds=f"{event.duration_seconds:g}")
                        if event.duration_seconds is not None
                        else ""
                    ),
                    "outcome": _h(event.outcome),
                }
            )
        present_categories = sorted(
            {f.category for f in findings}, key=lambda c: category_label(c, lang).lower()
        )
        source = _h(bundle.source)
        return {
            "lang": lang,
            "t": tr,
            "tn": trn,
            "page_title": tr("label.report_title", source=source),
            "tool": _h(report.tool_name),
            "version": _h(report.tool_version),
            "meta": {
                "source": source,
                "sha256": _h(bundle.sha256) or unknown,
                "collected_at": fmt_ts(bundle.collected_at, unknown),
                "start": fmt_ts(bundle.time_start, "?"),
                "end": fmt_ts(bundle.time_end, "?"),
                "daemon_versions": [_h(v) for v in bundle.daemon_versions],
                "gs_versions": [_h(v) for v in bundle.goal_state_agent_versions],
            },
            "verdict": {
                "worst": worst or "none",
                "worst_label": severity_label(worst, lang) if worst
                else tr("verdict.incomplete.badge") if verdict_state(report) == "incomplete"
                else tr("verdict.ok_badge"),
                "sentence": verdict_sentence(report, lang),
                "severities": [
                    {"key": s, "label": severity_label(s, lang), "count": counts[s]}
                    for s in SEVERITIES
                ],
                "categories": categories,
                "next_step": next_step(report, lang),
            },
            "findings": [self._finding(i, f) for i, f in enumerate(findings, 1)],
            "filter_categories": [
                {"key": c, "label": category_label(c, lang)} for c in present_categories
            ],
            "timeline": build_timeline(report, lang),
            "events": event_rows,
            "events_omitted": max(0, len(events) - MAX_EVENT_ROWS),
            "history": history_rows,
            "extensions": [
                {
                    "name": _h(e.name),
                    "version": _h(e.version),
                    "state": _h(e.state),
                    "source": _h(e.source),
                }
                for e in bundle.extensions
            ],
            "files": [
                {"member": _h(f.member), "kind": _h(f.kind), "size": fmt_size(f.size, lang)}
                for f in files
            ],
            "files_total": fmt_size(sum(f.size for f in files), lang),
            "problems": [
                {"member": _h(p.member), "message": _h(p.message)} for p in bundle.problems
            ],
            "rule_errors": [_h(e) for e in report.rule_errors],
            "not_checked": [_h(line) for line in not_checked_lines(report, lang)],
            "data": self._script_data(report),
        }

    def _finding(self, index: int, f: Finding) -> dict[str, Any]:
        lang = self.lang
        cause = finding_cause(f.category, f.guide_cause)
        references = []
        for ref in f.references:
            href = safe_href(ref)
            references.append({"text": _h(ref), "href": href})
        return {
            "id": f"finding-{index}",
            "rule": _h(f.rule),
            "severity": f.severity,
            "severity_label": severity_label(f.severity, lang),
            "category": f.category,
            "category_label": category_label(f.category, lang),
            "cause": cause_label(cause, lang) if cause is not None else "",
            "title": _h(f.title),
            "message": _h(f.message, multiline=True),
            "count": f.count,
            "first_seen": fmt_ts(f.first_seen, "-"),
            "first_iso": _iso(f.first_seen),
            "last_seen": fmt_ts(f.last_seen, "-"),
            "last_iso": _iso(f.last_seen),
            "downranked": _h(f.downranked),
            "evidence": [
                {
                    "member": _h(ev.member),
                    "line": ev.line,
                    "time": fmt_ts(ev.timestamp),
                    "iso": _iso(ev.timestamp),
                    "text": _h(ev.text, multiline=True),
                }
                for ev in f.evidence[:MAX_EVIDENCE]
            ],
            "evidence_omitted": max(0, len(f.evidence) - MAX_EVIDENCE),
            "remediation": _with_code(f.remediation.strip()),
            "references": references,
        }

    def _script_data(self, report: Report) -> Mapping[str, Any]:
        """The only data the inline script gets (through ``|tojson``)."""
        return {
            "lang": self.lang,
            "total": len(report.findings),
            "i18n": {"status": t("filter.status", self.lang)},
        }
