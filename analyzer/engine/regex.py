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

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import re2

MAX_MEM = 64 << 20
CASE_INSENSITIVE = "(?i)"
"""The prefix a rule pattern gets unless its check says ``cased = true``."""


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


ALL_TAGS = 0xFF
"""Tags of a line whose patterns are not known (every kind of pattern may match it)."""


class Prefilter:
    """One bytes regex matching wherever any of the patterns could match.

    ``literals`` (the required literals, every byte ASCII) and ``residual`` (the alternatives
    that are not plain literals) split the same alternation for :meth:`hit_lines`, which finds
    every line holding a match in one compiled pass when Hyperscan is installed.
    """

    __slots__ = ("_alternatives", "_cover", "_literal_scanner", "_literal_tags", "_regexp",
                 "_residual", "_residual_source", "residual_tags")

    def __init__(self, alternatives: bytes, literal_tags: dict[bytes, int] | None = None,
                 residual: bytes | None = None, residual_tags: int = ALL_TAGS,
                 cover: tuple[tuple[bytes, ...], tuple[int, ...]] | None = None) -> None:
        self._alternatives = alternatives
        self._regexp: Any = None
        """RE2 over the whole alternation, compiled when first searched: a large log's
        chunks go through Hyperscan, and compiling it took 4 to 8 ms of every run's start."""
        self._literal_tags = literal_tags or {}
        """Each required literal (ASCII) and the OR of the tags of its patterns."""
        self._cover = cover
        """:func:`_shortest_cover` of the literals, when already worked out."""
        self._residual_source = residual
        self._residual: Any = None
        self.residual_tags = residual_tags
        self._literal_scanner: Any = None

    @property
    def literals(self) -> tuple[bytes, ...]:
        """The literals the compiled scan looks for (a literal holding a shorter one is
        left out: it would only report the same lines again)."""
        return self._shortest_cover()[0]

    def _shortest_cover(self) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
        if self._cover is None:
            self._cover = _shortest_cover(self._literal_tags)
        return self._cover

    @property
    def regexp(self) -> Any:
        """RE2's matcher for the whole alternation."""
        if self._regexp is None:
            try:
                self._regexp = re2.compile(self._alternatives,
                                           _options(never_capture=True))._regexp
            except re2.error as error:
                raise PatternError(_message(error)) from None
        return self._regexp

    @property
    def residual(self) -> Any:
        """RE2 over the alternatives that are no literal (None: there are none)."""
        if self._residual is None and self._residual_source is not None:
            self._residual = re2.compile(self._residual_source,
                                         _options(never_capture=True))._regexp
        return self._residual

    def next_hit(self, data: bytes, pos: int) -> int:
        """Offset of the next match at or after ``pos``, or -1 (RE2's matcher called
        directly: the Python wrapper's per-match objects cost more than the scan)."""
        start = self.regexp.Match(_UNANCHORED, data, pos, len(data))[0][0]
        return start if start >= 0 else -1

    def search(self, data: bytes, pos: int = 0, endpos: int | None = None) -> bool:
        end = len(data) if endpos is None else endpos
        return bool(self.regexp.Match(_UNANCHORED, data, pos, end)[0] != _NO_MATCH)

    def hit_lines(self, data: bytes, newlines: Any) -> Any:
        """Indices (0-based, ascending, unique) of the lines of ``data`` in which a match
        starts; ``newlines`` are the offsets of its newline bytes. The same lines as calling
        :meth:`next_hit` from the start of each next line, without a Python step per line
        when Hyperscan is available (a literal's occurrences come back from one compiled
        scan; the few non-literal alternatives still go through RE2)."""
        return self.tagged_lines(data, newlines)[0]

    def tagged_lines(self, data: bytes, newlines: Any, probe_density: bool = False,
                     size: int | None = None) -> tuple[Any, Any]:
        """:meth:`hit_lines`, and for each line the OR of the tags of the patterns whose
        literals it holds (``ALL_TAGS`` where that is not known): a line without a tag's
        literal cannot match a pattern of that tag.

        ``probe_density``: when nearly every line of the chunk's first
        :data:`DENSE_PROBE_LINES` holds a literal, every later non-empty line is returned
        with ``ALL_TAGS`` unscanned. Each reported line costs a Python callback (about
        0.5 µs); a log of repeated failures or an extension's own log reports nearly every
        line, and the caller then learns no more from the scan than from taking them all.
        A superset, as this method may return.

        ``size``: only ``data[:size]`` is the text (what follows is padding, never read)."""
        import numpy as np

        size = len(data) if size is None else size
        # A small chunk goes through Hyperscan too once its database is loaded (a large
        # file's tail): RE2 would otherwise be compiled for a few hundred bytes.
        scanner = (self._scanner() if size >= COMPILED_SCAN_BYTES or self._literal_scanner
                   else None)
        if scanner is None:
            lines = unique_sorted(self._lines_by_search(self.regexp, data, newlines, size))
            return lines, np.full(len(lines), ALL_TAGS, dtype=np.uint8)
        tags = np.zeros(len(newlines) + 1, dtype=np.uint8)
        text = memoryview(data)[:size]
        if probe_density and len(newlines) >= 4 * DENSE_PROBE_LINES:
            cut = int(newlines[DENSE_PROBE_LINES - 1]) + 1
            _tag_lines(scanner, text[:cut], 0, newlines, tags)
            if np.count_nonzero(tags[:DENSE_PROBE_LINES]) >= DENSE_SHARE * DENSE_PROBE_LINES:
                _tag_every_line(tags, newlines, size, DENSE_PROBE_LINES)
            else:
                _tag_lines(scanner, text[cut:], cut, newlines, tags)
        else:
            _tag_lines(scanner, text, 0, newlines, tags)
        if self.residual is not None:
            tags[self._lines_by_search(self.residual, data, newlines, size)] |= self.residual_tags
        lines = np.flatnonzero(tags)
        return lines, tags[lines]

    def record_tags(self, records: list[bytes]) -> Any:
        """Each record's tags, as :meth:`tagged_lines` gives its lines' (ORed), from one scan
        of the records joined by newlines; None where that scan cannot tell (no compiled
        scan loaded, or alternatives that are no literal). A dense chunk's lines are all
        given every tag unscanned; its few distinct records are tagged here, so each is
        decided with only the checks its literals call for (a literal that straddles two
        records only adds a tag to the second: a superset)."""
        import numpy as np

        scanner = self._literal_scanner
        if not scanner or self._residual_source is not None or not records:
            return None
        lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
        ends_of_records = np.cumsum(lengths + 1) - 1
        ends, groups = scanner.match_ends(b"\n".join(records))
        tags = np.zeros(len(records), dtype=np.uint8)
        np.bitwise_or.at(tags, np.searchsorted(ends_of_records, ends, side="left"),
                         scanner.tags[groups])
        return tags

    def _scanner(self) -> Any:
        if self._literal_scanner is None:
            literals, tags = self._shortest_cover()
            self._literal_scanner = literal_scanner(literals, tags) or False
        return self._literal_scanner or None

    @staticmethod
    def _lines_by_search(regexp: Any, data: bytes, newlines: Any, size: int | None = None
                         ) -> Any:
        import numpy as np

        found: list[int] = []
        size = len(data) if size is None else size
        position = 0
        while position < size:
            start = regexp.Match(_UNANCHORED, data, position, size)[0][0]
            if start < 0:
                break
            found.append(start)
            end = data.find(b"\n", start, size)
            position = end + 1 if end >= 0 else size
        return np.searchsorted(newlines, np.asarray(found, dtype=np.int64), side="right")


