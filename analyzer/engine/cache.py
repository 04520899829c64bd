"""A per-user cache of the validated rule pack, keyed on the rule files' names, sizes and
modification times, and on the engine's own code (a change of check semantics must not keep
serving a pack built by the old code).

Loading means reading ~50 TOML files, parsing every condition with pyparsing and compiling
every pattern with RE2: about a quarter of a second, which is most of the start-up budget of
a small bundle. The cache turns that into one small unpickle. It lives in the user's own
cache directory (mode 0700), so only the user can write what it later loads; set
``WAAGENT_ANALYZER_NO_CACHE=1`` to bypass it. Only the newest :data:`KEEP` entries are kept
(one per distinct ``--param`` set would otherwise grow without end).

Commands that promise to change nothing on the machine (``self-check``, ``collect``) call
:func:`restrict_writes`: the cache is then only read, and written only when
``WAAGENT_ANALYZER_CACHE=1`` or when its folder already exists (the user made it, or an
earlier ``analyze`` did).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from analyzer import __version__
from analyzer.engine.loader import RulePack, load_rules, rule_files

KEEP = 8
"""Cache entries kept; older ones are removed when a new one is written."""
ALLOW_ENV = "WAAGENT_ANALYZER_CACHE"
_restricted = {"on": False}


def restrict_writes() -> None:
    """From now on in this process, write the cache only when the user allows it."""
    _restricted["on"] = True


def _may_write(folder: Path) -> bool:
    if not _restricted["on"]:
        return True
    return os.environ.get(ALLOW_ENV, "") not in ("", "0") or folder.is_dir()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "waagent-analyzer"


def _key(
    directories: list[Path], overrides: dict[str, dict[str, Any]] | None, require_tests: bool
) -> str:
    digest = hashlib.sha256(
        f"{__version__}|{require_tests}|{sorted((overrides or {}).items())!r}|"
        f"{engine_code_hash()}".encode()
    )
    for path in rule_files(directories):
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:40]


_ENGINE_DIR = Path(__file__).resolve().parent
_engine_hash: str | None = None


def engine_code_hash() -> str:
    """SHA-256 of every module of ``analyzer/engine`` (names and contents), once per process.

    The pickled pack holds objects of these modules; when their code changes, so does the key.
    """
    global _engine_hash
    if _engine_hash is None:
        digest = hashlib.sha256()
        for path in sorted(_ENGINE_DIR.rglob("*.py")):
            digest.update(path.relative_to(_ENGINE_DIR).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
        _engine_hash = digest.hexdigest()
    return _engine_hash


def caching() -> bool:
    """Whether the cache folder is used at all (``WAAGENT_ANALYZER_NO_CACHE`` unset)."""
    return not os.environ.get("WAAGENT_ANALYZER_NO_CACHE")


def load_rules_cached(
    directories: Iterable[Path],
    overrides: dict[str, dict[str, Any]] | None = None,
    require_tests: bool = False,
) -> RulePack:
    directories = list(directories)
    if not caching():
        return load_rules(directories, overrides, require_tests)
    try:
        path = cache_dir() / f"rules-{_key(directories, overrides, require_tests)}.pickle"
    except OSError:
        return load_rules(directories, overrides, require_tests)
    cached = _read(path)
    if cached is not None:
        return cached
    pack = load_rules(directories, overrides, require_tests)
    _write(path, pack)
    return pack


def _read(path: Path) -> RulePack | None:
    try:
        if path.stat().st_uid != os.getuid():
            return None  # never load a file someone else could have written
        pack = pickle.loads(path.read_bytes())
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        TypeError,
        ValueError,
    ):
        return None
    return pack if isinstance(pack, RulePack) else None


def _write(path: Path, pack: RulePack) -> None:
    if not _may_write(path.parent):
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".rules-", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(pack, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except OSError:
        return  # a read-only home only costs speed
    prune(path.parent)


MAX_BLOB_BYTES = 16 << 20
"""A compiled scan database is ~100 KB; anything far larger is not ours."""


def read_blob(name: str) -> bytes | None:
    """A compiled artefact cached by :func:`write_blob` (``name``: a content hash with a
    prefix and suffix), or None when absent, not the user's own, too large or bypassed."""
    if not caching():
        return None
    try:
        path = cache_dir() / name
        if path.stat().st_uid != os.getuid() or path.stat().st_size > MAX_BLOB_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def write_blob(name: str, data: bytes) -> None:
    """Cache ``data`` under ``name`` (atomic, mode 0600, in the user's 0700 folder), when
    writing is allowed; the newest :data:`KEEP` blobs of the same prefix are kept."""
    if not caching():
        return
    try:
        folder = cache_dir()
        if not _may_write(folder):
            return
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=folder, prefix=".blob-", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, folder / name)
    except OSError:
        return  # a read-only home only costs speed
    prune(folder, pattern=name.split("-", 1)[0] + "-*")


def prune(folder: Path, keep: int = KEEP, pattern: str = "rules-*.pickle") -> None:
    """Remove all but the ``keep`` newest cache entries (by modification time)."""
    try:
        entries = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime_ns,
                         reverse=True)
    except OSError:
        return
    for old in entries[keep:]:
        try:
            old.unlink()
        except OSError:
            continue
