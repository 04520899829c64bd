"""Numeric, per-component version comparison (1.0.100.0 is newer than 1.0.91.0).

>>> compare_versions("1.0.100.0", "1.0.91.0")
1
>>> compare_versions("2.2.45", "2.2.45.0")
0
>>> compare_versions("1.0.9220.0", "1.0.9225.0")
-1
>>> version_key("2.2.49.1")
(2, 2, 49, 1)
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d+")


def version_key(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in _NUMBER.findall(text)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 2.2.45 == 2.2.45.0
    return tuple(parts)


def compare_versions(left: str, right: str) -> int:
    a, b = version_key(left), version_key(right)
    return (a > b) - (a < b)


def is_version(text: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)*", text.strip()))
