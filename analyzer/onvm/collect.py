"""The redacted bundle (``bundle.tar.gz``) the full tool's ``collect`` writes (Python 3.6+).

Same manifest (the agent's collector in its normal mode, minus syslog/dmesg and secrets), same
rules: certificate and key files, ``ovf-env.xml``, ``CustomData``, RemoteAccess and managed
identity documents are never read; ``protectedSettings`` is deleted from JSON and masked in
text; every text file is redacted, scanned again, and dropped when a secret still shows (fail
closed); binaries and unknown archives are skipped. Paths are opened component by component
without following links (``analyzer.safe_open``); only regular files are read; sizes are capped
(30 MB per file, logs keep their tail; 150 MB in total). The archive is deterministic: sorted
names, uid/gid 0, mode 0644, gzip header without name or time. ``self-check.json`` is at its
root. The tarball is written to a hidden temporary file next to the target, then renamed.
"""

import datetime
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
from typing import Any, Dict  # noqa: F401  (type comments)

from analyzer import safe_open
from analyzer.onvm.specs import DHCP_LEASE_GLOBS, secret_reason

MiB = 1024 * 1024
SELF_CHECK_NAME = "self-check.json"
DEFAULT_BUNDLE_NAME = "bundle.tar.gz"
LIMITS = {
    "max_file_bytes": 30 * MiB,
    "max_total_bytes": 150 * MiB,
    "max_files": 5000,
    "max_gzip_bytes": 512 * MiB,
    "max_zip_entries": 500,
    "max_zip_bytes": 64 * MiB,
}
"""Per file like the agent's collector (bigger logs keep their tail, others are skipped);
uncompressed bytes and files in the archive; decompressed bytes read from one rotated ``.gz``
log; entries and decompressed bytes of one goal-state history zip."""

# (pattern, priority, rotated, log): lower priority goes first when the size budget runs out;
# ``rotated`` files are subject to ``since_days``; ``log`` files keep their tail when too big.
MANIFEST = (
    ("etc/waagent.conf", 0, False, False),
    ("etc/*-release", 0, False, False),
    ("etc/azure/vmbackup.conf", 0, False, False),
    ("var/lib/waagent/*.xml", 0, False, False),
    ("var/lib/waagent/*.agentsManifest", 0, False, False),
    ("var/lib/waagent/waagent_status.json", 0, False, False),
    ("var/lib/waagent/waagent_status.*.json", 0, False, False),
    ("var/lib/waagent/VmSettings.*.json", 0, False, False),
    ("var/lib/waagent/error.json", 0, False, False),
    ("var/lib/waagent/*/error.json", 0, False, False),
    ("var/lib/waagent/*/status/*.status", 0, False, False),
    ("var/lib/waagent/*/config/*.settings", 0, False, False),
    ("var/lib/waagent/*/config/*HandlerState", 0, False, False),
    ("var/lib/waagent/*/config/*HandlerStatus", 0, False, False),
) + tuple((pattern, 0, False, False) for pattern in DHCP_LEASE_GLOBS) + (
    ("var/log/waagent.log", 1, False, True),
    ("var/lib/waagent/history/*/*", 1, False, False),
    ("var/log/azure/*/*", 2, False, True),
    ("var/log/azure/*/*/*", 2, False, True),
    ("var/lib/waagent/history/*.zip", 3, True, False),
    ("var/log/waagent.log.*", 4, True, True),
)
"""The agent's normal manifest (HEAD) plus the top-level cache files its 2.2.53-2.7 manifest
took and the newest unzipped goal-state history folder. Unlike the agent we leave out
syslog/dmesg/auth (not needed for the rules, full of unrelated data) and ovf-env.xml (secret)."""

_ROTATED_NAME = re.compile(r"(\.\d+|\.gz|\.xz|\.bz2|\.zip|-\d{8,}|-\d{4}-\d{2}-\d{2}[-\d]*)$")
_JSON_SUFFIXES = (".json", ".settings", ".status", "HandlerStatus")
_PROTECTED_TEXT = re.compile(
    r"((?:\"|&quot;|\\\")protectedSettings(?:\"|&quot;|\\\")\s*:\s*(?:\"|&quot;|\\\"))"
    r"([^\"&\\<]*)")
