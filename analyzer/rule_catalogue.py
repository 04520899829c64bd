"""Rule views for authors and tools: the JSON catalogue (``rules list --format json``) and a
rule shown as TOML (``rules show``). Every string from a rule file is escaped for the
terminal: a rule file from elsewhere cannot send control sequences (ESC, OSC 52, OSC 8)."""

from __future__ import annotations

import json
from typing import Any

from analyzer.checkable import SOURCE_GROUPS, rule_sources
from analyzer.engine.model import Rule
from analyzer.report.sanitize import for_terminal

__all__ = ["CATALOGUE_SCHEMA", "catalogue_json", "rule_as_toml", "rule_entry"]

CATALOGUE_SCHEMA = "waagent-analyzer/rules/v1"
_GROUP_OF = {kind: group for group, kinds in SOURCE_GROUPS.items() for kind in kinds}


def _translated(rule: Rule, lang: str) -> dict[str, str]:
    """The rule's ``[translations.<lang>]`` table (empty for English or a rule without one)."""
    return getattr(rule, "translations", {}).get(lang, {})


def rule_entry(rule: Rule) -> dict[str, Any]:
    kinds = rule_sources(rule)
    return {
        "id": rule.id,
        "title": rule.title,
        "title_pt": _translated(rule, "pt-BR").get("title") or None,
        "category": rule.category,
        "severity": rule.severity,
        "guide_cause": rule.guide_cause,
        "description": rule.description.strip(),
        "condition": rule.condition_text,
        "checks": sorted(rule.checks),
        "reads": sorted({_GROUP_OF.get(k, k) for k in kinds}) if kinds is not None else [],
        "params": dict(rule.params),
        "references": list(rule.references),
        "tags": list(rule.tags),
        "file": rule.path.name if rule.path is not None else None,
    }


def catalogue_json(rules: list[Rule]) -> str:
    """ASCII-only JSON: control characters in rule text arrive as ``\\u001b`` escapes."""
    document = {"schema": CATALOGUE_SCHEMA, "rules": [rule_entry(rule) for rule in rules]}
    return json.dumps(document, ensure_ascii=True, indent=2, default=str)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def rule_as_toml(rule: Rule, lang: str = "en") -> str:
    """The rule file as its author wrote it, after a comment with the title in ``lang`` and
    the parameters in effect (``--param`` overrides included), escaped for the terminal."""
    header = [f"# {rule.id}: {_translated(rule, lang).get('title') or rule.title}"]
    if rule.path is not None:
        header.append(f"# file: {rule.path}")
    if rule.params:
        header.append("# parameters in effect: " + ", ".join(
            f"{name} = {_toml_value(value)}" for name, value in rule.params.items()))
    body = ""
    if rule.path is not None:
        try:
            body = rule.path.read_text(encoding="utf-8")
        except OSError as error:
            body = f"# cannot read the rule file: {error.strerror or error}\n"
    text = "\n".join(header) + "\n\n" + body
    return for_terminal(text.rstrip("\n"), multiline=True)
