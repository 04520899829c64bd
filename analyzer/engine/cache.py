"""A per-user cache of the validated rule pack, keyed on the rule files' names, sizes and
modification times.

Loading means reading ~50 TOML files, parsing every condition with pyparsing and compiling
every pattern with RE2: about a quarter of a second, which is most of the start-up budget of
a small bundle. The cache turns that into one small unpickle. It lives in the user's own
cache directory (mode 0700), so only the user can write what it later loads; set
``WAAGENT_ANALYZER_NO_CACHE=1`` to bypass it.
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


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "waagent-analyzer"


def _key(
    directories: list[Path], overrides: dict[str, dict[str, Any]] | None, require_tests: bool
) -> str:
    digest = hashlib.sha256(
        f"{__version__}|{require_tests}|{sorted((overrides or {}).items())!r}".encode()
    )
    for path in rule_files(directories):
        stat = path.stat()
        digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:40]


def load_rules_cached(
    directories: Iterable[Path],
    overrides: dict[str, dict[str, Any]] | None = None,
    require_tests: bool = False,
) -> RulePack:
    directories = list(directories)
    if os.environ.get("WAAGENT_ANALYZER_NO_CACHE"):
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
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".rules-", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(pack, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except OSError:
        return  # a read-only home only costs speed