_SURVIVORS = (
    ("private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?!<redacted>)")),
    ("SAS signature", re.compile(r"(?i)[?&;]sig=(?!<redacted>)[A-Za-z0-9%+/=]{8,}")),
    ("protectedSettings", re.compile(
        r"protectedSettings(?:\"|&quot;|\\\")?\s*[:=]\s*(?:\"|&quot;|\\\")?"
        r"(?!<redacted>)[A-Za-z0-9+/]{16,}")),
    ("password", re.compile(r"(?i)<(?:[\w-]+:)?UserPassword>(?!<redacted>)[^<\s]")),
)


def secret_file_reason(name):
    # type: (str) -> Any
    """Why a file must never be read, or None when it may be: the bundle classifier's own
    predicate (``specs.secret_reason``), so what collect leaves out and what analyze refuses
    to read are the same files."""
    return secret_reason(name)


class Unsafe(Exception):
    """The file cannot be shipped safely; the message is the reason shown to the user."""


def _default_redactor():
    # type: () -> Any
    from analyzer.onvm import redact

    return redact


def surviving_secret(text):
    # type: (str) -> Any
    """Name of the first secret still visible in redacted ``text`` (None if clean)."""
    for label, pattern in _SURVIVORS:
        if pattern.search(text):
            return label
    return None


def _drop_protected(obj):
    # type: (Any) -> int
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


def redact_content(name, data, redactor=None):
    # type: (str, bytes, Any) -> tuple
    """(redacted bytes, notes) of one text file; raises Unsafe when it cannot be made safe.
    ``redactor`` has ``redact_text``/``redact_obj`` (default: the zipapp's)."""
    redactor = redactor or _default_redactor()
    if b"\0" in data[:8192]:
        raise Unsafe("binary file (cannot be redacted)")
    text = data.decode("utf-8", "surrogateescape")
    notes = []  # type: list
    if name.endswith(_JSON_SUFFIXES):
        redone = _redact_json(text, notes, redactor)
        if redone is not None:
            return _finish(redone, notes)
    text, count = _PROTECTED_TEXT.subn(r"\1<redacted>", text)
    if count:
        notes.append("protectedSettings removed")
    redacted = redactor.redact_text(text)
    if redacted != text:
        notes.append("secrets masked")
    return _finish(redacted, notes)


def _redact_json(text, notes, redactor):
    # type: (str, list, Any) -> Any
    try:
        obj = json.loads(text.lstrip("\ufeff"))
    except ValueError:
        return None  # not JSON after all: the text path still redacts it
    removed = _drop_protected(obj)
    if removed:
        notes.append("protectedSettings removed")
    cleaned = redactor.redact_obj(obj)
    if cleaned != obj:
        notes.append("secrets masked")
    if not removed and cleaned == obj:
        # Keep the original bytes (and line layout) when nothing needed to change.
        redacted = redactor.redact_text(text)
        if redacted != text:
            notes.append("secrets masked")
        return redacted
    return json.dumps(cleaned, ensure_ascii=False, separators=(", ", ": "))


def _finish(text, notes):
    # type: (str, list) -> tuple
    leftover = surviving_secret(text)
    if leftover:
        raise Unsafe("%s still visible after redaction; file left out" % leftover)
    return text.encode("utf-8", "surrogateescape"), notes


# -- walking the manifest, through safe_open ----------------------------------------------------


def _kind_of(mode):
    # type: (int) -> str
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


def _reason(exc):
    # type: (OSError) -> str
    return "%s: %s" % (type(exc).__name__, exc.strerror or exc)


