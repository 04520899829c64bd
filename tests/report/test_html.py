"""HTML report, checked statically: escaping, CSP, self-containment, sections, languages."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from report_fixtures import HTML_IMG, HTML_SCRIPT, make_report

from analyzer.report.html import content_security_policy, script_hash
from analyzer.report.model import Report
from analyzer.report.renderers import get_renderer


class Page(HTMLParser):
    """Every start tag with its attributes, plus the text of each <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self._text = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)
        else:
            self.text.append(data)


def render(report: Report, lang: str = "en") -> str:
    return get_renderer("html", lang).render(report)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def html() -> str:
    return render(make_report())


def test_payloads_are_escaped_text(html: str) -> None:
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;/td&gt;&lt;script&gt;window.__pwned=1;alert(1)&lt;/script&gt;" in html
    text = "".join(parse(html).text)
    assert HTML_SCRIPT in text  # shown to the reader exactly as it was logged
    assert HTML_IMG in text


def test_controls_and_bidi_are_visible_escapes(html: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\r", "\udce9"):
        assert raw not in html
    text = "".join(parse(html).text)
    for shown in (r"\x1b[2J\x1b[H", r"\x9b31m", r"real-error\rOK", r"invoice\u202etxt.exe",
                  r"caf\xe9.log", r"var/log/\x1b]0;pwned\x07.log"):
        assert shown in text, shown


def test_csp_allows_exactly_our_inline_script(html: str) -> None:
    page = parse(html)
    metas = [a for tag, a in page.tags if tag == "meta" and a.get("http-equiv")]
    assert len(metas) == 1
    csp = metas[0]["content"] or ""
    assert csp.startswith(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-"
    )
    assert "img-src data:" in csp
    executable = [(a, body) for a, body in page.scripts if a.get("type") != "application/json"]
    assert len(executable) == 1
    attrs, body = executable[0]
    assert attrs == {}  # inline, no src
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert script_hash(body) == f"'sha256-{digest}'"
    assert content_security_policy(body) == csp
    # The head must carry the policy before anything that could load or run.
    assert html.index("Content-Security-Policy") < html.index("<style>")


def test_no_handlers_no_remote_loads(html: str) -> None:
    page = parse(html)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name == "src":
                raise AssertionError(f"<{tag} src=...> makes the page load something")
            if name == "href":
                assert value is not None
                if tag == "link":
                    assert value.startswith("data:")
                elif not value.startswith("#"):
                    assert re.match(r"https://", value), value
                    assert attrs.get("rel") == "noopener noreferrer"
    css = html[html.index("<style>") : html.index("</style>")]
    assert "@import" not in css and "url(" not in css
    assert "javascript:" not in " ".join(
        str(v) for _, a in page.tags for k, v in a.items() if k == "href"
    )


def test_json_data_block(html: str) -> None:
    page = parse(html)
    blocks = [body for a, body in page.scripts if a.get("type") == "application/json"]
    assert len(blocks) == 1
    data = json.loads(blocks[0])
    assert data["total"] == 5
    assert "{shown}" in data["i18n"]["status"]
    assert "</" not in blocks[0]


def test_tojson_escapes_script_breakout_in_data_block() -> None:
    from analyzer.report.html import HtmlRenderer

    class Hostile(HtmlRenderer):
        def _script_data(self, report: Report) -> dict[str, str]:
            return {"x": "</script><script>window.__pwned=3</script>"}

    html = Hostile("en").render(make_report())
    assert "window.__pwned=3</script>" not in html
    assert "\\u003c/script\\u003e" in html


def test_sections_and_content(html: str) -> None:
    for anchor in ('id="verdict"', 'id="findings"', 'id="timeline"', 'id="versions"',
                   'id="inventory"'):
        assert anchor in html
    page = parse(html)
    findings = [a for t, a in page.tags if t == "article"]
    assert [a["data-severity"] for a in findings] == ["critical", "high", "medium", "low", "info"]
    assert all(a.get("data-category") for a in findings)
    text = " ".join(page.text)
    assert "Cause 5: The snapshot status cannot be retrieved" in text
    assert "WAA-SNAP-002" in text and "case-4711.tgz!var/log/waagent.log" in text
    assert ":1204" in text  # evidence line number
    assert "javascript:alert(document.domain)" in text  # reference shown, not linked
    assert "2.10.0.8" in text and "Microsoft.OSTCExtensions.VMAccessForLinux" in text
    assert "skipped: symbolic link" in text
    assert "@media print" in html
    assert ":focus-visible" in html
    labels = [a for t, a in page.tags if t == "input" and a.get("type") == "checkbox"]
    assert {a["value"] for a in labels} == {"critical", "high", "medium", "low", "info"}
    # Keyboard/AT usable: every checkbox sits inside its <label>, the select has one, and
    # the reset control is a real button.
    assert len(re.findall(r'<label class="check[^"]*"><input type="checkbox"', html)) == 5
    assert '<label for="filter-category"' in html
    assert '<button type="button" id="filter-reset"' in html


def test_timeline_svg(html: str) -> None:
    page = parse(html)
    svg = [a for t, a in page.tags if t == "svg" and "timeline" in (a.get("class") or "")]
    assert len(svg) == 1 and svg[0]["role"] == "img"
    classes = [a.get("class") or "" for _, a in page.tags]
    assert sum(c.startswith("lvl-error") for c in classes) == 5
    assert sum(c.startswith("lvl-info") for c in classes) >= 48
    assert sum("ev ev-snapshot-run" in c for c in classes) == 3
    assert sum("ev ev-agent-crash" in c for c in classes) == 1
    assert sum(c.startswith("fspan") for c in classes) == 4  # findings with first/last seen
    assert any(c == "collected" for c in classes)


def test_portuguese(report: Report) -> None:
    html = render(report, "pt-BR")
    assert '<html lang="pt-BR">' in html
    for text in ("Veredito", "Achados", "Linha do tempo", "Arquivos lidos", "Próximo passo",
                 "Mostrar tudo", "Causa 5:"):
        assert text in html, text


def test_empty_report(empty_report: Report) -> None:
    html = render(empty_report)
    assert "No findings" in html
    assert "no timestamps to draw a timeline" in html
    assert 'id="filters"' not in html