DENSE_PROBE_LINES = 512
"""Lines scanned before :meth:`Prefilter.tagged_lines` may take a dense chunk whole. Each
reported line of the probe costs a callback (about 1 us): 2,048 lines took 0.1 s of the
hit-heavy mix's planning. A sparse chunk taken whole by mistake (a burst of candidates at
its start) costs more decisions, never a missed line."""
DENSE_SHARE = 0.9
"""Share of the probe's lines that must hold a literal for the chunk to count as dense."""


def _tag_lines(scanner: LiteralScanner, data: Any, offset: int, newlines: Any,
               tags: Any) -> None:
    """ORs into ``tags`` the tags of the lines ``scanner`` reports in ``data``, which
    starts at byte ``offset`` of the chunk whose newlines are ``newlines``."""
    import numpy as np

    ends, groups = scanner.match_ends(data)
    np.bitwise_or.at(tags, np.searchsorted(newlines, ends + offset, side="left"),
                     scanner.tags[groups])


def _tag_every_line(tags: Any, newlines: Any, size: int, first: int) -> None:
    """``ALL_TAGS`` for every non-empty line from line ``first`` on (an empty line holds
    no literal, and the chunk's end after a last newline is no line)."""
    import numpy as np

    starts = np.concatenate(([0], newlines + 1))
    ends = np.append(newlines, size)
    tags[first:] = np.where(ends[first:] > starts[first:], ALL_TAGS, 0)


def unique_sorted(values: Any) -> Any:
    """The distinct values of an integer array, ascending: ``numpy.unique`` without its
    first call's import of ``numpy.ma`` (9 ms of every run's start, numpy 2.4)."""
    import numpy as np

    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


UNICODE_FOLDS = (b"\xe2\x84\xaa", b"\xc5\xbf")
"""RE2 folds case the Unicode way: a caseless ``k`` also matches the Kelvin sign and a
caseless ``s`` the long s. Hyperscan folds ASCII only, so lines holding either are hits too
(a superset, as a prefilter may be)."""
_MAX_LITERALS = 1 << 14
COMPILED_SCAN_BYTES = 256 * 1024
"""Chunks at least this large are scanned by Hyperscan; smaller ones (a small bundle's
members, a file's tail) by RE2, which needs no database compiled for them (~25 ms)."""


class LiteralScanner:
    """Hyperscan's block scan for the lines holding any of a set of caseless ASCII literals
    (or one of the two letters of :data:`UNICODE_FOLDS`, as they are).

    The literals are grouped by tag, and each group is one expression
    ``(?:literal|literal...)``: Hyperscan reports each occurrence's end, which numpy maps to
    its line. (Each group ending in ``[^\\n]*$`` gave one report per line and group instead,
    ~10% fewer reports on a verbose log, but made the scan itself 1.4 to 2 times slower.)"""

    def __init__(self, literals: tuple[bytes, ...], tags: tuple[int, ...] = ()) -> None:
        import hyperscan
        import numpy as np

        groups: dict[int, list[bytes]] = {}
        for literal, tag in zip(literals, tags or (ALL_TAGS,) * len(literals), strict=True):
            groups.setdefault(tag, []).append(literal)
        error: Exception | None = None
        # One expression per tag reports a line once per tag it holds; Hyperscan refuses an
        # expression it finds too large, and then the tag's literals are split in parts.
        for per_expression in (len(literals) or 1, _LITERALS_PER_EXPRESSION):
            if _longest_expression(groups, per_expression) > MAX_EXPRESSION_BYTES:
                continue  # refused for certain: not built nor tried
            expressions, group_tags = _grouped(groups, per_expression)
            flags = [hyperscan.HS_FLAG_CASELESS] * len(expressions)
            expressions.append(_literal_expression(list(UNICODE_FOLDS)))
            flags.append(0)
            try:
                self._database = _compiled(hyperscan, expressions, flags)
            except hyperscan.error as refused:
                error = refused
                continue
            self.tags = np.asarray([*group_tags, ALL_TAGS], dtype=np.uint8)
            return
        raise error or RuntimeError("no expression")

    def match_ends(self, data: bytes) -> tuple[Any, Any]:
        """(end offset of each occurrence found, index of its group): an occurrence ends
        at or before its line's newline, so ``searchsorted`` over the newlines finds its
        line."""
        import numpy as np

        from analyzer.engine.distinct import report_collector

        reports = report_collector()
        if reports is not None:
            self._database.scan(data, match_event_handler=reports)
            packed = np.frombuffer(reports.take(), dtype=np.int64)
            return packed >> 16, packed & 0xFFFF
        found: list[int] = []
        append = found.append

        def on_match(ident: int, _start: int, end: int, _flags: int, _context: Any) -> None:
            append(end << 16 | ident)

        self._database.scan(data, match_event_handler=on_match)
        packed = np.asarray(found, dtype=np.int64)
        return packed >> 16, packed & 0xFFFF


class LiteralPresence:
    """Which of a few byte strings occur anywhere in a chunk, as a bit mask (bit ``i`` for
    ``literals[i]``). One Hyperscan scan that reports each literal once (``SINGLEMATCH``):
    about 0.9 ms for four literals over 4 MB, where ``bytes.__contains__`` takes 1.4 to
    1.8 ms for each multi-byte one (measured). Without Hyperscan, ``in`` does it."""

    def __init__(self, literals: tuple[bytes, ...]) -> None:
        self.literals = literals
        self._database: Any = None
        if len(literals) < 64 and _hyperscan_enabled():
            try:
                self._database = _presence_database(literals)
            except Exception:  # not installed or refused: ``in`` does it
                self._database = None

    def present(self, data: bytes | memoryview) -> int:
        if self._database is None:
            text = data if isinstance(data, bytes) else bytes(data)
            return sum(1 << index for index, literal in enumerate(self.literals)
                       if literal in text)
        found = [0]

        def on_match(ident: int, _start: int, _end: int, _flags: int, _context: Any) -> None:
            found[0] |= 1 << ident

        self._database.scan(data, match_event_handler=on_match)
        return found[0]


def _presence_database(literals: tuple[bytes, ...]) -> Any:
    import hyperscan

    expressions = [b"".join(b"\\x%02x" % byte for byte in literal) for literal in literals]
    flags = [hyperscan.HS_FLAG_SINGLEMATCH] * len(expressions)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=expressions, ids=list(range(len(expressions))),
                     elements=len(expressions), flags=flags)
    return database


