"""Version comparison the rules rely on: numeric per component, trailing zeros ignored."""

from __future__ import annotations

import pytest

from analyzer.engine.versions import compare_versions, is_version, version_key


@pytest.mark.parametrize(("left", "right", "order"), [
    ("1.0.9220.0", "1.0.91.0", 1),   # numeric, not text: every real VMSnapshot build > 1.0.91
    ("2.2.45", "2.2.45.0", 0),       # trailing zero components do not count
    ("2.2.9", "2.2.10", -1),
    ("2.15.0.1", "2.9.1.1", 1),
    ("1.0", "1.0.0.1", -1),
    ("0", "0.0", 0),
])
def test_compare_versions(left: str, right: str, order: int) -> None:
    assert compare_versions(left, right) == order
    assert compare_versions(right, left) == -order


def test_version_key_reads_the_numbers_of_a_decorated_version() -> None:
    assert version_key("WALinuxAgent-2.9.1.1") == (2, 9, 1, 1)
    assert version_key("") == ()


@pytest.mark.parametrize(("text", "expected"), [
    ("2.2.53", True), (" 1.0.9220.0 ", True), ("2.2.x", False), ("", False), ("v2", False)])
def test_is_version(text: str, expected: bool) -> None:
    assert is_version(text) is expected
