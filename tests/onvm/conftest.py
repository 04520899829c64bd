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


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process too (builder, evaluator, analyze of bundles): no connect to anything
    but loopback; the zipapp's own runs get the same guard as sitecustomize."""
    import ipaddress
    import socket

    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]) if isinstance(address, tuple) else ""  # type: ignore[index]
            if host != "localhost" and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
                raise AssertionError(f"test tried to contact {address!r}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


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