def _hyperscan_enabled() -> bool:
    import os

    return os.environ.get("WAAGENT_ANALYZER_HYPERSCAN", "1") != "0"


def _compiled(hyperscan: Any, expressions: list[bytes], flags: list[int]) -> Any:
    """The block-mode database of ``expressions``: compiling it takes ~0.1 s, so it is kept
    in the user's cache folder beside the rule pack, keyed on its expressions, flags and the
    Hyperscan version (a database that does not load is compiled again)."""
    import hashlib

    from analyzer.engine.cache import read_blob, write_blob

    version = getattr(hyperscan, "__version__", "")
    digest = hashlib.sha256(repr((version, expressions, flags)).encode()).hexdigest()[:40]
    name = f"hs-{digest}.db"
    cached = read_blob(name)
    if cached is not None:
        try:
            loaded = hyperscan.loadb(cached, hyperscan.HS_MODE_BLOCK)
            loaded.scratch = hyperscan.Scratch(loaded)  # a loaded database has none
            loaded.scan(b"\n", match_event_handler=lambda *_: None)
            return loaded
        except Exception:  # another build or a damaged file: compile it again
            pass
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=expressions, ids=list(range(len(expressions))),
                     elements=len(expressions), flags=flags)
    write_blob(name, bytes(hyperscan.dumpb(database)))
    return database


_LITERALS_PER_EXPRESSION = 64
"""Literals per expression when one expression per tag is refused (Hyperscan limits the
size of one expression)."""
MAX_EXPRESSION_BYTES = 16_000
"""The longest expression Hyperscan compiles ("Pattern length exceeds limit" past it,
hyperscan 0.9.1, measured). The shipped agent-log prefilter's one expression per tag is
16.8 KB: every run built and tried it (3 ms of the reader's start) before splitting it.
Another limit only changes which layout is compiled: one refused is still split."""


def _longest_expression(groups: dict[int, list[bytes]], per_expression: int) -> int:
    """Bytes of the longest expression :func:`_grouped` would build, without building it."""
    return max((_expression_length(members[begin:begin + per_expression])
                for members in groups.values()
                for begin in range(0, len(members), per_expression)), default=0)


def _expression_length(literals: list[bytes]) -> int:
    """``len(_literal_expression(literals))``: each byte other than an ASCII letter or digit
    is a 4-byte escape, each part gap the line-gap regex."""
    total = len(b"(?:)") + max(len(literals) - 1, 0)  # the brackets and the bars
    for literal in literals:
        gaps = literal.count(_LINE_GAP_BYTE)
        escaped = len(literal.translate(None, _LETTERS_AND_DIGITS)) - gaps
        total += len(literal) - gaps + 3 * escaped + gaps * len(_LINE_GAP_REGEX)
    return total


_LETTERS_AND_DIGITS = bytes(byte for byte in range(128) if chr(byte).isalnum())


def _grouped(groups: dict[int, list[bytes]], per_expression: int
             ) -> tuple[list[bytes], list[int]]:
    """Line expressions of at most ``per_expression`` literals each, and the tag of each."""
    expressions: list[bytes] = []
    tags: list[int] = []
    for tag, members in groups.items():
        for begin in range(0, len(members), per_expression):
            expressions.append(_literal_expression(members[begin:begin + per_expression]))
            tags.append(tag)
    return expressions, tags


def _literal_expression(literals: list[bytes]) -> bytes:
    escaped = (_LINE_GAP_REGEX.join(b"".join(_ESCAPED[byte] for byte in part)
                                    for part in literal.split(_LINE_GAP_BYTE))
               for literal in literals)
    return b"(?:" + b"|".join(escaped) + b")"


_ESCAPED = tuple(bytes([byte]) if chr(byte).isalnum() and byte < 0x80 else b"\\x%02x" % byte
                 for byte in range(256))
"""Each byte as Hyperscan reads it literally: ASCII letters and digits as they are, any
other byte as a hex escape."""


LINE_GAP = "\0"
"""Joins the parts of a compound literal: ``a\0b`` stands for ``a``, then ``b`` later on the
same line (a pattern needs both, and nothing between them can match a newline). NUL never
stands in a literal the parser proves (hex escapes are not modelled)."""
_LINE_GAP_BYTE = LINE_GAP.encode()
_LINE_GAP_REGEX = b"[^\\n]*"


def _literal_regex(literal: bytes) -> bytes:
    """RE2 syntax for a literal (its parts in order on one line, for a compound one)."""
    return _LINE_GAP_REGEX.join(re2.escape(part) for part in literal.split(_LINE_GAP_BYTE))


