"""Pick a renderer by format name: ``get_renderer("html", "pt-BR").render(report)``."""

from __future__ import annotations

from analyzer.report.html import HtmlRenderer
from analyzer.report.i18n import normalize_lang
from analyzer.report.json_renderer import JsonRenderer
from analyzer.report.markdown import MarkdownRenderer
from analyzer.report.sarif import SarifRenderer
from analyzer.report.text import TextRenderer
from analyzer.report.verdict import Renderer

__all__ = [
    "FORMATS",
    "HtmlRenderer",
    "JsonRenderer",
    "MarkdownRenderer",
    "Renderer",
    "SarifRenderer",
    "TextRenderer",
    "get_renderer",
]

_RENDERERS: dict[str, type[Renderer]] = {
    cls.format: cls
    for cls in (TextRenderer, JsonRenderer, MarkdownRenderer, HtmlRenderer, SarifRenderer)
}
FORMATS = tuple(_RENDERERS)
"""``("text", "json", "markdown", "html", "sarif")``"""


def get_renderer(fmt: str, lang: str = "en") -> Renderer:
    """A renderer for ``fmt`` (one of :data:`FORMATS`) writing UI text in ``lang``.

    ``lang`` accepts anything :func:`~analyzer.report.i18n.pick_lang` returns (and locale
    spellings such as ``pt_BR``). Unknown formats or languages raise ``ValueError``.
    """
    try:
        cls = _RENDERERS[fmt.lower()]
    except KeyError:
        raise ValueError(
            f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}"
        ) from None
    normalized = normalize_lang(lang)
    if normalized is None:
        raise ValueError(f"unsupported language {lang!r}")
    return cls(normalized)
