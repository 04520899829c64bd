"""Size checks and decoding of small text files, without lxml: ``parse/conf.py`` and
``parse/dhcp.py`` are also imported by the live self-check, which runs on the standard
library alone."""

from __future__ import annotations

from analyzer.onvm.formats import decode_small_text
from analyzer.parse.errors import ParseError
from analyzer.settings import DEFAULT_LIMITS


def check_size(data: bytes, member: str, max_bytes: int, what: str = "document") -> None:
    """Raise ParseError when ``data`` is over the per-document byte cap.

    >>> check_size(b"12345", "m", 4)
    Traceback (most recent call last):
    ...
    analyzer.parse.errors.ParseError: document is 5 bytes, over the 4-byte limit
    """
    if len(data) > max_bytes:
        raise ParseError(f"{what} is {len(data)} bytes, over the {max_bytes}-byte limit", member)


def decode_text(data: bytes, member: str, max_bytes: int = DEFAULT_LIMITS.max_xml_bytes) -> str:
    """Decode a small text file (conf, lease, results.txt); binary data is rejected.

    Undecodable bytes are replaced rather than rejected: these files are hand-edited and
    one stray Latin-1 byte in a comment must not hide the rest.

    >>> decode_text(b"a=1\\n", "m")
    'a=1\\n'
    """
    check_size(data, member, max_bytes, "text file")
    try:
        return decode_small_text(data)  # the one decoding, shared with the on-VM zipapp
    except ValueError as exc:
        raise ParseError(str(exc), member) from None
