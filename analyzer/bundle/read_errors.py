"""Errors that end one member's data, and the problem text shown for them."""

from __future__ import annotations

import lzma
import tarfile
import zipfile

from analyzer.errors import BundleError

from .inflate import INFLATE_ERRORS
from .names import escape_text


class StreamTruncated(BundleError):
    """The data ended before the format said it would (message is the problem text)."""


class CorruptData(BundleError):
    """The data cannot be decoded further (message is the problem text)."""



def describe_read_error(exc: BaseException) -> str:
    """Problem text for an error raised while reading member data (library messages are
    escaped: they may quote member names)."""
    if isinstance(exc, (StreamTruncated, CorruptData)):
        return str(exc)
    if isinstance(exc, EOFError):
        return "truncated: unexpected end of data"
    if isinstance(exc, tarfile.ReadError):
        text = str(exc)
        if "unexpected end" in text:
            return "truncated: unexpected end of data"
        return f"corrupt: {escape_text(text)}"
    if isinstance(exc, zipfile.BadZipFile):
        text = str(exc)
        if "CRC" in text:
            return "corrupt: CRC mismatch"
        return f"corrupt: {escape_text(text)}"
    if isinstance(exc, INFLATE_ERRORS):
        return f"corrupt: invalid compressed data ({escape_text(str(exc))})"
    if isinstance(exc, lzma.LZMAError):
        return f"corrupt: invalid xz data ({escape_text(str(exc))})"
    if isinstance(exc, OSError):
        return f"read error: {escape_text(exc.strerror or str(exc))}"
    return f"read error: {type(exc).__name__}: {escape_text(str(exc))}"


READ_ERRORS: tuple[type[BaseException], ...] = (
    StreamTruncated,
    CorruptData,
    EOFError,
    tarfile.TarError,
    zipfile.BadZipFile,
    *INFLATE_ERRORS,
    lzma.LZMAError,
    OSError,
    # Library parsers have raised these on hostile input (struct/int decoding, bad names).
    ValueError,
    NotImplementedError,
    RuntimeError,
)
"""Errors of the layers below a member stream that mean "this member's data ends here"."""
