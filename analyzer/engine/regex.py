"""Rule patterns run on RE2: linear time, so no rule or log line can stall a run.

RE2 rejects backreferences and lookaround at compile time; that is reported when a rule
file is loaded.

>>> compile_pattern(r"Timeout\\((?P<seconds>\\d+)\\)").search("x Timeout(300): y").group("seconds")
'300'
>>> try:
...     compile_pattern(r"(a)\\1")
... except PatternError as error:
...     print(error)
invalid escape sequence: \\1
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_MEM = 64 << 20


class PatternError(ValueError):
    pass


def _options(never_capture: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # errors reach the user as rule-file messages, not on stderr
    options.max_mem = MAX_MEM
    options.never_capture = never_capture
    return options


@lru_cache(maxsize=2048)
def compile_pattern(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        raise PatternError(_message(error)) from None


def unanchored(pattern: str) -> str:
    """The pattern without ``^``/``$`` anchors (outside character classes).

    Rule patterns are searched in a record's *message*; the prefilter runs on raw chunks where
    a message neither starts nor ends at an anchor position, so anchors are dropped there (the
    prefilter only has to find a superset; the real pattern decides on the record).

    >>> print(unanchored(r"^(?:Command: |x$)[^^$]y"))
    (?:Command: |x)[^^$]y
    """
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]" and not (out and out[-1] in ("[", "[^")):
                in_class = False
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "^":
                out.append("[^")
                index += 2
                continue
        elif char in "^$":
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def compile_prefilter(patterns: tuple[str, ...]) -> Any:
    """One bytes regex matching wherever any of the patterns could match."""
    alternatives = b"|".join(b"(?:" + unanchored(p).encode("utf-8") + b")" for p in patterns)
    try:
        return re2.compile(alternatives, _options(never_capture=True))
    except re2.error as error:
        raise PatternError(_message(error)) from None


def _message(error: Exception) -> str:
    detail = error.args[0] if error.args else error
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


def compile_set(patterns: tuple[str, ...]) -> Any:
    """An RE2 set: ``Match(text)`` returns the indices of every pattern found in ``text``."""
    if not patterns:
        return None
    pattern_set = re2.Set.SearchSet(_options())
    for pattern in patterns:
        if pattern_set.Add(pattern) < 0:
            raise PatternError(f"pattern not accepted: {pattern[:80]}")
    pattern_set.Compile()
    return pattern_set