class _Tree(object):
    """Pattern expansion and file opening under ``root``, all through ``safe_open`` (the
    same no-link policy as ``self-check`` and the walker)."""

    def __init__(self, root, skipped):
        # type: (str, list) -> None
        self.root = root
        self.skipped = skipped

    def expand(self, entry):
        # type: (tuple) -> list
        return list(self._expand("", entry[0].split("/"), entry))

    def _expand(self, prefix, parts, entry):
        # type: (str, list, tuple) -> Any
        part, rest = parts[0], parts[1:]
        for name in self._names(prefix, part):
            path = prefix + name
            try:
                info = safe_open.lstat_under(self.root, path)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                    self.skipped.append([path, _reason(exc)])
                continue
            if rest:
                if stat.S_ISDIR(info.st_mode):
                    for cand in self._expand(path + "/", rest, entry):
                        yield cand
                elif stat.S_ISLNK(info.st_mode):
                    self.skipped.append([path, "symbolic link (not followed)"])
                continue
            if stat.S_ISREG(info.st_mode):
                yield {"path": path, "size": info.st_size, "mtime": info.st_mtime,
                       "entry": entry}
            elif not stat.S_ISDIR(info.st_mode):
                self.skipped.append([path, "%s (not read)" % _kind_of(info.st_mode)])

    def _names(self, prefix, part):
        # type: (str, str) -> list
        if not any(c in part for c in "*?["):
            return [part]
        try:
            listing = safe_open.list_under(self.root, prefix.rstrip("/"))
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                self.skipped.append([prefix.rstrip("/") or "/", _reason(exc)])
            return []
        # Like glob: wildcards do not match hidden names (our own temp files are hidden too).
        return sorted(n for n, _kind in listing
                      if fnmatch.fnmatchcase(n, part) and not n.startswith("."))

    def open(self, path):
        # type: (str) -> int
        """Descriptor of a regular file, every component opened with O_NOFOLLOW."""
        try:
            return safe_open.open_under(self.root, path)
        except safe_open.UnsafePath as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, "symbolic link (not followed)") from exc
            try:
                mode = safe_open.lstat_under(self.root, path).st_mode
            except OSError:
                raise exc from None
            raise OSError(errno.EINVAL, "%s (not read)" % _kind_of(mode)) from exc


