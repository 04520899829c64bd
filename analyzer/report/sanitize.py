"""One sanitizer per output sink.

Everything that comes out of a bundle (log text, member names, XML values, captures inside
rule messages) is attacker-influenced. It must pass through exactly one of these functions
before it reaches a sink:

* :func:`for_terminal` - terminals (rich/typer output). Control, bidi and invisible
  characters become visible escapes (``\\x1b``, ``\\u202e``), so evidence stays readable but
  can no longer move the cursor, set the title, write the clipboard, open OSC 8 links or
  reorder text.
* :func:`for_html_text` - text placed in the HTML report. Same escaping (bidi tricks work in
  browsers too); HTML escaping itself is done by jinja2 autoescape, so this returns a plain
  ``str``, never ``Markup``.
* :func:`for_csv` - spreadsheet cells (CSV/XLSX): formula prefixes are neutralised with ``'``.

Stdlib only and cheap to import: the CLI imports this module on every run.
"""

from __future__ import annotations

import re
from typing import TypeVar

__all__ = [
    "CSV_FORMULA_PREFIXES",
    "for_csv",
    "for_html_text",
    "for_terminal",
]

# Unicode "Cf" (format: bidi controls, zero-width characters, invisible operators, tags...).
# Listed explicitly because computing them from ``unicodedata`` at import costs ~0.1 s.
# ``tests/report/test_sanitize.py`` checks that this covers every Cf character of the running
# Python's Unicode database (the list is a superset of Unicode 15.1).
_FORMAT_RANGES = (
    "\u00ad"
    "\u0600-\u0605"
    "\u061c"
    "\u06dd"
    "\u070f"
    "\u0890-\u0891"
    "\u08e2"
    "\u180e"
    "\u200b-\u200f"
    "\u202a-\u202e"
    "\u2060-\u2064"
    "\u2066-\u206f"
    "\ufeff"
    "\ufff9-\ufffb"
    "\U000110bd"
    "\U000110cd"
    "\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a"
    "\U000e0001"
    "\U000e0020-\U000e007f"
)

# C0 except TAB and LF, DEL, C1, LINE/PARAGRAPH SEPARATOR, lone surrogates, format chars.
_UNSAFE_BASE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff" + _FORMAT_RANGES
_UNSAFE_SINGLE_LINE = re.compile("[\n" + _UNSAFE_BASE + "]")
_UNSAFE_MULTILINE = re.compile("[" + _UNSAFE_BASE + "]")


_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        # A byte that was not valid UTF-8, smuggled through ``errors="surrogateescape"``:
        # show the original byte, the way Python's ``backslashreplace`` would.
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def for_terminal(text: str, *, multiline: bool = False) -> str:
    """Return ``text`` with every unsafe character replaced by a visible escape.

    Escaped: C0 controls except ``\\t`` (and except ``\\n`` when ``multiline`` is true),
    DEL, C1 controls (U+0080-U+009F), U+2028/U+2029, lone surrogates (``\\udce9`` from
    ``surrogateescape`` is shown as the byte ``\\xe9``) and all Unicode format characters
    (bidi overrides/isolates, zero-width characters, BOM, tags). CR and LF are shown as
    ``\\r`` / ``\\n``; CR is always escaped so a bare carriage return cannot overwrite what
    was printed before it.

    The result contains no escape sequences, is safe to print raw and is idempotent:
    ``for_terminal(for_terminal(s)) == for_terminal(s)``.
    """
    if text.isprintable():
        # Fast path: isprintable() is False for every character class escaped below.
        return text
    pattern = _UNSAFE_MULTILINE if multiline else _UNSAFE_SINGLE_LINE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape_char, text)


def for_html_text(text: str, *, multiline: bool = False) -> str:
    """Text for the HTML report: the terminal escaping, HTML escaping left to autoescape.

    Returns a plain ``str`` on purpose: jinja2 autoescape (``Environment(autoescape=True)``)
    must still escape ``<``, ``>``, ``&`` and quotes when the value is rendered.
    """
    return for_terminal(text, multiline=multiline)


CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")
"""First characters that make spreadsheet applications evaluate a cell as a formula."""

_T = TypeVar("_T")


def for_csv(value: _T, *, escape_controls: bool = True) -> _T | str:
    """Neutralise a spreadsheet cell (CSV or XLSX).

    Strings starting with ``=``, ``+``, ``-``, ``@``, TAB, CR or NUL get a leading ``'`` so
    Excel/LibreOffice/Sheets show them as text (OWASP ASVS 1.2.10). The decision is made on
    the original value; then, unless ``escape_controls`` is false, control/bidi characters are
    escaped as in :func:`for_terminal`. Non-strings (numbers the tool produced, ``None``,
    booleans, datetimes) are returned unchanged.
    """
    if not isinstance(value, str):
        return value
    prefix = "'" if value.startswith(CSV_FORMULA_PREFIXES) else ""
    body = for_terminal(value) if escape_controls else value
    return prefix + body if prefix else body
