"""Fixtures of the batch tests: small fleets of bundles built in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import BASE, Spec, build

from analyzer.settings import Limits

FAST = Limits(wall_seconds=60, worker_cpu_seconds=60)
"""Per-bundle limits for the ordinary tests: generous, so a loaded CI machine does not flake."""


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """Three bundles: two with WireServer failures (WAA-NET-001), one clean."""
    folder = tmp_path / "bundles"
    build(folder, Spec("vm-a", wire_failures=8, deployment="dep-1", role_instance="_a"))
    build(folder, Spec("vm-b", wire_failures=5, deployment="dep-1", role_instance="_b",
                       daemon_version="2.10.0.8"))
    build(folder, Spec("vm-c", deployment="dep-2", role_instance="_c"))
    return folder


@pytest.fixture
def base_time() -> object:
    return BASE
