"""Build a redacted ``bundle.tar.gz`` from a live VM, safe to attach to a support ticket.

It takes the same files the agent's own log collector takes in its *normal* mode (see
``NORMAL_MANIFEST``), adds ``self-check.json`` at the archive root, and never lets a secret in:

* certificate and key files, ``ovf-env.xml``, ``CustomData`` and RemoteAccess documents are
  never read, whatever pattern matched them (``secret_file_reason``);
* ``protectedSettings`` is deleted from JSON settings and masked in XML/text;
* every text file goes through ``analyzer.redact`` (SAS tokens, passwords, PEM blocks);
* the result is scanned again (``surviving_secret``); a file in which anything still looks
  like a secret is dropped instead of shipped (fail closed);
* files that cannot be redacted (binary, unknown archives) are skipped.

Reading is defensive too: paths are opened component by component with ``O_NOFOLLOW`` from a
directory descriptor of ``root``, so no symbolic link is ever followed (not even one swapped in
while we run), only regular files are read (FIFOs and devices are skipped, never opened for
blocking reads), and sizes are capped like the agent's collector does (30 MB per file, logs
keep their tail; 150 MB in total).

The tarball is deterministic for the same input: sorted names without a leading ``/``,
uid/gid 0, no user names, mode 0644, gzip header without name or time.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import gzip
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from analyzer.bundle.specs import DHCP_LEASE_GLOBS, secret_reason
from analyzer.safe_open import UnsafePath, list_under, lstat_under, open_under

MiB = 1024 * 1024
SELF_CHECK_NAME = "self-check.json"
DEFAULT_BUNDLE_NAME = "bundle.tar.gz"


@dataclass(frozen=True)
class CollectLimits:
    max_file_bytes: int = 30 * MiB
    """Per file, like the agent's collector: bigger logs keep their tail, others are skipped."""
    max_total_bytes: int = 150 * MiB
    """Uncompressed bytes in the archive; files past it are skipped (lowest priority last)."""
    max_files: int = 5000
    max_gzip_bytes: int = 512 * MiB
    """Decompressed bytes read from one rotated ``.gz`` log before it is given up on."""
    max_zip_entries: int = 500
    max_zip_bytes: int = 64 * MiB
    """Decompressed bytes read from one goal-state history zip."""


DEFAULT_COLLECT_LIMITS = CollectLimits()


@dataclass(frozen=True)
class ManifestEntry:
    pattern: str
    """Path under root; each component may use ``*``/``?``/``[]`` wildcards."""
    priority: int
    """Lower goes first when the total size budget runs out."""
    rotated: bool = False
    """Subject to ``since_days`` (old rotated logs and archived goal states)."""
    log: bool = False
    """Log files are tail-truncated when too big instead of skipped."""


NORMAL_MANIFEST: tuple[ManifestEntry, ...] = (
    ManifestEntry("etc/waagent.conf", 0),
    ManifestEntry("etc/*-release", 0),
    ManifestEntry("etc/azure/vmbackup.conf", 0),
    ManifestEntry("var/lib/waagent/*.xml", 0),
    ManifestEntry("var/lib/waagent/*.agentsManifest", 0),
    ManifestEntry("var/lib/waagent/waagent_status.json", 0),
    ManifestEntry("var/lib/waagent/waagent_status.*.json", 0),
    ManifestEntry("var/lib/waagent/VmSettings.*.json", 0),
    ManifestEntry("var/lib/waagent/error.json", 0),
    ManifestEntry("var/lib/waagent/*/error.json", 0),
    ManifestEntry("var/lib/waagent/*/status/*.status", 0),
    ManifestEntry("var/lib/waagent/*/config/*.settings", 0),
    ManifestEntry("var/lib/waagent/*/config/*HandlerState", 0),
    ManifestEntry("var/lib/waagent/*/config/*HandlerStatus", 0),
    *(ManifestEntry(pattern, 0) for pattern in DHCP_LEASE_GLOBS),
    ManifestEntry("var/log/waagent.log", 1, log=True),
    ManifestEntry("var/lib/waagent/history/*/*", 1),
    ManifestEntry("var/log/azure/*/*", 2, log=True),
    ManifestEntry("var/log/azure/*/*/*", 2, log=True),
    ManifestEntry("var/lib/waagent/history/*.zip", 3, rotated=True),
    ManifestEntry("var/log/waagent.log.*", 4, rotated=True, log=True),
)
"""The agent's normal manifest (HEAD) plus the top-level cache files its 2.2.53-2.7 manifest
took and the newest unzipped goal-state history folder. Unlike the agent we leave out
syslog/dmesg/auth (not needed for the rules, full of unrelated data) and ovf-env.xml (secret)."""

