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

import errno
import fnmatch
import gzip
import io
import json
import os
import re
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from typing import Any, Dict  # noqa: F401  (type comments)

from analyzer import safe_open
from analyzer.onvm import redact
from analyzer.onvm.facts import DHCP_LEASE_GLOBS

MiB = 1024 * 1024
SELF_CHECK_NAME = "self-check.json"
DEFAULT_BUNDLE_NAME = "bundle.tar.gz"
MAX_FILE_BYTES = 30 * MiB
MAX_TOTAL_BYTES = 150 * MiB
MAX_FILES = 5000
MAX_GZIP_BYTES = 512 * MiB
MAX_ZIP_ENTRIES = 500
MAX_ZIP_BYTES = 64 * MiB

# (pattern, priority, rotated, log): lower priority goes first when the size budget runs out.
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

_SECRET_SUFFIXES = (".prv", ".pem", ".crt", ".cer", ".p7m", ".pfx", ".p12", ".key")
_SECRET_NAMES = {
    "certificates.xml": "tenant certificates",
    "transportprivate.pem": "transport private key",
    "transportcert.pem": "transport certificate",
    "ovf-env.xml": "provisioning data (passwords)",
    "customdata": "custom data",
}
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
    """Why a file (by base name) must never be read, or None when it may be."""
    lower = name.rsplit("/", 1)[-1].lower()
    if lower in _SECRET_NAMES:
        return _SECRET_NAMES[lower]
    if lower.endswith(_SECRET_SUFFIXES):
        return "certificate or private key"
    if lower.startswith("remoteaccess"):
        return "remote access accounts"
    if lower.startswith("managedidentity-") or lower.startswith("certificates."):
        return "credentials"
    return None


class Unsafe(Exception):
    """The file cannot be shipped safely; the message is the reason shown to the user."""


def surviving_secret(text):
    # type: (str) -> Any
    for label, pattern in _SURVIVORS:
        if pattern.search(text):
            return label
    return None


def _drop_protected(obj):
    # type: (Any) -> int
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


def redact_content(name, data):
    # type: (str, bytes) -> tuple
    """(redacted bytes, notes) of one text file; raises Unsafe when it cannot be made safe."""
    if b"\0" in data[:8192]:
        raise Unsafe("binary file (cannot be redacted)")
    text = data.decode("utf-8", "surrogateescape")
    notes = []  # type: list
    if name.endswith(_JSON_SUFFIXES):
        redone = _redact_json(text, notes)
        if redone is not None:
            return _finish(redone, notes)
    text, count = _PROTECTED_TEXT.subn(r"\1<redacted>", text)
    if count:
        notes.append("protectedSettings removed")
    redacted = redact.redact_text(text)
    if redacted != text:
        notes.append("secrets masked")
    return _finish(redacted, notes)


def _redact_json(text, notes):
    # type: (str, list) -> Any
    try:
        obj = json.loads(text.lstrip("\ufeff"))
    except ValueError:
        return None
    removed = _drop_protected(obj)
    if removed:
        notes.append("protectedSettings removed")
    cleaned = redact.redact_obj(obj)
    if cleaned != obj:
        notes.append("secrets masked")
    if not removed and cleaned == obj:
        redacted = redact.redact_text(text)
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


# -- walking the manifest ---------------------------------------------------------------------


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
                fd = safe_open.open_under(self.root, prefix or ".", directory=True)
            except OSError as exc:
                self._note_dir(prefix, exc)
                return
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    self.skipped.append([path, _reason(exc)])
                continue
            finally:
                os.close(fd)
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

    def _note_dir(self, prefix, exc):
        # type: (str, OSError) -> None
        if exc.errno == errno.ENOENT:
            return
        self.skipped.append([prefix.rstrip("/") or "/", str(exc.strerror or exc)])

    def _names(self, prefix, part):
        # type: (str, str) -> list
        if not any(c in part for c in "*?["):
            return [part]
        try:
            names = [n for n, _ in safe_open.list_under(self.root, prefix or ".")]
        except OSError as exc:
            self._note_dir(prefix, exc)
            return []
        # Like glob: wildcards do not match hidden names (our own temp files are hidden too).
        return sorted(n for n in names if fnmatch.fnmatchcase(n, part) and not n.startswith("."))


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


