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


_UNANCHORED = re2._Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


def _utf8(text: str | bytes) -> bytes:
    # Lines that were not valid UTF-8 keep their bytes as surrogate escapes; give RE2 those
    # very bytes instead of failing to encode them.
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


class PatternMatch:
    """What a search found: spans into the searched bytes, groups decoded on demand."""

    __slots__ = ("_data", "_pattern", "_spans")

    def __init__(self, pattern: Pattern, data: bytes, spans: list[tuple[int, int]]) -> None:
        self._pattern = pattern
        self._data = data
        self._spans = spans

    def start(self) -> int:
        return self._spans[0][0]

    def end(self) -> int:
        return self._spans[0][1]

    def group(self, key: int | str = 0) -> str | None:
        index = self._pattern.groupindex[key] if isinstance(key, str) else key
        start, end = self._spans[index]
        if start < 0:
            return None
        return self._data[start:end].decode("utf-8", "surrogateescape")

    def groupdict(self) -> dict[str, str | None]:
        return {name: self.group(index) for name, index in self._pattern.groupindex.items()}


class Pattern:
    """An RE2 pattern searched in UTF-8 bytes through RE2's own matcher: no per-call
    generator of the Python wrapper, and text with undecodable bytes still matches."""

    __slots__ = ("_regexp", "groupindex", "pattern")

    def __init__(self, pattern: str) -> None:
        compiled = re2.compile(pattern.encode("utf-8"), _options())
        self.pattern = pattern
        self._regexp = compiled._regexp
        self.groupindex = {name.decode("utf-8"): index
                           for name, index in compiled.groupindex.items()}

    def search(self, text: str | bytes, pos: int = 0, endpos: int | None = None
               ) -> PatternMatch | None:
        data = _utf8(text)
        end = len(data) if endpos is None else min(endpos, len(data))
        spans = self._regexp.Match(_UNANCHORED, data, pos, end)
        if spans[0] == _NO_MATCH:
            return None
        return PatternMatch(self, data, spans)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (compile_pattern, (self.pattern,))


@lru_cache(maxsize=2048)
def compile_pattern(pattern: str) -> Pattern:
    try:
        return Pattern(pattern)
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


class Prefilter:
    """One bytes regex matching wherever any of the patterns could match."""

    __slots__ = ("_compiled", "_regexp")

    def __init__(self, alternatives: bytes) -> None:
        self._compiled = re2.compile(alternatives, _options(never_capture=True))
        self._regexp = self._compiled._regexp

    def finditer(self, data: bytes) -> Any:
        return self._compiled.finditer(data)

    def next_hit(self, data: bytes, pos: int) -> int:
        """Offset of the next match at or after ``pos``, or -1 (RE2's matcher called
        directly: the Python wrapper's per-match objects cost more than the scan)."""
        start = self._regexp.Match(_UNANCHORED, data, pos, len(data))[0][0]
        return start if start >= 0 else -1

    def search(self, data: bytes, pos: int = 0, endpos: int | None = None) -> bool:
        end = len(data) if endpos is None else endpos
        return bool(self._regexp.Match(_UNANCHORED, data, pos, end)[0] != _NO_MATCH)


def compile_prefilter(patterns: tuple[str, ...]) -> Prefilter:
    alternatives = b"|".join(b"(?:" + unanchored(p).encode("utf-8") + b")" for p in patterns)
    try:
        return Prefilter(alternatives)
    except re2.error as error:
        raise PatternError(_message(error)) from None


def _message(error: Exception) -> str:
    detail = error.args[0] if error.args else error
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


class PatternSet:
    """An RE2 set: ``Match(text)`` lists the indices of every pattern found in ``text``."""

    __slots__ = ("_patterns", "_set")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._patterns = patterns
        self._set = re2.Set.SearchSet(_options())
        for pattern in patterns:
            if self._set.Add(pattern.encode("utf-8")) < 0:
                raise PatternError(f"pattern not accepted: {pattern[:80]}")
        self._set.Compile()

    def Match(self, text: str | bytes) -> list[int]:  # mirrors re2.Set
        return self._set.Match(_utf8(text)) or []

    def __reduce__(self) -> tuple[Any, tuple[tuple[str, ...]]]:
        return (PatternSet, (self._patterns,))


def compile_set(patterns: tuple[str, ...]) -> PatternSet | None:
    if not patterns:
        return None
    try:
        return PatternSet(patterns)
    except re2.error as error:
        raise PatternError(_message(error)) from None