_ROTATED_NAME = re.compile(r"(\.\d+|\.gz|\.xz|\.bz2|\.zip|-\d{8,}|-\d{4}-\d{2}-\d{2}[-\d]*)$")
_JSON_SUFFIXES = (".json", ".settings", ".status", "HandlerStatus")


def secret_file_reason(name: str) -> str | None:
    """Why a file must never be read, or None when it may be: the bundle classifier's own
    predicate (``bundle.specs.secret_reason``), so what collect leaves out and what analyze
    refuses to read are the same files."""
    return secret_reason(name)


# -- redaction --------------------------------------------------------------------------------

_PROTECTED_TEXT = re.compile(
    r"((?:\"|&quot;|\\\")protectedSettings(?:\"|&quot;|\\\")\s*:\s*(?:\"|&quot;|\\\"))"
    r"([^\"&\\<]*)"
)
_SURVIVORS = (
    ("private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?!<redacted>)")),
    ("SAS signature", re.compile(r"(?i)[?&;]sig=(?!<redacted>)[A-Za-z0-9%+/=]{8,}")),
    (
        "protectedSettings",
        re.compile(
            r"protectedSettings(?:\"|&quot;|\\\")?\s*[:=]\s*(?:\"|&quot;|\\\")?"
            r"(?!<redacted>)[A-Za-z0-9+/]{16,}"
        ),
    ),
    ("password", re.compile(r"(?i)<(?:[\w-]+:)?UserPassword>(?!<redacted>)[^<\s]")),
)


def surviving_secret(text: str) -> str | None:
    """Name of the first secret still visible in redacted ``text`` (None if clean)."""
    for label, pattern in _SURVIVORS:
        if pattern.search(text):
            return label
    return None


def _redactor() -> Any:
    # Imported here so the rest of the live package works while redact.py evolves.
    from analyzer import redact

    return redact


@dataclass
class _Redacted:
    data: bytes
    notes: list[str] = field(default_factory=list)


def _drop_protected(obj: Any) -> int:
    """Delete every ``protectedSettings`` key in place; returns how many were removed."""
    removed = 0
    if isinstance(obj, dict):
        for key in [k for k in obj if isinstance(k, str) and k.lower() == "protectedsettings"]:
            del obj[key]
            removed += 1
        for value in obj.values():
            removed += _drop_protected(value)
    elif isinstance(obj, list):
        for value in obj:
            removed += _drop_protected(value)
    return removed


def redact_content(name: str, data: bytes) -> _Redacted:
    """Redact one text file; raises ``_Unsafe`` when it cannot be made safe."""
    if b"\0" in data[:8192]:
        raise _Unsafe("binary file (cannot be redacted)")
    text = data.decode("utf-8", "surrogateescape")
    notes: list[str] = []
    if name.endswith(_JSON_SUFFIXES):
        redone = _redact_json(text, notes)
        if redone is not None:
            return _finish(redone, notes)
    text, count = _PROTECTED_TEXT.subn(r"\1<redacted>", text)
    if count:
        notes.append("protectedSettings removed")
    redacted = _redactor().redact_text(text)
    if redacted != text:
        notes.append("secrets masked")
    return _finish(redacted, notes)


def _redact_json(text: str, notes: list[str]) -> str | None:
    try:
        obj = json.loads(text.lstrip("\ufeff"))
    except ValueError:
        return None  # not JSON after all: the text path still redacts it
    removed = _drop_protected(obj)
    if removed:
        notes.append("protectedSettings removed")
    cleaned = _redactor().redact_obj(obj)
    if cleaned != obj:
        notes.append("secrets masked")
    if not removed and cleaned == obj:
        # Keep the original bytes (and line layout) when nothing needed to change.
        redacted: str = _redactor().redact_text(text)
        if redacted != text:
            notes.append("secrets masked")
        return redacted
    return json.dumps(cleaned, ensure_ascii=False, separators=(", ", ": "))


def _finish(text: str, notes: list[str]) -> _Redacted:
    leftover = surviving_secret(text)
    if leftover:
        raise _Unsafe(f"{leftover} still visible after redaction; file left out")
    return _Redacted(text.encode("utf-8", "surrogateescape"), notes)