def _process_file(fd, cand):
    # type: (int, dict) -> tuple
    size = os.fstat(fd).st_size
    name = cand["path"].rsplit("/", 1)[-1]
    lower = name.lower()
    if lower.endswith(".gz"):
        return _process_gzip(fd, cand, size)
    if lower.endswith(".zip"):
        if cand["entry"][0].endswith("history/*.zip"):
            if size > MAX_FILE_BYTES:
                raise Unsafe("too big (%d bytes > %d)" % (size, MAX_FILE_BYTES))
            data, notes = _rebuild_history_zip(_read_fd(fd, 0, size))
            return data, "%d bytes" % len(data), notes
        raise Unsafe("archive (cannot be redacted)")
    if lower.endswith((".xz", ".bz2", ".tgz", ".tar", ".7z")):
        raise Unsafe("archive (cannot be redacted)")
    detail = "%d bytes" % size
    if size > MAX_FILE_BYTES:
        if not cand["entry"][3]:
            raise Unsafe("too big (%d bytes > %d)" % (size, MAX_FILE_BYTES))
        raw = _drop_partial_first_line(_read_fd(fd, size - MAX_FILE_BYTES, MAX_FILE_BYTES))
        detail = "last %d of %d bytes kept" % (len(raw), size)
    else:
        raw = _read_fd(fd, 0, size)
    data, notes = redact_content(name, raw)
    return data, detail, notes


def _process_gzip(fd, cand, size):
    # type: (int, dict, int) -> tuple
    if size > MAX_FILE_BYTES:
        raise Unsafe("too big (%d bytes > %d)" % (size, MAX_FILE_BYTES))
    compressed = _read_fd(fd, 0, size)
    try:
        text, total = _gunzip_tail(compressed)
    except (OSError, EOFError, zlib.error) as exc:
        raise Unsafe("bad gzip data (%s)" % exc) from None
    detail = "%d bytes" % size
    if total > len(text):
        detail = "last %d of %d uncompressed bytes kept" % (len(text), total)
    data, notes = redact_content(cand["path"][:-len(".gz")], text)
    return _gzip_bytes(data), detail, notes


def _gunzip_tail(compressed):
    # type: (bytes) -> tuple
    tail = b""
    total = 0
    with gzip.GzipFile(fileobj=io.BytesIO(compressed), mode="rb") as stream:
        while True:
            chunk = stream.read(MiB)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_GZIP_BYTES:
                raise Unsafe("decompresses to more than %d bytes" % MAX_GZIP_BYTES)
            tail = (tail + chunk)[-MAX_FILE_BYTES:]
    if total > MAX_FILE_BYTES:
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


def _rebuild_history_zip(data):
    # type: (bytes) -> tuple
    """Copy a goal-state history zip member by member, dropping and redacting like files."""
    notes = []
    out = io.BytesIO()
    read_total = 0
    try:
        source = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unsafe("bad zip file (%s)" % exc) from None
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        infos = source.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise Unsafe("more than %d zip entries" % MAX_ZIP_ENTRIES)
        for info in infos:
            name = info.filename
            problem = _zip_member_problem(info)
            if problem is None and info.file_size > MAX_FILE_BYTES:
                problem = "too big"
            if problem is None:
                problem = secret_file_reason(name)
            if problem is not None:
                if not name.endswith("/"):
                    notes.append("%s left out: %s" % (name, problem))
                continue
            try:
                with source.open(info) as member:
                    content = member.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, zlib.error) as exc:
                notes.append("%s left out: unreadable (%s)" % (name, exc))
                continue
            read_total += len(content)
            if len(content) > MAX_FILE_BYTES or read_total > MAX_ZIP_BYTES:
                raise Unsafe("zip decompresses to more than the size limit")
            try:
                clean_data, member_notes = redact_content(name, content)
            except Unsafe as exc:
                notes.append("%s left out: %s" % (name, exc))
                continue
            notes.extend("%s: %s" % (name, note) for note in member_notes)
            clean = zipfile.ZipInfo(name, date_time=info.date_time)
            clean.compress_type = zipfile.ZIP_DEFLATED
            clean.external_attr = 0o100644 << 16
            clean.create_system = 3
            target.writestr(clean, clean_data)
    return out.getvalue(), notes


# -- the collector ----------------------------------------------------------------------------


def _is_rotated(cand):
    # type: (dict) -> bool
    entry = cand["entry"]
    return entry[2] or bool(entry[3] and _ROTATED_NAME.search(cand["path"].rsplit("/", 1)[-1]))