def literal_scanner(literals: tuple[bytes, ...], tags: tuple[int, ...] = ()
                    ) -> LiteralScanner | None:
    """A compiled scanner for ``literals``, or None when there are none, too many, or
    Hyperscan is not installed (or ``WAAGENT_ANALYZER_HYPERSCAN=0``): then RE2 does it all."""
    if not literals or len(literals) + len(UNICODE_FOLDS) > _MAX_LITERALS:
        return None
    if not _hyperscan_enabled():
        return None
    try:
        return LiteralScanner(literals, tags)
    except Exception:  # not installed, or the set refused: RE2 does it all
        return None


def prefilter_alternatives(patterns: tuple[str, ...]) -> list[bytes]:
    """Required literals where they can be proven, the unanchored pattern otherwise."""
    alternatives: list[bytes] = []
    for pattern in patterns:
        literals = required_literals(pattern)
        if literals:
            alternatives.extend(_literal_regex(literal.encode("utf-8"))
                                for literal in sorted(literals))
        else:
            alternatives.append(b"(?:" + unanchored(pattern).encode("utf-8") + b")")
    return list(dict.fromkeys(alternatives))


@lru_cache(maxsize=64)
def compile_prefilter(patterns: tuple[str, ...], tags: tuple[int, ...] = ()) -> Prefilter:
    """``tags``: a bit mask per pattern (what kind of pattern it is), carried to the lines
    its literals are found on (:meth:`Prefilter.tagged_lines`)."""
    recipe = _cached_recipe(patterns, tags)
    return Prefilter(recipe.whole, recipe.literal_tags, recipe.residual, recipe.residual_tags,
                     recipe.cover)


@dataclass(frozen=True)
class _Recipe:
    """What a prefilter is compiled from: a pure function of its patterns and tags."""

    whole: bytes
    """The case-insensitive alternation of every pattern's literals (or the pattern)."""
    literal_tags: dict[bytes, int]
    residual: bytes | None
    residual_tags: int
    cover: tuple[tuple[bytes, ...], tuple[int, ...]]

    def as_plain(self) -> tuple[Any, ...]:
        return (self.whole, self.literal_tags, self.residual, self.residual_tags,
                self.cover[0], self.cover[1])

    @staticmethod
    def from_plain(value: Any) -> _Recipe | None:
        """The recipe a cache file holds, or None when it holds anything else."""
        if not (isinstance(value, tuple) and len(value) == 6):
            return None
        whole, literal_tags, residual, residual_tags, literals, tags = value
        if not (isinstance(whole, bytes) and isinstance(literal_tags, dict)
                and all(isinstance(key, bytes) and isinstance(tag, int)
                        for key, tag in literal_tags.items())
                and (residual is None or isinstance(residual, bytes))
                and isinstance(residual_tags, int)
                and isinstance(literals, tuple) and isinstance(tags, tuple)
                and len(literals) == len(tags)
                and all(isinstance(literal, bytes) for literal in literals)
                and all(isinstance(tag, int) for tag in tags)):
            return None
        return _Recipe(whole, literal_tags, residual, residual_tags, (literals, tags))


def _cached_recipe(patterns: tuple[str, ...], tags: tuple[int, ...]) -> _Recipe:
    """:func:`_recipe`, kept in the user's cache folder: proving the literals of the pack's
    ~170 patterns and covering them took 60 to 90 ms at the start of every large run,
    before any chunk could be planned. Keyed on the patterns, the tags and the engine's
    code; only plain bytes, ints, dicts and tuples are taken back."""
    import hashlib
    import pickle

    from analyzer.engine.cache import caching, engine_code_hash, read_blob, write_blob

    if not caching():  # nothing to read or write: no key to work out (the code's hash)
        return _recipe(patterns, tags)
    digest = hashlib.sha256(repr((engine_code_hash(), patterns, tags)).encode()).hexdigest()
    name = f"prefilter-{digest[:40]}.pickle"
    cached = read_blob(name)
    if cached is not None:
        try:
            found = _Recipe.from_plain(pickle.loads(cached))
        except Exception:  # a damaged or foreign file: worked out again
            found = None
        if found is not None:
            return found
    recipe = _recipe(patterns, tags)
    write_blob(name, pickle.dumps(recipe.as_plain(), protocol=pickle.HIGHEST_PROTOCOL))
    return recipe