def _read_fd(fd, start, limit):
    # type: (int, int, int) -> bytes
    chunks = []
    offset, left = start, limit
    while left > 0:
        chunk = os.pread(fd, min(left, MiB), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _drop_partial_first_line(data):
    # type: (bytes) -> bytes
    cut = data.find(b"\n")
    return data[cut + 1:] if cut >= 0 else data


# -- per-file processing ----------------------------------------------------------------------


class _Job(object):
    """What one collect run needs besides the files: limits, redactor, history-zip reader."""

    def __init__(self, limits, redactor, rebuild_zip):
        # type: (dict, Any, Any) -> None
        self.limits = limits
        self.redactor = redactor
        self.rebuild_zip = rebuild_zip

    def clean(self, name, data):
        # type: (str, bytes) -> tuple
        return redact_content(name, data, self.redactor)


def _process_file(fd, cand, job):
    # type: (int, dict, _Job) -> tuple
    size = os.fstat(fd).st_size
    name = cand["path"].rsplit("/", 1)[-1]
    lower = name.lower()
    max_file = job.limits["max_file_bytes"]
    if lower.endswith(".gz"):
        return _process_gzip(fd, cand, size, job)
    if lower.endswith(".zip"):
        if cand["entry"][0].endswith("history/*.zip"):
            if size > max_file:
                raise Unsafe("too big (%d bytes > %d)" % (size, max_file))
            data, notes = job.rebuild_zip(_read_fd(fd, 0, size), cand["path"], job.limits,
                                          job.clean)
            return data, "%d bytes" % len(data), notes
        raise Unsafe("archive (cannot be redacted)")
    if lower.endswith((".xz", ".bz2", ".tgz", ".tar", ".7z")):
        raise Unsafe("archive (cannot be redacted)")
    detail = "%d bytes" % size
    if size > max_file:
        if not cand["entry"][3]:
            raise Unsafe("too big (%d bytes > %d)" % (size, max_file))
        raw = _drop_partial_first_line(_read_fd(fd, size - max_file, max_file))
        detail = "last %d of %d bytes kept" % (len(raw), size)
    else:
        raw = _read_fd(fd, 0, size)
    data, notes = job.clean(name, raw)
    return data, detail, notes


def _process_gzip(fd, cand, size, job):
    # type: (int, dict, int, _Job) -> tuple
    """Rotated ``.gz`` logs are decompressed, redacted and stored recompressed."""
    if size > job.limits["max_file_bytes"]:
        raise Unsafe("too big (%d bytes > %d)" % (size, job.limits["max_file_bytes"]))
    compressed = _read_fd(fd, 0, size)
    try:
        text, total = _gunzip_tail(compressed, job.limits)
    except (OSError, EOFError, zlib.error) as exc:
        raise Unsafe("bad gzip data (%s)" % exc) from exc
    detail = "%d bytes" % size
    if total > len(text):
        detail = "last %d of %d uncompressed bytes kept" % (len(text), total)
    data, notes = job.clean(cand["path"][:-len(".gz")], text)
    return _gzip_bytes(data), detail, notes


def _gunzip_tail(compressed, limits):
    # type: (bytes, dict) -> tuple
    """Uncompressed tail (at most ``max_file_bytes``) and the total uncompressed size."""
    keep = limits["max_file_bytes"]
    tail = b""
    total = 0
    with gzip.GzipFile(fileobj=io.BytesIO(compressed), mode="rb") as stream:
        while True:
            chunk = stream.read(MiB)
            if not chunk:
                break
            total += len(chunk)
            if total > limits["max_gzip_bytes"]:
                raise Unsafe("decompresses to more than %d bytes" % limits["max_gzip_bytes"])
            tail = (tail + chunk)[-keep:]
    if total > keep:
        tail = _drop_partial_first_line(tail)
    return tail, total


def _gzip_bytes(data):
    # type: (bytes) -> bytes
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as stream:
        stream.write(data)
    return out.getvalue()


def _zip_member_problem(info):
    # type: (zipfile.ZipInfo) -> Any
    name = info.filename
    if name.endswith("/"):
        return "directory"
    if name.startswith("/") or "\\" in name or ".." in name.split("/") or "\0" in name:
        return "unsafe name"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted"
    if name.lower().endswith((".zip", ".gz", ".tar", ".tgz", ".xz")):
        return "nested archive"
    return None


def rebuild_history_zip(data, path, limits, clean):
    # type: (bytes, str, dict, Any) -> tuple
    """The zipapp's copy of a goal-state history zip, member by member, dropping and redacting
    like files (``clean(name, data)`` -> (bytes, notes)). The full tool passes its own, which
    reads the zip with every check of the bundle walker (``analyzer/live/collect.py``)."""
    notes = []
    out = io.BytesIO()
    read_total = 0
    max_file = limits["max_file_bytes"]
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unsafe("bad zip file (%s)" % exc) from None
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        infos = source.infolist()
        if len(infos) > limits["max_zip_entries"]:
            raise Unsafe("more than %d zip entries" % limits["max_zip_entries"])
        for info in infos:
            name = info.filename
            problem = _zip_member_problem(info)
            if problem is None and info.file_size > max_file:
                problem = "too big"
            if problem is None:
                problem = secret_file_reason(name)
            if problem is not None:
                if not name.endswith("/"):
                    notes.append("%s left out: %s" % (name, problem))
                continue
            try:
                with source.open(info) as member:
                    content = member.read(max_file + 1)
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, zlib.error) as exc:
                notes.append("%s left out: unreadable (%s)" % (name, exc))
                continue
            read_total += len(content)
            if len(content) > max_file or read_total > limits["max_zip_bytes"]:
                raise Unsafe("zip decompresses to more than the size limit")
            try:
                clean_data, member_notes = clean(name, content)
            except Unsafe as exc:
                notes.append("%s left out: %s" % (name, exc))
                continue
            notes.extend("%s: %s" % (name, note) for note in member_notes)
            target.writestr(zip_info(name, info.date_time), clean_data)
    return out.getvalue(), notes


def zip_info(name, date_time):
    # type: (str, tuple) -> zipfile.ZipInfo
    """A member header that says nothing about the VM: regular file, mode 0644, Unix."""
    clean = zipfile.ZipInfo(name, date_time=date_time)
    clean.compress_type = zipfile.ZIP_DEFLATED
    clean.external_attr = 0o100644 << 16
    clean.create_system = 3
    return clean


def zip_time(mtime):
    # type: (Any) -> tuple
    if mtime is None:
        return (1980, 1, 1, 0, 0, 0)
    stamp = datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc)
    return (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)


# -- the collector ----------------------------------------------------------------------------

