"""The HTML report in a real browser (Debian chromium through Playwright).

Proves what static checks cannot: the page renders, the hashed inline script runs under its
own CSP while nothing else does, filters work from the keyboard, hostile evidence stays text,
and the print stylesheet shows everything. Saves tests/report/artifacts/report.png.

Without chromium/Playwright the tests skip locally and FAIL when ``CI`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from report_fixtures import ARTIFACTS, HTML_IMG, HTML_SCRIPT, make_report

from analyzer.report.renderers import get_renderer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    with sync_playwright() as pw:
        try:
            instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            _unavailable(f"chromium did not start: {exc}")
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def report_file() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "report.html"
    path.write_text(get_renderer("html", "en").render(make_report()), encoding="utf-8")
    return path


class Watched:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.errors: list[str] = []


@pytest.fixture
def page(browser: Any, report_file: Path) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda m: watched.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.on("request", lambda r: watched.requests.append(r.url))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    # Runs before the page (outside its CSP): records any policy violation the page causes.
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', e => "
        "window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(report_file.as_uri())
    page.wait_for_selector("html[data-js=ready]")
    yield watched
    context.close()


def visible_findings(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "article[data-finding]",
        "nodes => nodes.filter(n => n.offsetParent !== null).map(n => n.dataset.severity)",
    )


def test_renders_findings_evidence_and_chart(page: Watched) -> None:
    p = page.page
    assert p.locator("#verdict").is_visible()
    assert p.locator("#verdict .badge-lg").inner_text().strip().upper() == "CRITICAL"
    assert visible_findings(p) == ["critical", "high", "medium", "low", "info"]
    evidence = p.locator("#finding-2 .evidence li")
    assert evidence.count() == 7
    assert evidence.first.is_visible()
    assert "case-4711.tgz!var/log/waagent.log" in evidence.first.inner_text()
    chart = p.locator("svg.timeline")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 800 and box["height"] > 250
    assert p.locator("svg.timeline .bars rect").count() > 100
    assert p.locator("svg.timeline .fspan").count() == 4
    assert p.locator("#filters").is_visible()  # unhidden by our (hashed) script
    assert p.locator("#filter-status").inner_text() == "Showing 5 of 5 findings"


def test_injected_markup_is_inert_text(page: Watched) -> None:
    p = page.page
    assert p.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == []
    texts = p.locator("#finding-2 .ev-text").all_inner_texts()
    assert HTML_SCRIPT in texts
    assert HTML_IMG in texts
    assert p.locator("#finding-2 .evidence img").count() == 0
    assert p.locator("body script").count() == 2  # the JSON block and our own script only
    assert p.locator("a[href^='javascript:']").count() == 0
    for link in p.locator("a[href^='http']").all():
        assert link.get_attribute("rel") == "noopener noreferrer"


def test_no_csp_violations_errors_or_network(page: Watched, report_file: Path) -> None:
    p = page.page
    assert p.evaluate("window.__violations") == []
    assert not [m for m in page.console if "Content Security Policy" in m or "Refused" in m]
    assert not [m for m in page.console if m.startswith("error")]
    assert page.errors == []
    assert set(page.requests) <= {report_file.as_uri()}


def test_severity_and_category_filters_by_keyboard(page: Watched) -> None:
    p = page.page
    p.focus("#sev-high")
    p.keyboard.press("Space")
    assert visible_findings(p) == ["critical", "medium", "low", "info"]
    assert p.locator("#filter-status").inner_text() == "Showing 4 of 5 findings"
    assert p.locator("svg.timeline .fspan.sev-high").is_hidden()
    p.keyboard.press("Space")
    assert visible_findings(p) == ["critical", "high", "medium", "low", "info"]

    p.select_option("#filter-category", "network")
    assert visible_findings(p) == ["high"]
    p.uncheck("#sev-high")
    assert visible_findings(p) == []
    assert p.locator("#filter-empty").is_visible()
    p.focus("#filter-reset")
    p.keyboard.press("Enter")
    assert visible_findings(p) == ["critical", "high", "medium", "low", "info"]
    assert p.locator("#filter-empty").is_hidden()
    assert p.eval_on_selector("#filter-category", "n => n.value") == ""


def test_print_stylesheet_hides_filters_and_shows_everything(page: Watched) -> None:
    p = page.page
    p.uncheck("#sev-info")
    assert "info" not in visible_findings(p)
    p.emulate_media(media="print")
    assert p.locator("#filters").is_hidden()
    assert visible_findings(p) == ["critical", "high", "medium", "low", "info"]
    p.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert p.eval_on_selector_all("details", "ns => ns.every(n => n.open)")
    p.emulate_media(media="screen")


def test_screenshot(page: Watched) -> None:
    target = ARTIFACTS / "report.png"
    page.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 50_000
