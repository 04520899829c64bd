"""Helpers every command shares (analyze, parse, batch, self-check): checking the user's input
before any work, colour and width decisions, and output that survives a closed pipe.

Everything here raises :class:`~analyzer.errors.UsageError` (exit 2) for a mistake of the user,
so a bad option never costs an analysis first.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from analyzer.errors import UsageError
from analyzer.pipes import silence_stdout

__all__ = [
    "check_output_path",
    "check_params",
    "check_rule_dirs",
    "color_enabled",
    "parse_params",
    "safe_line",
    "silence_stdout",
    "text_width",
    "write_text",
]

_VERSION = re.compile(r"^\d+(?:\.\d+)+$")
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def safe_line(text: str) -> str:
    """One line for stderr: control characters and newlines shown escaped, never obeyed (a
    file name with a newline must not forge a second line)."""
    from analyzer.report.sanitize import for_terminal

    return for_terminal(text)


def parse_params(values: Iterable[str] | None) -> dict[str, dict[str, Any]]:
    """``RULE-ID.name=value`` options into ``{rule_id: {name: value}}``."""
    params: dict[str, dict[str, Any]] = {}
    for value in values or []:
        target, sep, setting = value.partition("=")
        rule_id, dot, name = target.rpartition(".")
        if not sep or not dot or not rule_id or not name:
            raise UsageError(f"--param {value!r}: expected RULE-ID.name=value")
        params.setdefault(rule_id, {})[name] = setting
    return params


def check_rule_dirs(paths: Iterable[Path]) -> None:
    for path in paths:
        if not path.exists():
            raise UsageError(f"--rules {safe_line(str(path))}: no such folder")
        if not (path.is_dir() or path.suffix == ".toml"):
            raise UsageError(f"--rules {safe_line(str(path))}: not a folder of rule files")


def check_output_path(path: Path | None) -> None:
    """An output we could not write is a usage error now, not an I/O error after the work."""
    if path is None or str(path) == "-":
        return
    shown = safe_line(str(path))
    if path.is_dir():
        raise UsageError(f"--output {shown}: is a folder")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--output {shown}: folder {safe_line(str(parent))} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--output {shown}: not writable")


def _check_value(where: str, default: Any, value: Any) -> None:
    text = str(value).strip()
    if isinstance(default, bool):
        if text.lower() not in _TRUE | _FALSE:
            raise UsageError(f"{where}: expected true or false, got {text!r}")
    elif isinstance(default, int | float):
        try:
            number = float(text) if isinstance(default, float) else int(text)
        except ValueError:
            kind = "a whole number" if isinstance(default, int) else "a number"
            raise UsageError(f"{where}: expected {kind}, got {text!r}") from None
        if not math.isfinite(number) or number < 0:
            raise UsageError(f"{where}: expected a finite number of 0 or more, got {text!r}")
    elif isinstance(default, str) and _VERSION.match(default) and not _VERSION.match(text):
        raise UsageError(f"{where}: expected a version such as {default!r}, got {text!r}")


def check_params(params: Mapping[str, Mapping[str, Any]], directories: list[Path]) -> None:
    """Unknown rule ids, unknown parameter names and values of the wrong shape are exit 2,
    and so is any error the rules report once the overrides are applied."""
    if not params:
        return
    from analyzer.engine.cache import load_rules_cached

    base = load_rules_cached(directories)
    rules = {rule.id: rule for rule in base.rules}
    for rule_id, settings in params.items():
        rule = rules.get(rule_id)
        if rule is None:
            raise UsageError(f"--param {safe_line(rule_id)}: unknown rule id; see 'rules list'")
        for name, value in settings.items():
            where = f"--param {safe_line(f'{rule_id}.{name}={value}')}"
            if name not in rule.params:
                valid = ", ".join(rule.params) or "(this rule has none)"
                raise UsageError(f"{where}: unknown parameter; valid options: {valid}")
            _check_value(where, rule.params[name], value)
    tuned = load_rules_cached(directories, {k: dict(v) for k, v in params.items()})
    before = {error.message for error in base.errors}
    for error in tuned.errors:
        if error.message not in before:
            raise UsageError(f"--param: {error.message}")


def color_enabled(choice: str, stream: IO[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> bool:
    """``--color always|never`` win; ``auto`` follows NO_COLOR, FORCE_COLOR, TERM=dumb and
    whether ``stream`` is a terminal (https://no-color.org, https://force-color.org)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    if env.get("TERM") == "dumb":
        return False
    stream = sys.stdout if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def text_width(stream: IO[str] | None = None) -> int | None:
    """The terminal's width when writing to one (``COLUMNS`` honoured); ``None`` (do not wrap)
    when the text goes to a pipe or a file, whose reader wraps it to its own width."""
    stream = sys.stdout if stream is None else stream
    if not getattr(stream, "isatty", lambda: False)():
        return None
    import shutil

    return max(40, shutil.get_terminal_size((100, 24)).columns)


def write_text(text: str, output: Path | None) -> None:
    """The document to ``output`` or stdout; a write error is a clear message (exit 2)."""
    if not text.endswith("\n"):
        text += "\n"
    if output is None or str(output) == "-":
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()  # the reader (`| head`) has what it wanted: not an error
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"--output {safe_line(str(output))}: cannot write: "
                         f"{error.strerror or error}") from None