def bundle_path(output):
    # type: (str) -> str
    """The tarball for ``--output``: the path itself, or ``bundle.tar.gz`` in a directory."""
    return os.path.join(output, DEFAULT_BUNDLE_NAME) if os.path.isdir(output) else output


def collect(root, output, since_days, self_check_json, now=None):
    # type: (str, str, Any, bytes, Any) -> dict
    """Write the bundle; returns {output, included, redacted, skipped, total_bytes}."""
    now = time.time() if now is None else now
    target = bundle_path(output)
    summary = {"output": target, "included": [], "redacted": [], "skipped": [],
               "total_bytes": 0}  # type: Dict[str, Any]
    tree = _Tree(root, summary["skipped"])
    stored = []  # (name, mtime, data) kept in memory only up to the size cap
    with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(target))) as spool:
        for name, mtime, data in _gather(tree, summary, since_days, now):
            spool.seek(0, os.SEEK_END)
            stored.append((name, mtime, spool.tell(), len(data)))
            spool.write(data)
        data = _clean_self_check(self_check_json)
        spool.seek(0, os.SEEK_END)
        stored.append((SELF_CHECK_NAME, int(now), spool.tell(), len(data)))
        spool.write(data)
        summary["total_bytes"] += len(data)
        summary["included"].append([SELF_CHECK_NAME, "%d bytes" % len(data)])
        _write_tarball(target, spool, stored)
    return summary


def _gather(tree, summary, since_days, now):
    # type: (_Tree, dict, Any, float) -> Any
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
    found.sort(key=lambda c: (c["entry"][1], -c["mtime"] if _is_rotated(c) else 0.0, c["path"]))
    cutoff = None if since_days is None else now - since_days * 86400
    count = 0
    for cand in found:
        path = cand["path"]
        if cutoff is not None and _is_rotated(cand) and cand["mtime"] < cutoff:
            summary["skipped"].append([path, "older than %d days (--since)" % since_days])
            continue
        if count >= MAX_FILES:
            summary["skipped"].append([path, "file count limit (%d)" % MAX_FILES])
            continue
        if summary["total_bytes"] >= MAX_TOTAL_BYTES:
            summary["skipped"].append([path, "archive size limit reached"])
            continue
        processed = _process_candidate(tree, cand, summary)
        if processed is None:
            continue
        data, detail, notes = processed
        if summary["total_bytes"] + len(data) > MAX_TOTAL_BYTES:
            summary["skipped"].append([path, "archive size limit reached"])
            continue
        count += 1
        summary["total_bytes"] += len(data)
        summary["included"].append([path, detail])
        if notes:
            summary["redacted"].append([path, "; ".join(notes)])
        yield path, int(max(0, cand["mtime"])), data


def _process_candidate(tree, cand, summary):
    # type: (_Tree, dict, dict) -> Any
    try:
        fd = safe_open.open_under(tree.root, cand["path"])
    except OSError as exc:
        summary["skipped"].append([cand["path"], str(exc.strerror or exc)])
        return None
    try:
        return _process_file(fd, cand)
    except Unsafe as exc:
        summary["skipped"].append([cand["path"], str(exc)])
        return None
    except OSError as exc:
        summary["skipped"].append([cand["path"], _reason(exc)])
        return None
    finally:
        os.close(fd)


def _clean_self_check(data):
    # type: (bytes) -> bytes
    """Our own JSON echoes VM strings: redact it like the rest."""
    cleaned = redact.redact_obj(json.loads(data.decode("utf-8")))
    return json.dumps(cleaned, indent=2, sort_keys=True, ensure_ascii=True).encode("ascii")


class _Slice(io.RawIOBase):
    def __init__(self, spool, offset, size):
        # type: (Any, int, int) -> None
        self.spool, self.pos, self.end = spool, offset, offset + size

    def readable(self):
        # type: () -> bool
        return True

    def read(self, n=-1):
        # type: (int) -> bytes
        left = self.end - self.pos
        n = left if n is None or n < 0 else min(n, left)
        self.spool.seek(self.pos)  # type: ignore
        data = self.spool.read(n)  # type: ignore
        self.pos += len(data)
        return data


def _write_tarball(target, spool, stored):
    # type: (str, Any, list) -> None
    """Atomically: a hidden temp file next to the target, then a rename over it."""
    fd, temp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".tmp",
                                     dir=os.path.dirname(os.path.abspath(target)))
    try:
        with os.fdopen(fd, "wb") as raw:
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
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise
