"""One report object, renderers per format, sanitizers per sink.

``from analyzer.report import get_renderer`` works, but lazily: importing
``analyzer.report.model`` (which the engine does on every run) does not load the renderers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.report.renderers import FORMATS, Renderer, get_renderer

__all__ = ["FORMATS", "Renderer", "get_renderer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from analyzer.report import renderers

        return getattr(renderers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
