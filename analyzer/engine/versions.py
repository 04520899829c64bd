"""Numeric, per-component version comparison (1.0.100.0 is newer than 1.0.91.0).

>>> compare_versions("1.0.100.0", "1.0.91.0")
1
>>> compare_versions("2.2.45", "2.2.45.0")
0
>>> compare_versions("1.0.9220.0", "1.0.9225.0")
-1
>>> version_key("2.2.49.1")
(2, 2, 49, 1)
>>> compare_versions("2.1.5.rc7", "2.1.5")   # a release candidate comes before its release
-1
>>> compare_versions("2.1.5.rc7", "2.1.5.rc6"), compare_versions("2.1.5.rc7", "2.1.4")
(1, 1)
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"\d+")
_PRE_RELEASE = re.compile(r"[.-]?rc(\d*)\s*$", re.IGNORECASE)
"""The agent's pre-release suffix (``2.1.5.rc7``): ranks before the release it precedes."""


def version_key(text: str) -> tuple[int, ...]:
    """The release part of a version as numbers (a pre-release suffix left out)."""
    parts = [int(p) for p in _NUMBER.findall(_PRE_RELEASE.sub("", text))]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # 2.2.45 == 2.2.45.0
    return tuple(parts)


def _pre_release_key(text: str) -> tuple[int, int]:
    """(0, n) for ``rcN``, (1, 0) for a release: candidates sort before their release."""
    found = _PRE_RELEASE.search(text)
    if found is None:
        return (1, 0)
    return (0, int(found.group(1) or 0))


def compare_versions(left: str, right: str) -> int:
    a = (version_key(left), _pre_release_key(left))
    b = (version_key(right), _pre_release_key(right))
    return (a > b) - (a < b)


def is_version(text: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)*", text.strip()))