def _recipe(patterns: tuple[str, ...], tags: tuple[int, ...]) -> _Recipe:
    # Case-insensitive as a whole: rule patterns are (by default) case-insensitive, a
    # superset costs nothing here (measured: same speed as the case-sensitive alternation).
    alternatives = prefilter_alternatives(patterns)
    whole = b"(?i:" + b"|".join(alternatives) + b")"
    literal_tags: dict[bytes, int] = {}
    others: list[bytes] = []
    residual_tags = 0
    for pattern, tag in zip(patterns, tags or (ALL_TAGS,) * len(patterns), strict=True):
        found = required_literals(pattern)
        encoded = [literal.encode("utf-8") for literal in sorted(found or ())]
        if found and all(_plain_ascii(literal) for literal in encoded):
            for literal in encoded:
                literal_tags[literal] = literal_tags.get(literal, 0) | tag
            continue
        residual_tags |= tag
        if found:  # as in the whole alternation: the literals, escaped
            others.extend(_literal_regex(literal) for literal in encoded)
        else:
            others.append(b"(?:" + unanchored(pattern).encode("utf-8") + b")")
    residual = b"(?i:" + b"|".join(dict.fromkeys(others)) + b")" if others else None
    return _Recipe(whole, literal_tags, residual, residual_tags or ALL_TAGS,
                   _shortest_cover(literal_tags))


def _shortest_cover(literal_tags: dict[bytes, int]) -> tuple[tuple[bytes, ...],
                                                              tuple[int, ...]]:
    """The literals less those holding another one (caselessly): a line holding
    ``[HTTP Failed] GET`` holds ``[HTTP Failed]``, so the longer one only adds reports of
    the same lines to the scan. A kept literal takes the tags of those it stands for."""
    kept: list[bytes] = []
    folded_kept: list[bytes] = []
    tags: list[int] = []
    for literal in sorted(literal_tags, key=lambda item: (len(item), item)):
        folded = literal.lower()
        holders = [index for index, shorter in enumerate(folded_kept) if shorter in folded]
        if not holders:
            kept.append(literal)
            folded_kept.append(folded)
            tags.append(literal_tags[literal])
            continue
        for index in holders:
            tags[index] |= literal_tags[literal]
    return tuple(kept), tuple(tags)


def _plain_ascii(literal: bytes) -> bool:
    return literal.isascii() and b"\n" not in literal and bool(literal)


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

    @property
    def raw_match(self) -> Any:
        """RE2's own set matcher, for bytes (no wrapper layers: the bulk path calls it once
        per distinct record). Returns the indices of the patterns found, or a falsy value."""
        inner = getattr(self._set, "_set", None)
        return inner.Match if inner is not None else self.Match

    def __reduce__(self) -> tuple[Any, tuple[tuple[str, ...]]]:
        return (PatternSet, (self._patterns,))


def compile_set(patterns: tuple[str, ...]) -> PatternSet | None:
    if not patterns:
        return None
    try:
        return PatternSet(patterns)
    except re2.error as error:
        raise PatternError(_message(error)) from None


# -- literal extraction for the prefilter ------------------------------------------------------
#
# One alternation of ~60 full rule patterns blows up RE2's DFA (40 MB/s measured); an
# alternation of plain literals runs at several hundred MB/s. So the prefilter looks for
# literals that every match of a pattern must contain, and keeps the full pattern only when
# none can be proven.

_LITERAL_ESCAPES = set("[](){}.*+?^$|\\/-'\"#&~<>=!:,;%@` ")
_CLASS_ESCAPES = set("dDwWsSbBAzpPC")
MIN_LITERAL = 4
_FLAG_GROUP = re.compile(r"\?[imsU]+:")
_FLAG_SETTING = re.compile(r"\(\?[imsU-]+\)")


class _Unsure(Exception):
    """The pattern uses something this small parser does not model: keep the full pattern."""


_MAX_RUNS = 32
"""Most literals a run crossed with exact groups, or a compound, may stand for."""
SPECIFIC_LITERAL = 16
"""A literal set whose shortest literal is this long is kept alone: a compound costs the
compiled scan more than a literal (all 139 compounds: 73 ms per 40 MB where literals alone
took 56), and the candidate lines it saves all came from sets of shorter literals (41
compounds: 59 ms, the same lines)."""
_PLAIN_ALTERNATIVES = re.compile(
    r"(?:[^\\()\[\]{}|.*+?^$]|\\[^A-Za-z0-9])*(?:\|(?:[^\\()\[\]{}|.*+?^$]|\\[^A-Za-z0-9])*)*")
"""A group body of plain literal alternatives (escaped punctuation allowed): it matches
exactly those strings."""
_CROSSING_ESCAPES = set("sWDpPC")
"""Escapes whose class holds the newline."""


class _Atom(NamedTuple):
    literals: set[str] | None
    """The literal set of a required group, else None."""
    char: str | None
    """The literal character, else None."""
    exact: set[str] | None = None
    """A group of plain literal alternatives: the strings it matches."""
    crosses: bool = False
    """Whether it may match (or hold) a newline."""


