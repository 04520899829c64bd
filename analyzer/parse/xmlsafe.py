"""Hardened loaders for untrusted structured documents: XML (lxml), JSON and small text files.

Every goal-state document in a bundle is attacker-controllable, so XML goes through one
parser configured as docs/security.md says ("XML without a DOCTYPE"), and the document is
rejected outright if it declares a DOCTYPE or contains entity references: WireServer and
HostGAPlugin documents never do, and a kept ``&x;`` would silently yield wrong values.

The DOCTYPE check runs on text *we* decoded (UTF-8/UTF-16/ASCII/Latin-1 only), and libxml2
is then given those exact bytes as UTF-8 with the encoding forced: an exotic encoding
(UTF-32, UTF-7, EBCDIC) cannot hide a DOCTYPE from the check and reach libxml2, which would
otherwise read parameter entities from local files before any post-parse check runs.

Helpers below look children up by *local* name, so documents with or without a default
namespace read the same.

>>> root = parse_xml(b"<GoalState><Incarnation>3</Incarnation></GoalState>", "m")
>>> child_text(root, "Incarnation")
'3'
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

from lxml import etree

from analyzer.parse.errors import ParseError
from analyzer.parse.text import check_size, decode_text  # noqa: F401  (re-exported)
from analyzer.settings import DEFAULT_LIMITS

DOCTYPE_REJECTED = "XML with DOCTYPE/entities is not accepted"

_GZIP_MAGIC = b"\x1f\x8b"
# Checked on the *decoded* text, before libxml2 sees the document: libxml2 reads
# ``<!ENTITY % p SYSTEM "file:///...">`` parameter entities from local files even with
# load_dtd=False and resolve_entities=False, so a DOCTYPE must never reach it.
_DTD_MARKER = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# The encoding declared in an ASCII-compatible prolog.
_DECLARED_ENCODING = re.compile(
    rb"^\s*<\?xml[^>]{0,200}?\bencoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']"
)
# Declared encodings we decode ourselves. Anything else (UTF-7, UTF-32, EBCDIC, ISO-2022...)
# could spell "<!DOCTYPE" in bytes no ASCII check would see, so it is refused.
_ASCII_COMPATIBLE = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
}

_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers must not be shared across threads).

    ``encoding="utf-8"`` makes libxml2 read exactly the bytes :func:`parse_xml` produced
    and checked, whatever the document's own declaration says.
    """
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            encoding="utf-8",
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            decompress=False,
            remove_pis=True,
            remove_comments=True,
            collect_ids=False,
            recover=False,
        )
        _local.parser = parser
    return parser


def parse_xml(
    data: bytes, member: str, max_bytes: int = DEFAULT_LIMITS.max_xml_bytes
) -> etree._Element:
    """Parse untrusted XML bytes with the hardened parser and return the root element.

    Raises ParseError for oversize input, gzip/binary input, syntax errors (libxml2's own
    limits turn entity bombs, deep nesting and huge nodes into syntax errors) and any
    document with a DOCTYPE, an internal DTD or entity references.

    >>> parse_xml(b'<!DOCTYPE r [<!ENTITY x "1">]><r>&x;</r>', "m")
    Traceback (most recent call last):
    ...
    analyzer.parse.errors.ParseError: XML with DOCTYPE/entities is not accepted
    """
    if not isinstance(data, bytes | bytearray):
        raise ParseError("XML must be given as bytes", member)
    check_size(data, member, max_bytes, "XML document")
    if data[:2] == _GZIP_MAGIC:
        raise ParseError("not XML: gzip-compressed data", member)
    text = _decode_xml(bytes(data), member)
    if _DTD_MARKER.search(text):
        raise ParseError(DOCTYPE_REJECTED, member)
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"invalid XML: {_first_line(str(exc))}", member) from None
    except (ValueError, etree.ParserError) as exc:  # e.g. empty input on some lxml versions
        raise ParseError(f"invalid XML: {_first_line(str(exc))}", member) from None
    if root is None:
        raise ParseError("invalid XML: Document is empty", member)
    _reject_dtd(root, member)
    return root


