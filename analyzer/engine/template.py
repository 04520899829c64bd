"""Finding message templates: ``"WireServer unreachable: {error} ({count} times)"``.

A template may name variables (params, captures, ``count``, ``first_seen``, ``last_seen``)
and give a small format spec (``{count:>4}``); nothing else. Attribute and index access
(``{x.__class__}``, ``{x[0]}``), nested fields and widths or precisions above
:data:`MAX_FORMAT_WIDTH` are rule errors at load time, and are refused again at fill time, so
a template can neither reach Python objects nor ask for gigabytes of padding.
"""

from __future__ import annotations

import re
import string
from typing import Any

MAX_FORMAT_WIDTH = 100
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBERS = re.compile(r"\d+")


def template_problems(template: str) -> list[str]:
    """What is wrong with a message template (empty when it is fine)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        return [f"invalid message template: {error}"]
    problems = []
    for _, field_name, spec, _ in parts:
        if field_name is None:
            continue
        if not _NAME.fullmatch(field_name):
            problems.append(
                f"message field {{{field_name}}} must be a plain variable name "
                "(no attribute or index access, no positional fields)")
        if spec and ("{" in spec or "}" in spec):
            problems.append(f"message field {{{field_name}}}: nested fields are not allowed")
        elif spec and any(int(n) > MAX_FORMAT_WIDTH for n in _NUMBERS.findall(spec)):
            problems.append(f"message field {{{field_name}:{spec}}}: width or precision above "
                            f"{MAX_FORMAT_WIDTH}")
    return problems


class _SafeFormatter(string.Formatter):
    """Missing variables become empty; anything but a plain name or a small spec is refused."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        if not _NAME.fullmatch(field_name):
            raise ValueError(f"field {field_name!r} is not a plain name")
        return kwargs.get(field_name, ""), field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        if any(int(n) > MAX_FORMAT_WIDTH for n in _NUMBERS.findall(format_spec)):
            raise ValueError("format width above the limit")
        return super().format_field(value, format_spec)


def fill(template: str, variables: dict[str, Any]) -> str:
    """The message with its variables; the template as written when it cannot be filled."""
    try:
        return _SafeFormatter().vformat(template, (), variables)
    except (ValueError, IndexError, KeyError, TypeError):
        return template
