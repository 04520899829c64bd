"""Builders for fake VM roots used by the live tests (plain functions, no fixtures)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class NonLoopbackContact(AssertionError):
    """Raised by the test guard when code tries to reach a non-loopback address."""


# -- fake roots -------------------------------------------------------------------------------


def write(root: Path, relative: str, content: str | bytes, *, mtime: float | None = None) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def add_process(proc: Path, pid: int, argv: list[str], *, exe: str | None = None) -> None:
    pid_dir = proc / str(pid)
    pid_dir.mkdir(parents=True, exist_ok=True)
    (pid_dir / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    if exe is not None:
        os.symlink(exe, pid_dir / "exe")


MEMINFO = """MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    2000000 kB
Buffers:          100000 kB
Cached:          1000000 kB
"""
STAT = (
    "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\n"
)

RUNNING_UNIT = """[Unit]
Description=Azure Linux Agent

[Service]
Type=simple
ExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""
NO_RESTART_UNIT = RUNNING_UNIT.replace("Restart=always\n", "")

DHCLIENT_WITH_245 = """lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option dhcp-lease-time 4294967295;
  expire 6 2023/01/01 00:00:00;
}
lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option unknown-245 a8:3f:81:10;
  renew 2 2030/01/01 00:00:00;
}
"""
DHCLIENT_WITHOUT_245 = """lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option unknown-245 a8:3f:81:10;
}
lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option routers 10.0.0.1;
}
"""


def systemd_fake(
    props: dict[str, dict[str, str]],
) -> tuple[Callable[[list[str]], str], list[list[str]]]:
    """A fake ``systemctl`` runner answering ``show`` from ``props`` (per unit)."""
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str:
        calls.append(list(argv))
        unit = argv[-1]
        values = props.get(unit, {"LoadState": "not-found", "ActiveState": "inactive"})
        return "".join(f"{k}={v}\n" for k, v in values.items())

    return run, calls