class _LiteralScanner:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0
        self.dotall = False
        self.crossed = False
        """Whether an atom parsed so far (in the group being parsed) may match a newline."""

    def alternation(self) -> set[str] | None:
        choices: list[set[str] | None] = [self.sequence()]
        while self.pos < len(self.text) and self.text[self.pos] == "|":
            self.pos += 1
            choices.append(self.sequence())
        if any(choice is None for choice in choices):
            return None
        return set().union(*choices)  # type: ignore[arg-type]

    def sequence(self) -> set[str] | None:
        """The strongest literal set of one alternative: every match holds one of them.
        Literal runs take in the exact groups they touch (``(?:GET|PUT) /x`` gives
        ``GET /x`` and ``PUT /x``), and the two strongest sets on one line are joined
        (:data:`LINE_GAP`): ``goal state[^\\n]*410: Gone`` needs both."""
        parts: list[tuple[set[str], int]] = []
        """Each required literal set and the stretch of the line it lies in: a part that
        may hold a newline, or follows one, starts another stretch."""
        stretch = 0
        runs: set[str] = {""}

        def close_runs() -> None:
            nonlocal runs
            if min(len(run) for run in runs) >= MIN_LITERAL:
                parts.append((runs, stretch))
            runs = {""}

        while self.pos < len(self.text) and self.text[self.pos] not in "|)":
            atom = self.atom()
            self.crossed = self.crossed or atom.crosses
            quantifier = self.quantifier()
            if atom.char is not None and quantifier[:1] in ("", "+", "="):
                runs = {run + atom.char * (int(quantifier[1:]) if quantifier[1:] else 1)
                        for run in runs}
                if quantifier[:1] == "+":
                    close_runs()
                stretch += atom.crosses
                continue
            if (atom.exact is not None and not quantifier
                    and len(runs) * len(atom.exact) <= _MAX_RUNS):
                runs = {run + choice for run in runs for choice in atom.exact}
                stretch += atom.crosses
                continue
            close_runs()
            stretch += atom.crosses
            if atom.literals is not None and quantifier[:1] in ("", "+", "="):
                parts.append((atom.literals, stretch))
            stretch += atom.crosses
        close_runs()
        usable = [part for part in parts if min(len(s) for s in part[0]) >= MIN_LITERAL]
        if not usable:
            return None
        return _strongest(usable)

    def atom(self) -> _Atom:
        char = self.text[self.pos]
        if char == "(":
            return self.group()
        if char == "[":
            return _Atom(None, None, crosses=self.skip_class())
        if char == "\\":
            escaped = self.text[self.pos + 1:self.pos + 2]
            self.pos += 2
            if escaped in _LITERAL_ESCAPES:
                return _Atom(None, escaped)
            if escaped == "n":
                return _Atom(None, "\n", crosses=True)
            if escaped in _CLASS_ESCAPES or escaped.isdigit():
                return _Atom(None, None, crosses=escaped in _CROSSING_ESCAPES
                             or escaped.isdigit())
            raise _Unsure(f"escape \\{escaped}")
        self.pos += 1
        if char in ".^$":
            return _Atom(None, None, crosses=char == "." and self.dotall)
        return _Atom(None, char, crosses=char == "\n")

    def group(self) -> _Atom:
        self.pos += 1
        dotall, crossed = self.dotall, self.crossed
        self.crossed = False
        if self.text.startswith("?:", self.pos):
            self.pos += 2
        elif self.text.startswith("?P<", self.pos):
            self.pos = self.text.index(">", self.pos) + 1
        elif _FLAG_GROUP.match(self.text, self.pos):
            # (?i:...) and the like: the prefilter is caseless and ``.`` only widens, so the
            # group's literals are still required.
            flags_end = self.text.index(":", self.pos)
            self.dotall = dotall or "s" in self.text[self.pos:flags_end]
            self.pos = flags_end + 1
        elif self.text.startswith("?", self.pos):
            raise _Unsure("flags or other group syntax")
        body_start = self.pos
        inner = self.alternation()
        if self.pos >= len(self.text) or self.text[self.pos] != ")":
            raise _Unsure("unbalanced group")
        body = self.text[body_start:self.pos]
        self.pos += 1
        crosses = self.crossed
        self.dotall, self.crossed = dotall, crossed
        return _Atom(inner, None, _plain_alternatives(body), crosses)

    def skip_class(self) -> bool:
        """Skips a character class; whether it may match a newline."""
        self.pos += 1
        negated = self.text.startswith("^", self.pos)
        if negated:
            self.pos += 1
        begin = self.pos
        if self.text.startswith("]", self.pos):
            self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != "]":
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        body = self.text[begin:self.pos]
        self.pos += 1
        holds_newline = "\\n" in body or "\n" in body
        if negated:
            return not holds_newline
        return holds_newline or _class_may_cross(body)

    def quantifier(self) -> str:
        """"" (exactly once), "+" (one or more), "?" (possibly absent), "=n" (exactly n
        times) or "+n" (at least n times)."""
        if self.pos >= len(self.text):
            return ""
        char = self.text[self.pos]
        if char in "?*+":
            self.pos += 1
            if self.text.startswith("?", self.pos):
                self.pos += 1  # lazy
            return "+" if char == "+" else "?"
        if char == "{":
            end = self.text.find("}", self.pos)
            body = self.text[self.pos + 1:end] if end > 0 else ""
            low = body.split(",")[0]
            if end > 0 and low.isdigit():
                self.pos = end + 1
                if body.isdigit() and 0 < int(body) <= MIN_LITERAL * 4:
                    return f"={int(body)}"
                return f"+{min(int(low), MIN_LITERAL * 4)}" if int(low) >= 1 else "?"
        return ""


