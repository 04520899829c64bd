"""Text without lone surrogates, for documents other programs parse (records JSON, SARIF).

Bytes that were not UTF-8 reach us as ``surrogateescape`` code points (U+DC80-U+DCFF). Written
to JSON they become ``\\udce9`` escapes, which strict parsers reject and which cannot be
encoded as UTF-8 at all. They are shown as the byte they stand for (``\\xe9``), as the terminal
sanitizer does; any other lone surrogate becomes U+FFFD.

>>> scrub_surrogates("caf\\udce9")
'caf\\\\xe9'
>>> scrub_surrogates("ok")
'ok'
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["scrub", "scrub_surrogates"]

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "\ufffd"


def scrub_surrogates(text: str) -> str:
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(_replace, text)


def scrub(value: Any) -> Any:
    """:func:`scrub_surrogates` through strings, lists and dicts (keys too)."""
    if isinstance(value, str):
        return scrub_surrogates(value)
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    return value
