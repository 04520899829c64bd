"""The published machine contract ``waagent-analyzer/report/v1`` (see ``Report.to_dict``)."""

from __future__ import annotations

import json
from typing import ClassVar

from analyzer.report.model import Report
from analyzer.report.verdict import Renderer

__all__ = ["JsonRenderer"]


class JsonRenderer(Renderer):
    """ASCII-only JSON: control characters and non-ASCII text arrive as ``\\uXXXX`` escapes,
    so the document is safe to print and to pipe. Language-independent."""

    format: ClassVar[str] = "json"
    suffix: ClassVar[str] = ".json"
    media_type: ClassVar[str] = "application/json"

    def render(self, report: Report) -> str:
        return json.dumps(report.to_dict(), ensure_ascii=True, indent=2) + "\n"