def _decode_xml(data: bytes, member: str) -> str:
    """Decode as XML 1.0 appendix F says (BOM, UTF-16 sniffing, declaration), strictly,
    refusing encodings that are not UTF-8/UTF-16/ASCII/Latin-1/cp1252.

    A BOM wins over the declaration (libxml2 then gets UTF-8 with its encoding forced, so a
    UTF-16 file that wrongly declares ``utf-8`` still reads as what was checked).
    """
    if data.startswith(
        (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\x00\x00\x00<", b"<\x00\x00\x00")
    ):
        raise ParseError("unsupported XML encoding: UTF-32", member)
    if data.startswith(b"\xef\xbb\xbf"):
        codec, body = "utf-8", data[3:]
    elif data.startswith(b"\xff\xfe"):
        codec, body = "utf-16-le", data[2:]
    elif data.startswith(b"\xfe\xff"):
        codec, body = "utf-16-be", data[2:]
    elif data.startswith(b"<\x00"):
        codec, body = "utf-16-le", data
    elif data.startswith(b"\x00<"):
        codec, body = "utf-16-be", data
    else:
        declared = _DECLARED_ENCODING.match(data)
        name = declared.group(1).decode("ascii").lower() if declared else "utf-8"
        if name not in _ASCII_COMPATIBLE:
            raise ParseError(f"unsupported XML encoding: {name[:40]}", member)
        codec, body = _ASCII_COMPATIBLE[name], data
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"invalid XML: bytes are not valid {codec} at offset {exc.start}", member
        ) from None
    return text


def _reject_dtd(root: etree._Element, member: str) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ParseError(DOCTYPE_REJECTED, member)
    if any(True for _ in root.iter(etree.Entity)):
        raise ParseError(DOCTYPE_REJECTED, member)


_LOCATION_SUFFIX = re.compile(r"\s*\([^()]*, line \d+\)$")


def _first_line(message: str) -> str:
    # lxml appends "(<string>, line N)" to libxml2's message; the member name says more.
    line = message.splitlines()[0] if message else "unknown error"
    return _LOCATION_SUFFIX.sub("", line)


# --- namespace-agnostic lookups -----------------------------------------------------------


def local_name(el: etree._Element) -> str:
    """Tag without its ``{namespace}``.

    >>> local_name(etree.fromstring(b'<a xmlns="urn:x"/>'))
    'a'
    """
    tag = el.tag
    if not isinstance(tag, str):  # comments/PIs (removed by our parser, but be safe)
        return ""
    return tag.rpartition("}")[2]


def children(el: etree._Element, name: str) -> Iterator[etree._Element]:
    """Direct children whose local name is ``name``."""
    for child in el:
        if local_name(child) == name:
            yield child


def child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """First element down ``path`` (local names, one per level), or None.

    >>> r = etree.fromstring(b"<a><b><c>x</c></b></a>")
    >>> child(r, "b", "c").text
    'x'
    """
    node = el
    for name in path:
        if node is None:
            return None
        node = next(children(node, name), None)
    return node


def child_text(el: etree._Element | None, *path: str, default: str = "") -> str:
    """Stripped text of the element down ``path``, or ``default``."""
    node = child(el, *path)
    if node is None or node.text is None:
        return default
    return node.text.strip()


def descendants(el: etree._Element, name: str) -> Iterator[etree._Element]:
    """All descendants (any depth) with local name ``name``."""
    for node in el.iter():
        if local_name(node) == name:
            yield node


def attr(el: etree._Element | None, name: str, default: str = "") -> str:
    """Attribute by local name (attributes are unqualified in every agent document)."""
    if el is None:
        return default
    value = el.get(name)
    return default if value is None else value.strip()


# --- JSON and text ------------------------------------------------------------------------


def load_json(data: bytes, member: str, max_bytes: int = DEFAULT_LIMITS.max_xml_bytes) -> Any:
    """Decode an untrusted JSON document (UTF-8/16/32, BOM allowed).

    >>> load_json(b'{"a": 1}', "m")
    {'a': 1}
    >>> load_json(b'{"a": ', "m")
    Traceback (most recent call last):
    ...
    analyzer.parse.errors.ParseError: invalid JSON: Expecting value: line 1 column 7 (char 6)
    """
    check_size(data, member, max_bytes, "JSON document")
    if data[:2] == _GZIP_MAGIC:
        raise ParseError("not JSON: gzip-compressed data", member)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # json.loads(bytes) does not accept a UTF-8 BOM
    try:
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid JSON: bad text encoding ({exc.reason})", member) from None
    except RecursionError:
        raise ParseError("invalid JSON: nested too deeply", member) from None
    except ValueError as exc:  # JSONDecodeError, and int() digit limits
        raise ParseError(f"invalid JSON: {_first_line(str(exc))}", member) from None
