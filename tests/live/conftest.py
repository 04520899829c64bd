"""Shared fixtures for the live self-check tests.

The autouse ``loopback_only`` guard makes every test in this folder fail if code tries to
resolve or contact anything but 127.0.0.1/::1: the tests must never send a packet to
168.63.129.16, 169.254.169.254 or any other real address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_fakes import (
    DHCLIENT_WITH_245,
    DHCLIENT_WITHOUT_245,
    MEMINFO,
    NO_RESTART_UNIT,
    RUNNING_UNIT,
    STAT,
    NonLoopbackContact,
    add_process,
    systemd_fake,
    write,
)

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse (before any packet leaves) every connect/lookup of a non-loopback address."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection

    def check(address: Any) -> None:
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(address, str | bytes) and not isinstance(address, tuple):
            return  # AF_UNIX path: not network traffic
        if not _is_loopback(host):
            raise NonLoopbackContact(f"test tried to contact non-loopback address {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            check((host, 0))
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        check(address)
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return attempts


@pytest.fixture
def running_root(tmp_path: Path) -> Path:
    """A VM where the daemon and an auto-updated ExtHandler run, Restart=always."""
    root = tmp_path / "running-vm"
    proc = root / "proc"
    add_process(
        proc,
        812,
        ["/usr/bin/python3", "-u", "/usr/sbin/waagent", "-daemon"],
        exe="/usr/bin/python3.10",
    )
    add_process(
        proc,
        1040,
        ["python3", "-u", "bin/WALinuxAgent-2.9.1.1-py3.8.egg", "-run-exthandlers"],
        exe="/usr/bin/python3.10",
    )
    add_process(proc, 1, ["/sbin/init"])
    add_process(proc, 2000, ["grep", "--color=auto", "waagent"])
    add_process(proc, 2001, ["vim", "/etc/waagent.conf"])
    (proc / "3").mkdir()
    (proc / "3" / "cmdline").write_bytes(b"")  # kernel thread
    write(root, "proc/meminfo", MEMINFO)
    write(root, "proc/stat", STAT)
    write(root, "proc/loadavg", "0.52 0.40 0.30 1/200 3000\n")
    write(root, "lib/systemd/system/walinuxagent.service", RUNNING_UNIT)
    write(root, "etc/waagent.conf", "Extensions.Enabled=y\nLogs.Verbose=y\n")
    write(root, "var/lib/dhcp/dhclient.eth0.leases", DHCLIENT_WITH_245)
    (root / "var" / "log").mkdir(parents=True)
    return root


@pytest.fixture
def stopped_root(tmp_path: Path) -> Path:
    """A VM where the agent is not running, its unit has no Restart=, extensions are off."""
    root = tmp_path / "stopped-vm"
    proc = root / "proc"
    add_process(proc, 1, ["/sbin/init"])
    add_process(proc, 500, ["/usr/sbin/sshd", "-D"])
    write(root, "proc/meminfo", "MemTotal: 1000000 kB\nMemAvailable: 50000 kB\n")
    write(root, "proc/stat", STAT)
    write(root, "usr/lib/systemd/system/waagent.service", NO_RESTART_UNIT)
    write(
        root,
        "etc/waagent.conf",
        "# agent settings\nExtensions.Enabled=n   # turned off by the customer\n"
        'AutoUpdate.Enabled="n"\nHttpProxy.Host=proxy.corp\nHttpProxy.Port=3128\n',
    )
    write(root, "var/lib/dhclient/dhclient-eth0.leases", DHCLIENT_WITHOUT_245)
    return root


@pytest.fixture
def fake_systemctl_running() -> Iterator[tuple[Callable[[list[str]], str], list[list[str]]]]:
    yield systemd_fake(
        {
            "walinuxagent.service": {
                "LoadState": "loaded",
                "ActiveState": "active",
                "SubState": "running",
                "Restart": "always",
                "UnitFileState": "enabled",
            }
        }
    )
