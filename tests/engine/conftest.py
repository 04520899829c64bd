"""Fixtures shared by the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def compiled_scan_for_any_size() -> Iterator[None]:
    """Small chunks are scanned by RE2 in normal runs; with this fixture, by Hyperscan too,
    so tests on small inputs exercise the compiled scan and its tags."""
    from analyzer.engine import regex

    before = regex.COMPILED_SCAN_BYTES
    regex.COMPILED_SCAN_BYTES = 0
    yield
    regex.COMPILED_SCAN_BYTES = before
