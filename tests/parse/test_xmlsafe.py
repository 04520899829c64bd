"""analyzer.parse.xmlsafe: hostile XML is rejected without side effects; odd-but-legal XML parses.

Samples are those of docs/security.md, checklist rows 33-35. File-read payloads point at a marker file in
tmp_path; network payloads at 127.0.0.1:9 (discard). Nothing may reach either.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from analyzer.parse import xmlsafe
from analyzer.parse.errors import ParseError
from analyzer.parse.goal_state import parse_goal_state
from analyzer.parse.xmlsafe import (
    DOCTYPE_REJECTED,
    attr,
    child,
    child_text,
    children,
    decode_text,
    descendants,
    load_json,
    parse_xml,
)
from analyzer.settings import DEFAULT_LIMITS

MARKER = "SECRET-CONTENT-7f3a"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(MARKER)
    return path


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)
    ]
    return ("<!DOCTYPE lolz [\n" + "\n".join(entities) + "\n]>\n<lolz>&lol9;</lolz>").encode()


def _hostile(secret: Path) -> dict[str, str]:
    uri = secret.as_uri()
    return {
        "xxe_file": f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "{uri}">]>\n<r>&x;</r>',
        "xxe_param": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{uri}"> %p;]>\n<r/>',
        "xxe_http": '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><r>&x;</r>',
        "ext_dtd": '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
        "internal_entity": (
            '<?xml version="1.0"?>\n<!DOCTYPE GoalState [<!ENTITY inc "2">]>\n'
            "<GoalState><Incarnation>&inc;</Incarnation></GoalState>"
        ),
        "bare_doctype": "<!DOCTYPE GoalState><GoalState/>",
        "lowercase_doctype": "<!doctype r><r/>",
        "quadratic": f'<!DOCTYPE r [<!ENTITY a "{"A" * 10_000}">]><r>{"&a;" * 2_000}</r>',
        "billion_laughs": _billion_laughs().decode(),
    }


HOSTILE_NAMES = [
    "xxe_file",
    "xxe_param",
    "xxe_http",
    "ext_dtd",
    "internal_entity",
    "bare_doctype",
    "lowercase_doctype",
    "quadratic",
    "billion_laughs",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_dtd_documents_are_rejected(name: str, encoding: str, secret_file: Path) -> None:
    doc = _hostile(secret_file)[name].encode(encoding)
    with pytest.raises(ParseError) as info:
        parse_xml(doc, "case.tgz!GoalState.1.xml")
    assert str(info.value) == DOCTYPE_REJECTED
    assert info.value.member == "case.tgz!GoalState.1.xml"
    assert MARKER not in str(info.value)


@pytest.mark.parametrize("name", ["xxe_file", "xxe_http", "internal_entity", "billion_laughs"])
def test_post_parse_check_also_rejects(
    name: str, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the text pre-check disabled, libxml2 settings plus the
    DOCTYPE/entity check after parsing still refuse the document and leak nothing."""
    monkeypatch.setattr(xmlsafe, "_DTD_MARKER", re.compile(r"(?!x)x"))
    with pytest.raises(ParseError) as info:
        parse_xml(_hostile(secret_file)[name].encode(), "m")
    assert MARKER not in str(info.value)


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [("utf-32", "UTF-32"), ("utf-7", "UTF-7"), ("cp037", "IBM037")],
)
def test_exotic_encodings_cannot_smuggle_a_doctype(
    encoding: str, declared: str, secret_file: Path
) -> None:
    doc = (
        f'<?xml version="1.0" encoding="{declared}"?>'
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{secret_file.as_uri()}"> %p;]><r/>'
    ).encode(encoding)
    with pytest.raises(ParseError) as info:
        parse_xml(doc, "m")
    assert MARKER not in str(info.value)


def test_xinclude_and_stylesheet_stay_inert(secret_file: Path) -> None:
    doc = (
        '<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/x.xsl"?>'
        '<GoalState xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="{secret_file.as_uri()}" parse="text"/></GoalState>'
    ).encode()
    root = parse_xml(doc, "m")
    assert MARKER not in etree.tostring(root).decode()
    assert "xml-stylesheet" not in etree.tostring(root.getroottree()).decode()


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (b"<r>a\x00b</r>", "invalid XML"),
        (b"<r>\xff\xfe</r>", "not valid utf-8"),
        (b"<r>\x1b[2J</r>", "invalid XML"),
        (b"", "Document is empty"),
        (b"<a>" * 300 + b"</a>" * 300, "depth"),
        (b"<r><unclosed></r>", "invalid XML"),
        (gzip.compress(b"<GoalState/>", mtime=0), "gzip"),
        (b"\x00\x00\xfe\xff\x00\x00\x00<", "UTF-32"),
    ],
)
def test_bad_bytes_become_parse_errors(doc: bytes, fragment: str) -> None:
    with pytest.raises(ParseError, match=re.escape(fragment)):
        parse_xml(doc, "m")


