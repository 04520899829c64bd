"""The user's config file: ``[tool.waagent-analyzer]`` in a ``pyproject.toml`` or the top level
of a ``.waagent-analyzer.toml``, found from the current folder upwards.

The search stops at the first folder holding a config, at a folder with a ``.git`` entry (the
top of a repository: a config above it belongs to someone else) or at the filesystem root.
Keys mirror the command-line options (``fail-on``, ``param``, ``rules``, ``lang``, ``color``,
``format``); the options win. A bad key or value is a usage error (exit 2) naming the file and
the key, raised before any work.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import UsageError

__all__ = ["CONFIG_NAME", "Config", "Settings", "check_file_params", "find_config", "load_config",
           "merge", "read_config"]

CONFIG_NAME = ".waagent-analyzer.toml"
PYPROJECT = "pyproject.toml"
TABLE = "waagent-analyzer"

SEVERITIES = ("critical", "high", "medium", "low", "info", "never")
COLORS = ("auto", "always", "never")
FORMATS = ("text", "json", "markdown", "html", "sarif")
KEYS = ("fail-on", "param", "rules", "lang", "color", "format")


@dataclass
class Config:
    """Settings read from one file; ``None`` (or empty) where the file says nothing."""

    path: Path | None = None
    fail_on: str | None = None
    param: list[str] = field(default_factory=list)
    rules: list[Path] = field(default_factory=list)
    lang: str | None = None
    color: str | None = None
    format: str | None = None

    def where(self, key: str) -> str:
        """How an error about ``key`` names its origin: ``path: key 'fail-on'``."""
        return f"{self.path}: key {key!r}"


def find_config(start: Path) -> Path | None:
    """The nearest config file from ``start`` upwards, or ``None``."""
    folder = start.resolve()
    while True:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT
        if pyproject.is_file() and _has_our_table(pyproject):
            return pyproject
        if (folder / ".git").exists() or folder.parent == folder:
            return None
        folder = folder.parent


def _has_our_table(pyproject: Path) -> bool:
    """Whether a pyproject.toml carries our table. A broken one counts (and its error names
    the file) only when it has a ``[tool.waagent-analyzer]`` header: a project that merely
    depends on us is none of our business."""
    try:
        text = pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    if TABLE not in text:
        return False
    try:
        return TABLE in tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return f"[tool.{TABLE}]" in text.replace(" ", "")


def load_config(explicit: Path | None, disabled: bool, start: Path | None = None) -> Config:
    """The config in effect: ``--no-config`` gives none, ``--config PATH`` that file (which
    must exist), otherwise the nearest one found from ``start`` (the current folder)."""
    if disabled:
        if explicit is not None:
            raise UsageError("--config and --no-config exclude each other")
        return Config()
    if explicit is not None:
        if not explicit.is_file():
            raise UsageError(f"--config {explicit}: no such file")
        return read_config(explicit)
    found = find_config(start if start is not None else Path.cwd())
    return read_config(found) if found is not None else Config()


def read_config(path: Path) -> Config:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None
    if path.name == PYPROJECT:
        table = document.get("tool", {}).get(TABLE, {})
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [tool.{TABLE}] must be a table")
    else:
        table = document
    return _validate(path, table)


def _validate(path: Path, table: dict[str, Any]) -> Config:
    config = Config(path=path)
    for key, value in table.items():
        if key not in KEYS:
            raise UsageError(f"{path}: unknown key {key!r}; valid keys: {', '.join(KEYS)}")
        if key == "param":
            config.param = _strings(config, key, value)
        elif key == "rules":
            config.rules = [_relative(path, item) for item in _strings(config, key, value)]
        else:
            choices = {"fail-on": SEVERITIES, "color": COLORS, "format": FORMATS}.get(key)
            text = _string(config, key, value)
            if choices is not None and text not in choices:
                raise UsageError(f"{config.where(key)}: {text!r} is not one of "
                                 f"{', '.join(choices)}")
            setattr(config, key.replace("-", "_"), text)
    return config


def _string(config: Config, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{config.where(key)}: expected a string, got {value!r}")
    return value


def _strings(config: Config, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{config.where(key)}: expected a list of strings, got {value!r}")
    return list(value)


def _relative(path: Path, folder: str) -> Path:
    """Rule folders are relative to the config file, not to wherever the tool runs."""
    candidate = Path(folder).expanduser()
    return candidate if candidate.is_absolute() else path.parent / candidate


@dataclass
class Settings:
    """The options of ``analyze`` once the config file and the command line are merged."""

    fail_on: str
    format: str
    color: str
    lang: str | None
    rules: list[Path]
    param: dict[str, dict[str, Any]]


def merge(
    config: Config,
    *,
    fail_on: str | None,
    fmt: str | None,
    color: str | None,
    lang: str | None,
    rules: list[Path] | None,
    param: list[str] | None,
) -> Settings:
    """Command-line values win; ``--param`` overrides the file's value of the same
    ``ID.name`` and keeps the others; ``--rules`` replaces the file's folders. What comes
    from the file is checked here, so an error names the file and the key."""
    from analyzer.cli_common import check_rule_dirs, parse_params

    file_params: dict[str, dict[str, Any]] = {}
    if config.param:
        file_params = _named(config, "param", lambda: parse_params(config.param))
    if config.rules and rules is None:
        _named(config, "rules", lambda: check_rule_dirs(config.rules))
    if config.lang is not None and lang is None:
        from analyzer.report.i18n import normalize_lang

        if normalize_lang(config.lang) is None:
            raise UsageError(f"{config.where('lang')}: {config.lang!r} is not one of en, pt-BR")
    merged = {rule: dict(values) for rule, values in file_params.items()}
    for rule, values in parse_params(param).items():
        merged.setdefault(rule, {}).update(values)
    return Settings(
        fail_on=fail_on or config.fail_on or "high",
        format=fmt or config.format or "text",
        color=color or config.color or "auto",
        lang=lang if lang is not None else config.lang,
        rules=list(rules) if rules is not None else list(config.rules),
        param=merged,
    )


def check_file_params(config: Config, directories: list[Path]) -> None:
    """The file's ``param`` entries checked against the rules (unknown id, name or value
    shape), each error naming the file."""
    if not config.param:
        return
    from analyzer.cli_common import check_params, parse_params

    _named(config, "param", lambda: check_params(parse_params(config.param), directories))


def _named(config: Config, key: str, check: Any) -> Any:
    try:
        return check()
    except UsageError as error:
        raise UsageError(f"{config.where(key)}: {error}") from None