def _strongest(parts: list[tuple[set[str], int]]) -> set[str]:
    """The strongest literal set (longest shortest literal, then fewest), joined with the
    next strongest on the same stretch of line when both are plain literals and the
    strongest is shorter than :data:`SPECIFIC_LITERAL`."""

    def strength(index: int) -> tuple[int, int]:
        literals = parts[index][0]
        return min(len(s) for s in literals), -len(literals)

    def joinable(index: int) -> bool:  # one line's text, not yet a compound
        return not any(LINE_GAP in s or "\n" in s for s in parts[index][0])

    order = sorted(range(len(parts)), key=strength, reverse=True)
    best = order[0]
    if strength(best)[0] >= SPECIFIC_LITERAL:
        return parts[best][0]
    plain = [index for index in order[1:] if parts[index][1] == parts[best][1]
             and joinable(index)]
    if not plain or not joinable(best):
        return parts[best][0]
    first, second = sorted((best, plain[0]))
    if len(parts[first][0]) * len(parts[second][0]) > _MAX_RUNS:
        return parts[best][0]
    return {a + LINE_GAP + b for a in parts[first][0] for b in parts[second][0]}


def _plain_alternatives(body: str) -> set[str] | None:
    """The strings a group body of plain literal alternatives matches, else None."""
    if not _PLAIN_ALTERNATIVES.fullmatch(body):
        return None
    choices, current, index = [], "", 0
    while index < len(body):
        if body[index] == "\\":
            current += body[index + 1]
            index += 2
            continue
        if body[index] == "|":
            choices.append(current)
            current = ""
        else:
            current += body[index]
        index += 1
    choices.append(current)
    return set(choices)


def _class_may_cross(body: str) -> bool:
    """Whether a (not negated) class body holds the newline: an escape other than the
    plain ones or a range over byte 10."""
    index = 0
    previous = ""
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1:index + 2]
            if escaped.isalnum() and escaped not in "dwS":
                return True
            previous = escaped
            index += 2
            continue
        if char == "-" and previous and index + 1 < len(body):
            high = body[index + 1]
            if high == "\\" or ord(previous) <= 10 <= ord(high):
                return True
        previous = char
        index += 1
    return False


def required_literals(pattern: str) -> frozenset[str] | None:
    """Literals at least one of which every match of ``pattern`` contains, or None (cached:
    a batch's forkserver works them out once for every child)."""
    return _required_literals(pattern)


@lru_cache(maxsize=4096)
def _required_literals(pattern: str) -> frozenset[str] | None:
    """Literals at least one of which every match of ``pattern`` contains, or None.

    >>> sorted(required_literals(r"\\[HTTP Failed\\] (?:GET|POST) \\S+ -- IOError (?P<e>.*)"))
    ['[HTTP Failed] GET ', '[HTTP Failed] POST ']
    >>> sorted(required_literals(r"goal state[^\\n]*(?:410: Gone|Resource is gone)"))
    ['goal state\\x00410: Gone', 'goal state\\x00Resource is gone']
    >>> sorted(required_literals(r"^(?:Command: |Launch command succeeded: )"))
    ['Command: ', 'Launch command succeeded: ']
    >>> sorted(required_literals(r"(?i)timeout after"))
    ['timeout after']
    >>> required_literals(r"a(?i)timeout") is None
    True

    A leading ``(?i)`` (how case-insensitive rule patterns are compiled) is dropped: the
    prefilter built from these literals is itself case-insensitive.
    """
    while pattern.startswith(CASE_INSENSITIVE):
        pattern = pattern[len(CASE_INSENSITIVE):]
    if _FLAG_SETTING.search(pattern):
        return None  # flags switched mid-pattern, e.g. ``a(?i)b``: not modelled
    scanner = _LiteralScanner(pattern)
    try:
        found = scanner.alternation()
    except (_Unsure, ValueError, IndexError):
        return None
    if scanner.pos != len(pattern):
        return None
    return frozenset(found) if found is not None else None