def test_libxml2_messages_drop_the_string_location() -> None:
    with pytest.raises(ParseError) as info:
        parse_xml(b"<r><unclosed></r>", "m")
    assert str(info.value).startswith("invalid XML: ")
    assert "<string>" not in str(info.value)


def test_oversize_document_is_rejected_before_parsing() -> None:
    doc = b"<r>" + b"<a/>" * 1000 + b"</r>"
    with pytest.raises(ParseError, match="over the 1000-byte limit"):
        parse_xml(doc, "m", max_bytes=1000)


def test_gzip_named_xml_and_default_cap_through_a_real_parser() -> None:
    with pytest.raises(ParseError, match="gzip"):
        parse_goal_state(gzip.compress(b"<GoalState/>", mtime=0), "var/lib/waagent/GoalState.3.xml")
    huge = b"<GoalState>" + b" " * DEFAULT_LIMITS.max_xml_bytes + b"</GoalState>"
    with pytest.raises(ParseError, match="limit"):
        parse_goal_state(huge, "var/lib/waagent/GoalState.3.xml")


def test_str_input_is_refused() -> None:
    with pytest.raises(ParseError, match="bytes"):
        parse_xml("<r/>", "m")  # type: ignore[arg-type]


def test_utf16_with_bom_parses(data) -> None:
    text = data("walinuxagent/wire/goal_state.xml").decode("utf-8")
    text = text.replace('encoding="utf-8"', 'encoding="utf-16"')
    for encoding in ("utf-16", "utf-16-be"):
        doc = text.encode(encoding)
        if encoding == "utf-16-be":
            doc = b"\xfe\xff" + doc
        row = parse_goal_state(doc, "GoalState.1.xml")[0]
        assert row.incarnation == "1"
        assert row.container_id == "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"


def test_utf8_bom_and_latin1_declaration() -> None:
    assert child_text(parse_xml(b"\xef\xbb\xbf<r><a>x</a></r>", "m"), "a") == "x"
    root = parse_xml(
        '<?xml version="1.0" encoding="ISO-8859-1"?><r>\xe9</r>'.encode("latin-1"), "m"
    )
    assert root.text == "\xe9"


def test_c1_and_bidi_controls_parse_for_the_output_sanitiser() -> None:
    root = parse_xml(
        "<GoalState><Incarnation>&#x9b;2J\u202e1</Incarnation></GoalState>".encode(), "m"
    )
    assert child_text(root, "Incarnation") == "\x9b2J\u202e1"


def test_comments_and_pis_are_removed() -> None:
    root = parse_xml(b"<r><!-- c --><?pi x?><a>1</a></r>", "m")
    assert [c.tag for c in root] == ["a"]


def test_helpers_ignore_namespaces() -> None:
    root = parse_xml(
        b'<Ext xmlns="urn:x" xmlns:p="urn:p"><p:Plugins><Plugin name="A" v="1"/>'
        b'<Plugin name="B"/></p:Plugins><Deep><Plugin name="C"/></Deep></Ext>',
        "m",
    )
    plugins = child(root, "Plugins")
    assert plugins is not None
    assert [attr(p, "name") for p in children(plugins, "Plugin")] == ["A", "B"]
    assert [attr(p, "name") for p in descendants(root, "Plugin")] == ["A", "B", "C"]
    assert child(root, "Missing", "Plugin") is None
    assert child_text(root, "Missing", default="-") == "-"
    assert attr(None, "name", "none") == "none"


# --- JSON and text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (b'{"a": ', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b'{"a": "\xff"}', "encoding"),
        (gzip.compress(b"{}", mtime=0), "gzip"),
        (b"", "invalid JSON"),
        (b'{"n": ' + b"9" * 5000 + b"}", "invalid JSON"),
    ],
)
def test_bad_json_becomes_parse_error(doc: bytes, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        load_json(doc, "m")


def test_json_encodings_and_size_cap() -> None:
    assert load_json(b'\xef\xbb\xbf{"a": 1}', "m") == {"a": 1}
    assert load_json('{"a": "\u00e9"}'.encode("utf-16"), "m") == {"a": "\u00e9"}
    with pytest.raises(ParseError, match="limit"):
        load_json(json.dumps({"a": "x" * 100}).encode(), "m", max_bytes=50)


def test_decode_text() -> None:
    assert decode_text(b"\xef\xbb\xbfa=1", "m") == "a=1"
    assert decode_text("a=\u00e9".encode("utf-16"), "m") == "a=\u00e9"
    assert decode_text(b"a=\xff", "m") == "a=\ufffd"
    with pytest.raises(ParseError, match="NUL"):
        decode_text(b"a\x00b", "m")
    with pytest.raises(ParseError, match="gzip"):
        decode_text(gzip.compress(b"a=1"), "m")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_parse_error(doc: bytes) -> None:
    for loader in (parse_xml, load_json, decode_text):
        with contextlib.suppress(ParseError):
            loader(doc, "m")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="<>/!?=\"' abcxDOCTYPENITY&;%[]", max_size=120))
def test_markup_soup_only_ever_raises_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_xml(text.encode(), "m")
