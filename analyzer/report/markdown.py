"""Concise Markdown summary to paste into a ticket.

Data from the bundle can contain Markdown/HTML syntax; it is neutralised so it renders as the
literal text it is: inline text is backslash-escaped (no links, emphasis, raw HTML or block
markers), table cells additionally escape ``|``, and evidence sits in fenced code blocks whose
fence is longer than any backtick run inside, so nothing can close the block early.
"""

from __future__ import annotations

import re
from typing import ClassVar

from analyzer.checkable import not_checked_lines
from analyzer.report.i18n import category_label, cause_label, finding_cause, severity_label
from analyzer.report.model import Finding, Report
from analyzer.report.sanitize import for_terminal
from analyzer.report.verdict import Renderer, fmt_ts, next_step, safe_href, verdict_sentence

__all__ = ["MarkdownRenderer", "md_code_block", "md_code_span", "md_inline"]

MAX_EVIDENCE = 3

# Characters that start inline syntax anywhere in a line (CommonMark + GFM tables/strikes).
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
# Block markers at the start of a line: headings, quotes, list items, setext/thematic breaks.
_BLOCK_START = re.compile(r"^(\s*)(\d{1,9})?([#>+=-]|(?<=\d)[.)])")
_BACKTICK_RUN = re.compile(r"`+")


# What GFM turns into a link without any syntax (extended autolinks): scheme URLs, www.
# names and e-mail addresses. Backslash escapes do not stop all renderers from linking them,
# so such a token from the bundle is shown as inline code, which no renderer links.
_URL_START = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{0,31}://|\b(?:mailto|xmpp):|\bwww\.")
_URL_REST = re.compile(r"[^\s<>|`]*")
# An e-mail address is found from its "@" (a left-hand run found by a regex search would be
# rescanned from every start: quadratic on a long run of letters).
_EMAIL_DOMAIN = re.compile(r"@[a-z0-9_-]+(?:\.[a-z0-9_-]+)+", re.IGNORECASE)
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


def _bare_links(text: str) -> list[tuple[int, int]]:
    """(start, end) of every token GFM would link, in order, not overlapping."""
    spans = [(m.start(), _URL_REST.match(text, m.end()).end())  # type: ignore[union-attr]
             for m in _URL_START.finditer(text)]
    for match in _EMAIL_DOMAIN.finditer(text):
        start = match.start()
        while start > 0 and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        if start < match.start():
            spans.append((start, match.end()))
    spans.sort()
    kept: list[tuple[int, int]] = []
    for start, end in spans:
        if kept and start < kept[-1][1]:
            kept[-1] = (kept[-1][0], max(end, kept[-1][1]))
        else:
            kept.append((start, end))
    return kept


def md_inline(text: str, *, line_start: bool = True, links: bool = False) -> str:
    """One line of plain text that renders literally as Markdown (controls escaped, no
    newlines, every syntax character backslash-escaped, bare URLs, www. names and e-mail
    addresses as inline code unless ``links``: text from the rule pack, not the bundle).
    With ``line_start`` a leading block marker (``#``, ``>``, ``-``, ``1.``...) is escaped
    too."""
    spans = [] if links else _bare_links(text)
    if spans:
        out: list[str] = []
        position = 0
        for start, end in spans:
            if start > position:
                out.append(md_inline(text[position:start], line_start=line_start and not out,
                                     links=True))
            out.append(md_code_span(text[start:end]))
            position = end
        if position < len(text):
            out.append(md_inline(text[position:], line_start=False, links=True))
        return "".join(out)
    clean = for_terminal(text)  # newlines become the two characters "\n"
    escaped = _INLINE_SPECIAL.sub(r"\\\1", clean)
    if not line_start:
        return escaped
    return _BLOCK_START.sub(
        lambda m: m.group(1) + (m.group(2) or "") + "\\" + m.group(3), escaped, count=1
    )


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def md_inline_code(text: str, *, line_start: bool = True) -> str:
    """Like :func:`md_inline`, but text between single backticks (a command in a rule's
    remediation) stays a code span instead of being escaped."""
    out: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(md_inline(text[position:match.start()], line_start=line_start and not out,
                             links=True))
        out.append(md_code_span(match.group(1)))
        position = match.end()
    out.append(md_inline(text[position:], line_start=line_start and not out, links=True))
    return "".join(out)


def md_cell(text: str) -> str:
    """A table cell: :func:`md_inline` (which escapes ``|``), never empty."""
    return md_inline(text, line_start=False).strip() or " "


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)


def md_code_span(text: str) -> str:
    """Inline code that cannot be closed by backticks in ``text``."""
    clean = for_terminal(text)
    fence = "`" * (_longest_backtick_run(clean) + 1)
    pad = " " if clean.startswith("`") or clean.endswith("`") or not clean.strip() else ""
    return f"{fence}{pad}{clean}{pad}{fence}"


def md_code_block(lines: list[str], info: str = "text") -> str:
    """A fenced block; each line is sanitized (single-line) and the fence outgrows any run of
    backticks in the content."""
    body = [for_terminal(line) for line in lines]
    fence = "`" * max(3, max((_longest_backtick_run(line) for line in body), default=0) + 1)
    return "\n".join([fence + info, *body, fence])


