"""Known-benign messages: noise the agent team sees on healthy VMs.

A finding whose evidence is made only of such messages, no more often than the entry's
threshold, is down-ranked to ``info`` instead of alarming (``rules/benign.toml``). The reason
is shown to the reader, so an entry carries it in every report language
(``[benign.translations.pt-BR]`` ``reason``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from analyzer.engine.regex import PatternError, compile_pattern


class _HasRecords(Protocol):
    records_text: list[str]


@dataclass
class BenignEntry:
    id: str
    pattern: str
    sample: str
    max_count: int
    reason: str
    translations: dict[str, str] = field(default_factory=dict)
    """``{lang: reason}`` for languages other than English."""
    unless: str = ""
    """A message that also matches this is not the benign kind (the agent gave up the whole
    operation, not one retried call); empty: no exception."""

    def reason_in(self, lang: str) -> str:
        return self.translations.get(lang) or self.reason

    def matches(self, text: str) -> bool:
        if self.unless and compile_pattern(self.unless).search(text) is not None:
            return False
        return compile_pattern(self.pattern).search(text) is not None


@dataclass
class BenignList:
    entries: list[BenignEntry]

    def downrank_reason(self, results: Iterable[_HasRecords], count: int,
                        lang: str = "en") -> str:
        texts = [text for result in results for text in result.records_text]
        if not texts:
            return ""
        for entry in self.entries:
            if count <= entry.max_count and all(entry.matches(t) for t in texts):
                tally = _TALLY.get(lang, _TALLY["en"]).format(count=count, limit=entry.max_count)
                return f"{entry.id}: {entry.reason_in(lang)} ({tally})"
        return self._mixed_reason(results, lang)

    def _mixed_reason(self, results: Iterable[_HasRecords], lang: str) -> str:
        """Several kinds of known noise together (one telemetry drop, one goal-state timeout,
        one heartbeat failure): benign when every record is of some kind and each kind stays
        within its own threshold, as the agent team counts them, one counter per kind. A
        record's kind is the first entry it matches; a kind's count is its largest count in
        any one check (the checks of a rule see the same records)."""
        tallies: dict[str, int] = {}
        for result in results:
            counted: dict[str, int] = {}
            for text in result.records_text:
                entry = next((e for e in self.entries if e.matches(text)), None)
                if entry is None:
                    return ""
                counted[entry.id] = counted.get(entry.id, 0) + 1
            for entry_id, seen in counted.items():
                tallies[entry_id] = max(tallies.get(entry_id, 0), seen)
        by_id = {entry.id: entry for entry in self.entries}
        if len(tallies) < 2 or any(seen > by_id[i].max_count for i, seen in tallies.items()):
            return ""
        template = _TALLY.get(lang, _TALLY["en"])
        parts = []
        for entry_id, seen in tallies.items():
            entry = by_id[entry_id]
            tally = template.format(count=seen, limit=entry.max_count)
            parts.append(f"{entry_id}: {entry.reason_in(lang)} ({tally})")
        return "; ".join(parts)


_TALLY = {"en": "seen {count}x, threshold {limit}", "pt-BR": "visto {count}x, limite {limit}"}


def load_benign(path: Path) -> tuple[BenignList, list[str]]:
    """Load the list; returns it plus error messages (a bad entry is skipped, not fatal)."""
    if not path.is_file():
        return BenignList([]), []
    errors: list[str] = []
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        return BenignList([]), [f"{path}: {error}"]
    entries = []
    for index, raw in enumerate(data.get("benign", [])):
        try:
            entry = BenignEntry(
                str(raw["id"]),
                str(raw["pattern"]),
                str(raw["sample"]),
                int(raw.get("max_count", 1)),
                str(raw.get("reason", "")),
                _translated_reasons(raw.get("translations", {})),
                str(raw.get("unless", "")),
            )
            compile_pattern(entry.pattern)
            if entry.unless:
                compile_pattern(entry.unless)
        except (KeyError, TypeError, ValueError, PatternError) as error:
            errors.append(f"{path}: benign entry {index + 1}: {error}")
            continue
        if not entry.matches(entry.sample):
            errors.append(f"{path}: benign entry {entry.id}: its sample does not match its pattern")
            continue
        entries.append(entry)
    return BenignList(entries), errors


def _translated_reasons(raw: Any) -> dict[str, str]:
    """``[benign.translations.<lang>]`` tables: ``{lang: reason}``."""
    if not isinstance(raw, dict):
        raise TypeError("'translations' must be a table of languages")
    reasons = {}
    for lang, table in raw.items():
        if not isinstance(table, dict) or not isinstance(table.get("reason"), str):
            raise TypeError(f"translation {lang!r} must be a table with a 'reason' text")
        reasons[str(lang)] = table["reason"]
    return reasons
