"""The message catalogue: every human-facing UI string of the reports, in every language.

One source of truth: ``analyzer/report/messages/<lang>.toml`` (flat ``[section]`` tables,
looked up as ``"section.key"``). Placeholders use ``str.format`` syntax (``{count}``).
Rule texts (titles, messages, remediation) are not here: they come from the rule files, in
the chosen language already.

Cheap to import (stdlib only); a catalogue file is parsed the first time it is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

_MESSAGES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "messages")

__all__ = [
    "CATEGORY_CAUSE",
    "DEFAULT_LANG",
    "GUIDE_CAUSES",
    "LANGS",
    "catalogue",
    "category_label",
    "cause_label",
    "finding_cause",
    "normalize_lang",
    "pick_lang",
    "severity_label",
    "t",
    "tn",
]

LANGS = ("en", "pt-BR")
DEFAULT_LANG = "en"

GUIDE_CAUSES = (1, 2, 3, 4, 5)
"""Causes of the pt-BR troubleshooting guide (``seed/backup-azure-troubleshoot-vm-agent``)."""

CATEGORY_CAUSE: Mapping[str, int | None] = {
    "network": 1,
    "dhcp": 5,
    "goal-state": 5,
    "agent-outdated": 2,
    "agent-not-running": 2,
    "agent-crash": 2,
    "extension-outdated": 4,
    "extension-failure": 4,
    "snapshot-timeout": 5,
    "snapshot-failure": 5,
    "resource-pressure": 5,
    "configuration": None,
}
"""Guide cause a finding category usually belongs to. ``configuration`` spans several causes
(2, 4, 5), so its findings rely on their own ``guide_cause``."""


def normalize_lang(value: str) -> str | None:
    """Map a language tag or POSIX locale (``pt_BR.UTF-8``, ``pt``, ``en_US``) to a supported
    language, or ``None`` when it is not one we ship."""
    tag = value.strip().split(".", 1)[0].split("@", 1)[0].replace("_", "-").lower()
    if tag.startswith("pt"):
        return "pt-BR"
    if tag in ("c", "posix") or tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def pick_lang(option: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The report language.

    An explicit ``option`` (``--lang``) wins and must be supported (``ValueError`` otherwise).
    Without it the locale decides, with POSIX precedence: the first non-empty of ``LC_ALL``,
    ``LC_MESSAGES``, ``LANG``; anything starting with ``pt`` gives ``pt-BR``, everything else
    (including no locale at all) gives ``en``.
    """
    if option:
        lang = normalize_lang(option)
        if lang is None:
            raise ValueError(
                f"unsupported language {option!r}; choose one of: {', '.join(LANGS)}"
            )
        return lang
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return normalize_lang(value) or DEFAULT_LANG
    return DEFAULT_LANG


def _flatten(table: Mapping[str, Any], prefix: str, out: dict[str, str], lang: str) -> None:
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, full + ".", out, lang)
        elif isinstance(value, str):
            out[full] = value
        else:
            raise TypeError(f"messages/{lang}.toml: {full} must be a string")


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """All messages of one language, keyed ``"section.key"``."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; choose one of: {', '.join(LANGS)}")
    import tomllib  # only when a report is actually rendered

    with open(os.path.join(_MESSAGES_DIR, f"{lang}.toml"), "rb") as handle:
        data = tomllib.load(handle)
    out: dict[str, str] = {}
    _flatten(data, "", out, lang)
    return out


def t(key: str, lang: str, /, **kwargs: Any) -> str:
    """The message ``key`` in ``lang``, formatted with ``kwargs``.

    A key missing in ``lang`` falls back to English (the parity test keeps that from
    happening); a key missing everywhere is a bug and raises ``KeyError``.
    """
    messages = catalogue(lang)
    template = messages.get(key)
    if template is None:
        template = catalogue(DEFAULT_LANG)[key]
    return template.format(**kwargs) if kwargs else template


def tn(key: str, count: int, lang: str, /, **kwargs: Any) -> str:
    """Plural-aware :func:`t`: uses ``key.one`` for 1 and ``key.other`` otherwise
    (both languages we ship pluralise that way); ``count`` is available as ``{count}``."""
    form = "one" if count == 1 else "other"
    return t(f"{key}.{form}", lang, count=count, **kwargs)


def severity_label(severity: str, lang: str) -> str:
    """Human name of a severity (``high`` -> ``High`` / ``Alta``)."""
    try:
        return t(f"severity.{severity}", lang)
    except KeyError:
        return severity


def category_label(category: str, lang: str) -> str:
    """Human name of a finding category (``goal-state`` -> ``Goal state``)."""
    try:
        return t(f"category.{category}", lang)
    except KeyError:
        return category


def cause_label(cause: int, lang: str) -> str:
    """``Cause 4: The backup extension cannot be updated or loaded`` in ``lang``."""
    return t("cause.label", lang, number=cause, title=t(f"cause.{cause}", lang))


def finding_cause(category: str, guide_cause: int | None) -> int | None:
    """The guide cause of a finding: its own ``guide_cause``, else its category's."""
    if guide_cause in GUIDE_CAUSES:
        return guide_cause
    return CATEGORY_CAUSE.get(category)