class MarkdownRenderer(Renderer):
    format: ClassVar[str] = "markdown"
    suffix: ClassVar[str] = ".md"
    media_type: ClassVar[str] = "text/markdown"

    def render(self, report: Report) -> str:
        tr = self.t
        lang = self.lang
        bundle = report.bundle
        findings = report.sorted_findings()
        out: list[str] = []

        out.append("# " + md_inline(tr("label.report_title", source=bundle.source)))
        out.append("")
        out.append(f"**{tr('heading.verdict')}:** " + md_inline(verdict_sentence(report, lang)))
        out.append("")

        if findings:
            headers = [
                tr("label.severity"),
                tr("label.category"),
                tr("label.rule"),
                tr("label.title"),
                tr("label.count"),
                tr("label.first_seen"),
                tr("label.last_seen"),
            ]
            out.append("| " + " | ".join(md_cell(h) for h in headers) + " |")
            out.append("|---|---|---|---|--:|---|---|")
            for f in findings:
                cells = [
                    severity_label(f.severity, lang),
                    category_label(f.category, lang),
                    f.rule,
                    f.title,
                    str(f.count),
                    fmt_ts(f.first_seen, "-"),
                    fmt_ts(f.last_seen, "-"),
                ]
                out.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
            out.append("")
            out.append(f"## {md_inline(tr('heading.findings'))}")
            for index, finding in enumerate(findings, 1):
                out.extend(self._finding(index, finding))
        else:
            out.append(md_inline(tr("findings.none")))
            out.append("")

        if bundle.problems:
            out.append(f"## {md_inline(tr('heading.problems'))}")
            out.append("")
            for p in bundle.problems:
                out.append(f"- {md_code_span(p.member)}: {md_inline(p.message)}")
            out.append("")
        if report.not_checked:
            out.append(f"## {md_inline(tr('coverage.heading'))}")
            out.append("")
            out.append(md_inline(tr("coverage.intro")))
            out.append("")
            out.extend(f"- {md_inline(line)}" for line in not_checked_lines(report, lang))
            out.append("")
        if report.rule_errors:
            out.append(f"## {md_inline(tr('heading.rule_errors'))}")
            out.append("")
            out.extend(f"- {md_inline(error)}" for error in report.rule_errors)
            out.append("")

        out.append(f"**{tr('heading.next_step')}:** " + md_inline(next_step(report, lang)))
        out.append("")
        out.append("---")
        out.append("")
        out.append(
            md_inline(tr("label.analyzer"))
            + ": "
            + md_code_span(f"{report.tool_name} {report.tool_version}")
            + " · "
            + md_inline(tr("label.sha256"))
            + ": "
            + md_code_span(bundle.sha256 or tr("label.unknown"))
        )
        return "\n".join(out) + "\n"

    def _finding(self, index: int, f: Finding) -> list[str]:
        tr = self.t
        lang = self.lang
        out = [
            "",
            f"### {index}. {md_inline(severity_label(f.severity, lang))} · "
            f"{md_inline(f.rule)} · {md_inline(f.title)}",
            "",
            md_inline(f.message) + "  ",
        ]
        cause = finding_cause(f.category, f.guide_cause)
        meta = f"*{md_inline(tr('label.category'))}:* {md_inline(category_label(f.category, lang))}"
        if cause is not None:
            meta += f" · *{md_inline(tr('label.guide_cause'))}:* " + md_inline(
                cause_label(cause, lang)
            )
        out.append(meta)
        if f.downranked:
            out += ["", "*" + md_inline(tr("label.downranked", reason=f.downranked)) + "*"]
        if f.evidence:
            lines = []
            for ev in f.evidence[:MAX_EVIDENCE]:
                where = ev.member + (f":{ev.line}" if ev.line is not None else "")
                stamp = f"  {fmt_ts(ev.timestamp)}" if ev.timestamp is not None else ""
                first, *more = ev.text.split("\n")
                lines.append(f"{where}{stamp}  {first}")
                lines.extend("    " + line for line in more)
            out += ["", f"**{md_inline(tr('label.evidence'))}:**", "", md_code_block(lines)]
            hidden = len(f.evidence) - MAX_EVIDENCE
            if hidden > 0:
                out.append(md_inline(tr("text.more_evidence", count=hidden)))
        if f.remediation.strip():
            out += ["", f"**{md_inline(tr('label.remediation'))}:**", ""]
            out += [
                "> " + md_inline_code(line) if line.strip() else ">"
                for line in f.remediation.strip().splitlines()
            ]
        if f.references:
            out += ["", f"**{md_inline(tr('label.references'))}:**", ""]
            for ref in f.references:
                href = safe_href(ref)
                # Angle-bracket autolinks cannot contain "<", ">" or spaces; safe_href ensures it.
                out.append(f"- <{href}>" if href and "<" not in href and ">" not in href
                           else f"- {md_code_span(ref)}")
        out.append("")
        return out
