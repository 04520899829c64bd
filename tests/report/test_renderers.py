"""Renderer selection and the common contract: every format renders every report."""

from __future__ import annotations

import pytest

from analyzer.report.html import HtmlRenderer
from analyzer.report.json_renderer import JsonRenderer
from analyzer.report.markdown import MarkdownRenderer
from analyzer.report.model import Report
from analyzer.report.renderers import FORMATS, Renderer, get_renderer
from analyzer.report.text import TextRenderer


def test_formats() -> None:
    assert FORMATS == ("text", "json", "markdown", "html", "sarif")


@pytest.mark.parametrize(
    ("fmt", "cls"),
    [("text", TextRenderer), ("json", JsonRenderer), ("markdown", MarkdownRenderer),
     ("html", HtmlRenderer), ("HTML", HtmlRenderer)],
)
def test_get_renderer(fmt: str, cls: type[Renderer]) -> None:
    renderer = get_renderer(fmt, "pt_BR.UTF-8")
    assert type(renderer) is cls
    assert renderer.lang == "pt-BR"
    assert renderer.suffix.startswith(".")


def test_get_renderer_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        get_renderer("xlsx", "en")
    with pytest.raises(ValueError, match="unsupported language"):
        get_renderer("text", "klingon")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_every_format_renders(
    fmt: str, lang: str, report: Report, empty_report: Report
) -> None:
    renderer = get_renderer(fmt, lang)
    for item in (report, empty_report):
        out = renderer.render(item)
        assert isinstance(out, str) and out.endswith("\n")
        assert "\x1b" not in out


def test_package_exports_get_renderer_lazily() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, analyzer.report.model; "
        "assert 'analyzer.report.renderers' not in sys.modules; "
        "from analyzer.report import get_renderer; "
        "print(type(get_renderer('markdown', 'en')).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert result.stdout.strip() == "MarkdownRenderer"