class _Unsafe(Exception):
    """The file cannot be shipped safely; the message is the reason shown to the user."""


# -- summary ----------------------------------------------------------------------------------


@dataclass
class CollectEntry:
    path: str
    detail: str


@dataclass
class CollectSummary:
    output: Path
    included: list[CollectEntry] = field(default_factory=list)
    skipped: list[CollectEntry] = field(default_factory=list)
    redacted: list[CollectEntry] = field(default_factory=list)
    total_bytes: int = 0
    """Uncompressed bytes stored in the archive."""


# -- safe file access -------------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = (
    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
)


@dataclass
class _Candidate:
    path: str
    """Relative to root, ``/``-separated, as stored in the archive."""
    size: int
    mtime: float
    entry: ManifestEntry


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _reason(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


class _Tree:
    """Pattern expansion and file opening under ``root``, all through ``safe_open`` (the
    same no-link policy as ``self-check`` and the walker)."""

    def __init__(self, root: Path, skipped: list[CollectEntry]) -> None:
        self.root = str(root)
        self.skipped = skipped

    def expand(self, entry: ManifestEntry) -> Iterator[_Candidate]:
        yield from self._expand("", entry.pattern.split("/"), entry)

    def _expand(self, prefix: str, parts: list[str], entry: ManifestEntry) -> Iterator[_Candidate]:
        part, rest = parts[0], parts[1:]
        for name in self._names(prefix, part):
            path = f"{prefix}{name}"
            try:
                info = lstat_under(self.root, path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.skipped.append(CollectEntry(path, _reason(exc)))
                continue
            if rest:
                if stat.S_ISDIR(info.st_mode):
                    yield from self._expand(path + "/", rest, entry)
                elif stat.S_ISLNK(info.st_mode):
                    self.skipped.append(CollectEntry(path, "symbolic link (not followed)"))
                continue
            if stat.S_ISREG(info.st_mode):
                yield _Candidate(path, info.st_size, info.st_mtime, entry)
            elif not stat.S_ISDIR(info.st_mode):
                self.skipped.append(CollectEntry(path, f"{_kind_of(info.st_mode)} (not read)"))

    def _names(self, prefix: str, part: str) -> list[str]:
        if not any(c in part for c in "*?["):
            return [part]
        try:
            listing = list_under(self.root, prefix.rstrip("/"))
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.skipped.append(CollectEntry(prefix.rstrip("/") or "/", _reason(exc)))
            return []
        # Like glob: wildcards do not match hidden names (our own temp files are hidden too).
        return [n for n, _kind in listing if fnmatch.fnmatchcase(n, part) and not n.startswith(".")]

    def open(self, path: str) -> int:
        """Descriptor of a regular file, every component opened with O_NOFOLLOW."""
        try:
            return open_under(self.root, path)
        except UnsafePath as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, "symbolic link (not followed)") from exc
            try:
                mode = lstat_under(self.root, path).st_mode
            except OSError:
                raise exc from None
            raise OSError(errno.EINVAL, f"{_kind_of(mode)} (not read)") from exc


def _read_fd(fd: int, start: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    offset, left = start, limit
    while left > 0:
        chunk = os.pread(fd, min(left, MiB), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _drop_partial_first_line(data: bytes) -> bytes:
    cut = data.find(b"\n")
    return data[cut + 1 :] if cut >= 0 else data


# -- per-file processing ----------------------------------------------------------------------


@dataclass
class _Processed:
    data: bytes
    detail: str
    notes: list[str]


def _process_file(fd: int, cand: _Candidate, limits: CollectLimits) -> _Processed:
    size = os.fstat(fd).st_size
    name = cand.path.rsplit("/", 1)[-1]
    lower = name.lower()
    if lower.endswith(".gz"):
        return _process_gzip(fd, cand, size, limits)
    if lower.endswith(".zip"):
        if cand.entry.pattern.endswith("history/*.zip"):
            if size > limits.max_file_bytes:
                raise _Unsafe(f"too big ({size} bytes > {limits.max_file_bytes})")
            data, notes = _rebuild_history_zip(_read_fd(fd, 0, size), cand.path, limits)
            return _Processed(data, f"{len(data)} bytes", notes)
        raise _Unsafe("archive (cannot be redacted)")
    if lower.endswith((".xz", ".bz2", ".tgz", ".tar", ".7z")):
        raise _Unsafe("archive (cannot be redacted)")
    detail = f"{size} bytes"
    if size > limits.max_file_bytes:
        if not cand.entry.log:
            raise _Unsafe(f"too big ({size} bytes > {limits.max_file_bytes})")
        raw = _drop_partial_first_line(
            _read_fd(fd, size - limits.max_file_bytes, limits.max_file_bytes)
        )
        detail = f"last {len(raw)} of {size} bytes kept"
    else:
        raw = _read_fd(fd, 0, size)
    red = redact_content(name, raw)
    return _Processed(red.data, detail, red.notes)


def _process_gzip(fd: int, cand: _Candidate, size: int, limits: CollectLimits) -> _Processed:
    """Rotated ``.gz`` logs are decompressed, redacted and stored recompressed."""
    if size > limits.max_file_bytes:
        raise _Unsafe(f"too big ({size} bytes > {limits.max_file_bytes})")
    compressed = _read_fd(fd, 0, size)
    try:
        text, total = _gunzip_tail(compressed, limits)
    except (OSError, EOFError, zlib.error) as exc:
        raise _Unsafe(f"bad gzip data ({exc})") from exc
    detail = f"{size} bytes"
    if total > len(text):
        detail = f"last {len(text)} of {total} uncompressed bytes kept"
    red = redact_content(cand.path[: -len(".gz")], text)
    return _Processed(_gzip_bytes(red.data), detail, red.notes)


def _gunzip_tail(compressed: bytes, limits: CollectLimits) -> tuple[bytes, int]:
    """Uncompressed tail (at most ``max_file_bytes``) and the total uncompressed size."""
    keep = limits.max_file_bytes
    tail = b""
    total = 0
    with gzip.GzipFile(fileobj=io.BytesIO(compressed), mode="rb") as stream:
        while True:
            chunk = stream.read(MiB)
            if not chunk:
                break
            total += len(chunk)
            if total > limits.max_gzip_bytes:
                raise _Unsafe(f"decompresses to more than {limits.max_gzip_bytes} bytes")
            tail = (tail + chunk)[-keep:]
    if total > keep:
        tail = _drop_partial_first_line(tail)
    return tail, total


def _gzip_bytes(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as stream:
        stream.write(data)
    return out.getvalue()


def _rebuild_history_zip(data: bytes, path: str, limits: CollectLimits) -> tuple[bytes, list[str]]:
    """Copy a goal-state history zip member by member, dropping and redacting like files.

    The zip is read by the bundle walker, with every check ``analyze`` makes (structure,
    overlaps, prepended data, names, links, CRC, byte and entry budgets); no nested archive is
    opened. A zip the walker refuses, or one that does not fit the limits, is left out whole."""
    from analyzer.bundle.model import SourceKind
    from analyzer.bundle.walker import walk_bytes
    from analyzer.errors import BundleError, InputRejected, Problem
    from analyzer.settings import Limits

    walk_limits = Limits(
        max_input_bytes=max(len(data), 1),
        max_total_bytes=limits.max_zip_bytes,
        max_member_bytes=limits.max_file_bytes,
        max_xml_bytes=limits.max_file_bytes,
        max_nested_bytes=limits.max_file_bytes,
        max_entries=limits.max_zip_entries,
        max_members_read=limits.max_zip_entries,
        max_depth=1,
    )
    problems: list[Problem] = []
    notes: list[str] = []
    out = io.BytesIO()
    name = path.rsplit("/", 1)[-1]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        try:
            for member in walk_bytes(data, name, walk_limits, problems):
                inner = member.provenance.split("!", 1)[-1]
                if member.kind == SourceKind.SECRET:
                    notes.append(f"{inner} left out: {secret_reason(inner)}")
                    continue
                if member.kind == SourceKind.ARCHIVE or member.opener is None:
                    notes.append(f"{inner} left out: nested archive")
                    continue
                try:
                    with member.open() as stream:
                        content = stream.read()
                except BundleError as exc:
                    notes.append(f"{inner} left out: unreadable ({exc})")
                    continue
                if member.problems:
                    notes.append(f"{inner} left out: {member.problems[0]}")
                    continue
                try:
                    red = redact_content(inner, content)
                except _Unsafe as exc:
                    notes.append(f"{inner} left out: {exc}")
                    continue
                notes.extend(f"{inner}: {note}" for note in red.notes)
                clean = zipfile.ZipInfo(member.logical_path, date_time=_zip_time(member.mtime))
                clean.compress_type = zipfile.ZIP_DEFLATED
                clean.external_attr = 0o100644 << 16
                clean.create_system = 3
                target.writestr(clean, red.data)
        except InputRejected as exc:
            raise _Unsafe(f"bad zip file ({exc})") from None
    for problem in problems:
        if problem.message.startswith(("stopped:", "rejected:")):
            raise _Unsafe(f"zip left out: {problem.message}")
        inner = problem.member.split("!", 1)[-1]
        note = f"{inner} left out: {problem.message}"
        if note not in notes and not any(n.startswith(f"{inner} left out") for n in notes):
            notes.append(note)
    return out.getvalue(), notes


def _zip_time(mtime: float | None) -> tuple[int, int, int, int, int, int]:
    import datetime

    if mtime is None:
        return (1980, 1, 1, 0, 0, 0)
    stamp = datetime.datetime.fromtimestamp(mtime, datetime.UTC)
    return (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)


# -- the collector ----------------------------------------------------------------------------


@dataclass
class _Stored:
    name: str
    mtime: int
    offset: int
    size: int


ARCHIVE_SUFFIXES = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".zip": "zip"}
"""Output names ``collect`` can write, and the format each one means."""


def archive_format(output: Path) -> str:
    """``tar.gz`` or ``zip`` as the output's name says (a folder gets ``bundle.tar.gz``);
    ValueError for a name whose format we cannot write, before any work."""
    if Path(output).is_dir():
        return "tar.gz"
    name = Path(output).name.lower()
    for suffix, fmt in ARCHIVE_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    raise ValueError(f"{output}: cannot tell the archive format from the name; "
                     f"end it with {', '.join(ARCHIVE_SUFFIXES)}")


def collect(
    root: Path,
    output: Path,
    *,
    since_days: int | None,
    self_check_json: bytes | None,
    limits: CollectLimits = DEFAULT_COLLECT_LIMITS,
    now: float | None = None,
) -> CollectSummary:
    """Write the redacted bundle to ``output`` (a ``.tar.gz`` path or an existing directory,
    which gets ``bundle.tar.gz``) and say what went in, what was redacted and what was left out.

    ``since_days`` leaves out rotated logs and archived goal states not modified in that many
    days; current files are always taken.
    """
    now = time.time() if now is None else now
    fmt = archive_format(output)
    target = Path(output) / DEFAULT_BUNDLE_NAME if Path(output).is_dir() else Path(output)
    summary = CollectSummary(output=target)
    os.close(open_under(root, "", directory=True))  # the root must be a readable folder
    with tempfile.TemporaryFile() as spool:
        tree = _Tree(root, summary.skipped)
        stored = _gather(tree, spool, summary, since_days, limits, now)
        if self_check_json is not None:
            data = _clean_self_check(self_check_json)
            stored.append(_spool(spool, SELF_CHECK_NAME, int(now), data))
            summary.total_bytes += len(data)
            summary.included.append(CollectEntry(SELF_CHECK_NAME, f"{len(data)} bytes"))
        if fmt == "zip":
            _write_zip(target, spool, stored)
        else:
            _write_tarball(target, spool, stored)
    return summary


def _gather(
    tree: _Tree,
    spool: BinaryIO,
    summary: CollectSummary,
    since_days: int | None,
    limits: CollectLimits,
    now: float,
) -> list[_Stored]:
    candidates = _candidates(tree, summary)
    stored: list[_Stored] = []
    cutoff = None if since_days is None else now - since_days * 86400
    for cand in candidates:
        if cutoff is not None and _is_rotated(cand) and cand.mtime < cutoff:
            summary.skipped.append(
                CollectEntry(cand.path, f"older than {since_days} days (--since)")
            )
            continue
        if len(stored) >= limits.max_files:
            summary.skipped.append(
                CollectEntry(cand.path, f"file count limit ({limits.max_files})")
            )
            continue
        if summary.total_bytes >= limits.max_total_bytes:
            summary.skipped.append(CollectEntry(cand.path, "archive size limit reached"))
            continue
        processed = _process_candidate(tree, cand, limits, summary)
        if processed is None:
            continue
        if summary.total_bytes + len(processed.data) > limits.max_total_bytes:
            summary.skipped.append(CollectEntry(cand.path, "archive size limit reached"))
            continue
        # A secret in a file name (``api_key=...log``) is redacted in the archive too.
        stored.append(
            _spool(spool, _redactor().redact_text(cand.path), int(max(0, cand.mtime)),
                   processed.data)
        )
        summary.total_bytes += len(processed.data)
        summary.included.append(CollectEntry(cand.path, processed.detail))
        if processed.notes:
            summary.redacted.append(CollectEntry(cand.path, "; ".join(processed.notes)))
    return stored


def _candidates(tree: _Tree, summary: CollectSummary) -> list[_Candidate]:
    seen: set[str] = set()
    found: list[_Candidate] = []
    for entry in NORMAL_MANIFEST:
        for cand in tree.expand(entry):
            if cand.path in seen:
                continue
            seen.add(cand.path)
            reason = secret_file_reason(cand.path)
            if reason is not None:
                summary.skipped.append(CollectEntry(cand.path, f"secret: {reason} (never read)"))
                continue
            found.append(cand)
    # Highest priority first; inside a priority the newest rotated files first, then by name.
    found.sort(key=lambda c: (c.entry.priority, -c.mtime if _is_rotated(c) else 0.0, c.path))
    return found


def _is_rotated(cand: _Candidate) -> bool:
    return cand.entry.rotated or bool(
        cand.entry.log and _ROTATED_NAME.search(cand.path.rsplit("/", 1)[-1])
    )


def _process_candidate(
    tree: _Tree, cand: _Candidate, limits: CollectLimits, summary: CollectSummary
) -> _Processed | None:
    try:
        fd = tree.open(cand.path)
    except OSError as exc:
        summary.skipped.append(CollectEntry(cand.path, exc.strerror or str(exc)))
        return None
    try:
        return _process_file(fd, cand, limits)
    except _Unsafe as exc:
        summary.skipped.append(CollectEntry(cand.path, str(exc)))
        return None
    except OSError as exc:
        summary.skipped.append(CollectEntry(cand.path, _reason(exc)))
        return None
    finally:
        os.close(fd)


def _clean_self_check(data: bytes) -> bytes:
    """The self-check is our own JSON, but it echoes VM strings: redact it like the rest."""
    try:
        obj = json.loads(data)
    except ValueError:
        return redact_content(SELF_CHECK_NAME, data).data
    cleaned = _redactor().redact_obj(obj)
    return json.dumps(cleaned, indent=2, sort_keys=True, ensure_ascii=True).encode("ascii")


def _spool(spool: BinaryIO, name: str, mtime: int, data: bytes) -> _Stored:
    spool.seek(0, os.SEEK_END)
    offset = spool.tell()
    spool.write(data)
    return _Stored(name, mtime, offset, len(data))


class _Slice(io.RawIOBase):
    """Reads ``size`` bytes of the spool file from ``offset`` (for ``TarFile.addfile``)."""

    def __init__(self, spool: BinaryIO, offset: int, size: int) -> None:
        self.spool, self.pos, self.end = spool, offset, offset + size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self.end - self.pos
        n = left if n is None or n < 0 else min(n, left)
        self.spool.seek(self.pos)
        data = self.spool.read(n)
        self.pos += len(data)
        return data


def _write_tarball(target: Path, spool: BinaryIO, stored: list[_Stored]) -> None:
    """Write atomically: a hidden temp file next to the target, then rename over it."""
    fd, temp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp", dir=target.parent)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
            tarfile.open(
                fileobj=gz,
                mode="w",
                format=tarfile.GNU_FORMAT,
                encoding="utf-8",
                errors="surrogateescape",
            ) as tar,
        ):
            for item in sorted(stored, key=lambda s: s.name):
                tar.addfile(_tar_info(item), _Slice(spool, item.offset, item.size))
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def _write_zip(target: Path, spool: BinaryIO, stored: list[_Stored]) -> None:
    """The same members as a deflated zip, written atomically like the tarball."""
    fd, temp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as out:
            for item in sorted(stored, key=lambda s: s.name):
                info = zipfile.ZipInfo(item.name.lstrip("/"), date_time=_zip_time(item.mtime))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with out.open(info, "w") as member:
                    shutil.copyfileobj(_Slice(spool, item.offset, item.size), member)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise


def _tar_info(item: _Stored) -> tarfile.TarInfo:
    info = tarfile.TarInfo(item.name.lstrip("/"))
    info.size = item.size
    info.mtime = item.mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def iter_archive_names(path: Path) -> Iterator[str]:
    """Names stored in a bundle written by ``collect`` (used by tests and the CLI listing)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from archive.namelist()
        return
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            yield member.name
