"""Fixtures for the bundle tests (helpers live in ``bundle_helpers.py``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def bundle_no_stray_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Points tempfile at a fresh directory and checks cwd is untouched by the test."""
    spool_root = tmp_path / "spool-root"
    spool_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool_root))
    before = sorted(p.name for p in Path.cwd().iterdir())
    yield spool_root
    assert sorted(p.name for p in Path.cwd().iterdir()) == before
