"""Fixtures of the security tests; the harness itself lives in ``sec_harness.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from sec_harness import Workspace  # noqa: E402


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield Workspace(tmp_path)
