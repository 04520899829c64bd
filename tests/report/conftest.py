"""Fixtures for the report tests (objects are built in report_fixtures.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) from a checkout
    sys.path.insert(0, str(ROOT))

from report_fixtures import make_report  # noqa: E402

from analyzer.report.model import BundleSummary, Report  # noqa: E402


@pytest.fixture
def report() -> Report:
    return make_report()


@pytest.fixture
def report_factory() -> Callable[..., Report]:
    return make_report


@pytest.fixture
def empty_report() -> Report:
    bundle = BundleSummary("clean.tgz", "0" * 64, None, None, None)
    return Report("waagent-analyzer", "0.1.0", bundle, [])
