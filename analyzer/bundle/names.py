"""Member names: validation, display escaping and the normalised ``logical_path``.

Archive member names are attacker-controlled strings. This module never touches the file
system with them; it only

* decides whether a name is unusable (NUL, too long, too many components) -> the member is
  skipped,
* flags names that would be dangerous *if* someone extracted them (absolute, ``..``) -> the
  member is still read, as data, under its normalised name,
* makes them printable (``escape_text``) so provenance strings can go to a terminal, HTML or
  CSV without carrying control characters, bidi overrides or lone surrogates,
* computes the VM path the member stands for (``logical_path``).

>>> parse_name("./case-1234/var/log/waagent.log", Limits()).logical_path
'var/log/waagent.log'
>>> parse_name("truncated_var_log_waagent.log", Limits()).collector_truncated
True
>>> escape_text("caf\\udce9\\x1b]0;x\\x07.log")
'caf\\\\xe9\\\\x1b]0;x\\\\x07.log'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer.redact import redact_text
from analyzer.settings import Limits

VM_ROOTS = frozenset({"var", "etc", "run"})
"""First components of a path on the VM that the analyzer knows about."""

WINDOWS_ROOTS = frozenset({"windowsazure", "packages"})
"""First components (case-folded) of the Windows guest agent's trees on the system drive:
``C:\\WindowsAzure`` (agent, logs) and ``C:\\Packages`` (extension packages)."""

_WINDOWS_BACKSLASH_PATH = re.compile(
    r"(?i)^(?:[a-z]:)?\\?(?:[^\\/]+\\)*?(?:WindowsAzure|Packages|AzureData)\\"
)
"""A name written with Windows separators (``C:\\WindowsAzure\\Logs\\WaAppAgent.log``, a tar
made on Windows): its ``\\`` are separators even where tar names would keep them."""

COLLECTOR_ROOT_FILES = frozenset({"results.txt"})
"""Files the agent's log collector writes at the root of ``logs.zip``."""

TRUNCATED_PREFIX = "truncated_"

_DISPLAY_NAME_MAX = 256
"""Longer names are cut in provenance strings (the member is skipped anyway)."""

_DRIVE = re.compile(r"^[A-Za-z]:")