ARCHIVE_SUFFIXES = ((".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".zip", "zip"))
"""Output names ``collect`` can write, and the format each one means."""


def archive_format(output):
    # type: (str) -> str
    """``tar.gz`` or ``zip`` as the output's name says (a folder gets ``bundle.tar.gz``);
    ValueError for a name whose format we cannot write, before any work."""
    if os.path.isdir(output):
        return "tar.gz"
    name = os.path.basename(str(output)).lower()
    for suffix, fmt in ARCHIVE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    raise ValueError("%s: cannot tell the archive format from the name; end it with %s"
                     % (output, ", ".join(s for s, _ in ARCHIVE_SUFFIXES)))


def bundle_path(output):
    # type: (str) -> str
    """The archive for ``--output``: the path itself, or ``bundle.tar.gz`` in a directory."""
    return os.path.join(output, DEFAULT_BUNDLE_NAME) if os.path.isdir(output) else output


def collect(root, output, since_days, self_check_json, now=None, limits=None, redactor=None,
            rebuild_zip=None):
    # type: (str, str, Any, Any, Any, Any, Any, Any) -> dict
    """Write the redacted bundle to ``output`` (a ``.tar.gz``/``.zip`` path or an existing
    directory, which gets ``bundle.tar.gz``); returns {output, included, redacted, skipped,
    total_bytes}, each list of ``[path, detail]``.

    ``since_days`` leaves out rotated logs and archived goal states not modified in that many
    days; current files are always taken. ``limits`` overrides :data:`LIMITS`; ``redactor``
    (``redact_text``/``redact_obj``) and ``rebuild_zip`` (see :func:`rebuild_history_zip`)
    are the full tool's when it runs this."""
    now = time.time() if now is None else now
    fmt = archive_format(output)
    target = bundle_path(output)
    job = _Job(dict(LIMITS, **(limits or {})), redactor or _default_redactor(),
               rebuild_zip or rebuild_history_zip)
    summary = {"output": target, "included": [], "redacted": [], "skipped": [],
               "total_bytes": 0}  # type: Dict[str, Any]
    os.close(safe_open.open_under(root, "", directory=True))  # a readable folder, or OSError
    tree = _Tree(root, summary["skipped"])
    stored = []  # (name, mtime, offset, size) of what the spool file holds
    with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(target))) as spool:
        for name, mtime, data in _gather(tree, summary, since_days, now, job):
            stored.append(_spool(spool, name, mtime, data))
        if self_check_json is not None:
            data = _clean_self_check(self_check_json, job)
            stored.append(_spool(spool, SELF_CHECK_NAME, int(now), data))
            summary["total_bytes"] += len(data)
            summary["included"].append([SELF_CHECK_NAME, "%d bytes" % len(data)])
        if fmt == "zip":
            _write_zip(target, spool, stored)
        else:
            _write_tarball(target, spool, stored)
    return summary


def _spool(spool, name, mtime, data):
    # type: (Any, str, int, bytes) -> tuple
    spool.seek(0, os.SEEK_END)
    offset = spool.tell()
    spool.write(data)
    return name, mtime, offset, len(data)


def _is_rotated(cand):
    # type: (dict) -> bool
    entry = cand["entry"]
    return entry[2] or bool(entry[3] and _ROTATED_NAME.search(cand["path"].rsplit("/", 1)[-1]))


def _candidates(tree, summary):
    # type: (_Tree, dict) -> list
    seen = set()
    found = []
    for entry in MANIFEST:
        for cand in tree.expand(entry):
            if cand["path"] in seen:
                continue
            seen.add(cand["path"])
            reason = secret_file_reason(cand["path"])
            if reason is not None:
                summary["skipped"].append([cand["path"], "secret: %s (never read)" % reason])
                continue
            found.append(cand)
    # Highest priority first; inside a priority the newest rotated files first, then by name.
    found.sort(key=lambda c: (c["entry"][1], -c["mtime"] if _is_rotated(c) else 0.0, c["path"]))
    return found


