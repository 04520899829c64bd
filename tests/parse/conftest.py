"""Shared helpers for the parser tests: the copied upstream samples under ``data/``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# A bare `pytest` run from a checkout (package not installed, no `pythonpath` ini option)
# cannot import `analyzer`; fall back to the repository root so the suite still runs.
if importlib.util.find_spec("analyzer") is None:  # pragma: no cover - depends on the env
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def read_data(relative: str) -> bytes:
    """Bytes of a sample file under ``tests/parse/data`` (see data/NOTICE.md)."""
    return (DATA / relative).read_bytes()


@pytest.fixture
def data() -> Callable[[str], bytes]:
    return read_data
