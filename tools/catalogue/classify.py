"""Classify extracted message templates with the ordered map in ``classify.toml``.

Each ``[[map]]`` entry names a regex searched in the template (plus optional ``kinds``,
``groups``, ``levels`` filters) and either ``rule = "WAA-..."`` or ``benign = "<reason>"``;
the first entry that matches wins. Entries for rules also say how the message reaches the log
(``wrap``), which extension it concerns and what the holes are filled with for a sample line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.catalogue.catalogue import Message, sample_lines

if TYPE_CHECKING:
    from tools.catalogue.extract import Entry

MAP_FILE = Path(__file__).with_name("classify.toml")


@dataclass
class MapEntry:
    match: re.Pattern[str]
    category: str
    rule: str = ""
    benign: str = ""
    kinds: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    wrap: str = ""
    extension: str = ""
    fill: list[str] = field(default_factory=list)
    repeat: int = 1
    hits: int = 0

    def applies(self, e: Entry) -> bool:
        if self.kinds and e.kind not in self.kinds:
            return False
        if self.groups and not e.groups <= set(self.groups):  # only templates of these groups
            return False
        if self.levels and e.level not in self.levels:
            return False
        return bool(self.match.search(e.template))


def load_rules_map(path: Path = MAP_FILE) -> list[MapEntry]:
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for raw in data["map"]:
        raw = dict(raw)
        raw["match"] = re.compile(raw["match"])
        if bool(raw.get("rule")) == bool(raw.get("benign")):
            raise ValueError(f"map entry {raw['match'].pattern!r}: give exactly one of rule/benign")
        out.append(MapEntry(**raw))
    return out


def classify_all(entries: list[Entry], rules_map: list[MapEntry]) -> list[Message]:
    out = []
    for e in entries:
        hit = next((m for m in rules_map if m.applies(e)), None)
        msg = Message(
            id=e.id,
            template=e.template,
            level=e.level,
            kind=e.kind,
            groups=sorted(e.groups),
            modules=sorted(e.modules),
            versions=list(e.versions),
            sites=e.sites,
            category=hit.category if hit else "unclassified",
            exception=e.exception,
            event_op=e.event_op,
        )
        if hit:
            hit.hits += 1
            msg.rule, msg.benign = hit.rule, hit.benign
            msg.wrap, msg.extension, msg.fill, msg.repeat = (
                hit.wrap,
                hit.extension,
                list(hit.fill),
                hit.repeat,
            )
            msg.samples = sample_lines(msg)
        out.append(msg)
    unused = [m.match.pattern for m in rules_map if not m.hits]
    if unused:
        print(f"map entries that matched nothing: {unused}")
    return out