def _gather(tree, summary, since_days, now, job):
    # type: (_Tree, dict, Any, float, _Job) -> Any
    cutoff = None if since_days is None else now - since_days * 86400
    count = 0
    limits = job.limits
    for cand in _candidates(tree, summary):
        path = cand["path"]
        if cutoff is not None and _is_rotated(cand) and cand["mtime"] < cutoff:
            summary["skipped"].append([path, "older than %d days (--since)" % since_days])
            continue
        if count >= limits["max_files"]:
            summary["skipped"].append([path, "file count limit (%d)" % limits["max_files"]])
            continue
        if summary["total_bytes"] >= limits["max_total_bytes"]:
            summary["skipped"].append([path, "archive size limit reached"])
            continue
        processed = _process_candidate(tree, cand, summary, job)
        if processed is None:
            continue
        data, detail, notes = processed
        if summary["total_bytes"] + len(data) > limits["max_total_bytes"]:
            summary["skipped"].append([path, "archive size limit reached"])
            continue
        count += 1
        summary["total_bytes"] += len(data)
        summary["included"].append([path, detail])
        if notes:
            summary["redacted"].append([path, "; ".join(notes)])
        # A secret in a file name (``api_key=...log``) is redacted in the archive too.
        yield job.redactor.redact_text(path), int(max(0, cand["mtime"])), data


def _process_candidate(tree, cand, summary, job):
    # type: (_Tree, dict, dict, _Job) -> Any
    try:
        fd = tree.open(cand["path"])
    except OSError as exc:
        summary["skipped"].append([cand["path"], str(exc.strerror or exc)])
        return None
    try:
        return _process_file(fd, cand, job)
    except Unsafe as exc:
        summary["skipped"].append([cand["path"], str(exc)])
        return None
    except OSError as exc:
        summary["skipped"].append([cand["path"], _reason(exc)])
        return None
    finally:
        os.close(fd)


def _clean_self_check(data, job):
    # type: (bytes, _Job) -> bytes
    """The self-check is our own JSON, but it echoes VM strings: redact it like the rest."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except ValueError:
        return job.clean(SELF_CHECK_NAME, data)[0]
    cleaned = job.redactor.redact_obj(obj)
    return json.dumps(cleaned, indent=2, sort_keys=True, ensure_ascii=True).encode("ascii")


class _Slice(io.RawIOBase):
    """Reads ``size`` bytes of the spool file from ``offset`` (for ``TarFile.addfile``)."""

    def __init__(self, spool, offset, size):
        # type: (Any, int, int) -> None
        self.spool, self.pos, self.end = spool, offset, offset + size

    def readable(self):
        # type: () -> bool
        return True

    def read(self, n=-1):
        # type: (Any) -> bytes
        left = self.end - self.pos
        n = left if n is None or n < 0 else min(n, left)
        self.spool.seek(self.pos)  # type: ignore
        data = self.spool.read(n)  # type: ignore
        self.pos += len(data)
        return data


def _write_atomically(target, write):
    # type: (str, Any) -> None
    """A hidden temp file next to the target (mode 0600, as ``mkstemp`` makes it: the VM's
    root-only files are inside, redacted), written by ``write(raw)``, then renamed over it."""
    fd, temp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp",
                                     dir=os.path.dirname(os.path.abspath(target)))
    try:
        with os.fdopen(fd, "wb") as raw:
            write(raw)
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise


def _write_tarball(target, spool, stored):
    # type: (str, Any, list) -> None
    def write(raw):
        # type: (Any) -> None
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT,
                              encoding="utf-8", errors="surrogateescape") as tar:
                for name, mtime, offset, size in sorted(stored):
                    info = tarfile.TarInfo(name.lstrip("/"))
                    info.size = size
                    info.mtime = mtime
                    info.mode = 0o644
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.type = tarfile.REGTYPE
                    tar.addfile(info, _Slice(spool, offset, size))

    _write_atomically(target, write)


def _write_zip(target, spool, stored):
    # type: (str, Any, list) -> None
    """The same members as a deflated zip, written atomically like the tarball."""
    def write(raw):
        # type: (Any) -> None
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as out:
            for name, mtime, offset, size in sorted(stored):
                info = zipfile.ZipInfo(name.lstrip("/"), date_time=zip_time(mtime))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with out.open(info, "w") as member:
                    shutil.copyfileobj(_Slice(spool, offset, size), member)

    _write_atomically(target, write)