def escape_text(text: str, *, extra: str = "") -> str:
    """Return ``text`` with every non-printable character replaced by a visible escape.

    Surrogate-escaped bytes (undecodable UTF-8 from ``surrogateescape``) become ``\\xNN`` with
    the original byte value, C0/C1/DEL become ``\\xNN``, and every other character that
    ``str.isprintable()`` rejects (format characters such as bidi overrides and zero-width
    joiners, private-use and unassigned code points, non-ASCII spaces, line separators)
    becomes ``\\uNNNN``. The result always satisfies ``isprintable()``. Characters listed in
    ``extra`` are escaped too (the walker escapes the provenance separator ``!`` in names).

    >>> escape_text("a\\u202eb")
    'a\\\\u202eb'
    >>> escape_text("x!y", extra="!")
    'x\\\\x21y'
    """
    if text.isascii() and text.isprintable() and not any(ch in text for ch in extra):
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            # surrogateescape stores byte 0xNN as U+DCNN: show the byte.
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F or ch in extra:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def name_bytes(name: str) -> bytes:
    """The name as the bytes stored in the archive (lossless for surrogate-escaped names)."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Lone surrogates that did not come from surrogateescape (e.g. from a PAX header).
        return name.encode("utf-8", "surrogatepass")


def display_name(name: str) -> str:
    """Escaped member name for provenance strings; ``!`` is escaped so a name cannot fake a
    nesting level, very long names are shortened. A secret in a name (``...?sig=...``) is
    redacted first, before anything is cut."""
    shown = escape_text(redact_text(name), extra="!")
    if len(shown) > _DISPLAY_NAME_MAX:
        shown = f"{shown[:_DISPLAY_NAME_MAX]}...({len(name_bytes(name))} bytes)"
    return shown


@dataclass(frozen=True)
class MemberName:
    """A checked member name.

    ``display`` is what goes into provenance; ``logical_path`` is escaped as well, so both are
    safe to print. ``reject`` is set when the member must be skipped (the walker reports it as a
    problem); ``warnings`` are reported but the member is still read as data.
    """

    raw: str
    display: str
    logical_path: str
    rooted: bool
    """The logical path starts at a known VM root (``var/``, ``etc/``, ``run/``) or is a file
    the log collector writes at its archive root (``results.txt``, ``truncated_*``)."""
    collector_truncated: bool = False
    warnings: tuple[str, ...] = ()
    reject: str | None = None


def parse_name(raw: str, limits: Limits, *, backslash_separator: bool = False) -> MemberName:
    """Validate ``raw`` and compute its logical path.

    ``backslash_separator`` is set for zip entries: zip names use ``/`` by specification and a
    ``\\`` there comes from Windows tools (``..\\..\\evil.bat``). Tar names keep ``\\`` as an
    ordinary character, as Linux does.

    >>> n = parse_name("/etc/waagent.conf", Limits())
    >>> (n.logical_path, n.warnings)
    ('etc/waagent.conf', ('unsafe path (absolute path)',))
    >>> parse_name("a\\x00b", Limits()).reject
    'skipped: member name contains NUL'
    """
    display = display_name(raw)
    encoded_len = len(name_bytes(raw))
    reject: str | None = None
    if "\x00" in raw:
        reject = "skipped: member name contains NUL"
    elif encoded_len > limits.max_name_bytes:
        reject = (
            f"skipped: member name too long ({encoded_len} bytes, limit {limits.max_name_bytes})"
        )
    else:
        components = len([p for p in raw.split("/") if p])
        if components > limits.max_name_components:
            reject = (
                f"skipped: member name has too many components ({components}, "
                f"limit {limits.max_name_components})"
            )
    if reject is not None:
        return MemberName(raw, display, "", rooted=False, reject=reject)

    logical, rooted, truncated, warnings = normalise_path(raw, backslash_separator)
    if not logical:
        return MemberName(raw, display, "", rooted=False, reject="skipped: empty member name")
    return MemberName(
        raw,
        display,
        escape_text(logical),
        rooted=rooted,
        collector_truncated=truncated,
        warnings=warnings,
    )


def normalise_path(
    raw: str, backslash_separator: bool = False
) -> tuple[str, bool, bool, tuple[str, ...]]:
    """Return ``(logical_path, rooted, collector_truncated, warnings)`` for a raw name.

    The logical path is *not* escaped here (``parse_name`` does it).

    >>> normalise_path("case-1234/var/log/waagent.log")[0]
    'var/log/waagent.log'
    >>> normalise_path("GoalState.3.xml")[:2]
    ('GoalState.3.xml', False)
    """
    warnings: list[str] = []
    text = raw.replace("\\", "/") if backslash_separator else raw
    if not backslash_separator and "\\" in raw and _WINDOWS_BACKSLASH_PATH.match(raw):
        text = raw.replace("\\", "/")
    if _DRIVE.match(text):
        # "C:/x" and the drive-relative "C:x" both leave a relative destination on Windows.
        warnings.append("unsafe path (absolute path)")
        text = text[2:]
    elif text.startswith("/"):
        warnings.append("unsafe path (absolute path)")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        warnings.append("unsafe path (parent reference)")
        # Nothing is ever extracted, so ".." has no effect; drop it so the rest of the name
        # still says which file this is.
        parts = [p for p in parts if p != ".."]
    if not parts:
        return "", False, False, tuple(warnings)

    # A single case folder in front of a VM tree ("case-1234/var/log/...") or in front of the
    # collector's root files ("logs/results.txt") is not part of the VM path.
    if (len(parts) >= 2 and parts[0] not in VM_ROOTS
            and parts[0].casefold() not in WINDOWS_ROOTS and _starts_at_root(parts[1:])):
        parts = parts[1:]

    truncated = False
    if len(parts) == 1 and parts[0].startswith(TRUNCATED_PREFIX):
        mapped = _map_collector_name(parts[0][len(TRUNCATED_PREFIX) :])
        if mapped:
            parts = mapped.split("/")
            truncated = True
    rooted = _starts_at_root(parts) or truncated
    return "/".join(parts), rooted, truncated, tuple(warnings)


def _starts_at_root(parts: list[str]) -> bool:
    if len(parts) >= 2 and (parts[0] in VM_ROOTS or parts[0].casefold() in WINDOWS_ROOTS):
        return True
    return len(parts) == 1 and (
        parts[0] in COLLECTOR_ROOT_FILES or parts[0].startswith(TRUNCATED_PREFIX)
    )


_VERSION_DIR = re.compile(r"^(\d+(?:\.\d+)+)_(.+)$")
_HANDLER_SUBDIR = re.compile(r"^(.+-\d+(?:\.\d+)+)_(config|status)_(.+)$")


def _map_collector_name(flat: str) -> str:
    """Undo the collector's ``/`` -> ``_`` flattening for the directories it collects from.

    The mapping is ambiguous in general (file names contain ``_`` too), so only the known
    directory prefixes are turned back into folders.

    >>> _map_collector_name("var_log_waagent.log")
    'var/log/waagent.log'
    >>> _map_collector_name("var_log_azure_Microsoft.Azure.Extensions.CustomScript_handler.log")
    'var/log/azure/Microsoft.Azure.Extensions.CustomScript/handler.log'
    """
    if flat.startswith("var_log_azure_"):
        rest = flat[len("var_log_azure_") :]
        handler, sep, tail = rest.partition("_")
        if not sep:
            return f"var/log/azure/{rest}"
        versioned = _VERSION_DIR.match(tail)
        if versioned:
            tail = f"{versioned.group(1)}/{versioned.group(2)}"
        return f"var/log/azure/{handler}/{tail}"
    if flat.startswith("var_log_"):
        return "var/log/" + flat[len("var_log_") :]
    if flat.startswith("var_lib_waagent_"):
        rest = flat[len("var_lib_waagent_") :]
        sub = _HANDLER_SUBDIR.match(rest)
        if sub:
            rest = f"{sub.group(1)}/{sub.group(2)}/{sub.group(3)}"
        return "var/lib/waagent/" + rest
    if flat.startswith("etc_"):
        return "etc/" + flat[len("etc_") :]
    return flat
