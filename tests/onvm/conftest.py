"""Fixtures for the on-VM zipapp tests (helpers in onvm_fakes.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onvm_fakes import GUARD, Loopback, make_vm_root
from test_live_collect import secret_root  # noqa: F401  (fixture re-export)

from analyzer.onvm.build import write_zipapp


@pytest.fixture(scope="session")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zipapp(tmp_path_factory.mktemp("zipapp") / "waagent-selfcheck.pyz")


@pytest.fixture(scope="session")
def guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("guard")
    (folder / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def loopback() -> Iterator[Loopback]:
    servers = Loopback()
    yield servers
    servers.close()


@pytest.fixture
def vm_root(secret_root: Path, loopback: Loopback) -> Path:  # noqa: F811
    return make_vm_root(secret_root, loopback.proxy_port)
