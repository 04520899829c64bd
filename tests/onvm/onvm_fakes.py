"""Helpers for the zipapp tests: interpreters, a loopback guard, loopback servers, a fake VM.

The zipapp runs in child interpreters (pyenv 3.6 ... 3.13), where pytest's monkeypatching does
not reach; ``GUARD`` is installed there as ``sitecustomize`` (on ``PYTHONPATH``) and refuses,
before any packet leaves, every connect or name lookup that is not loopback. It says on stderr
that it is active and what it allowed or refused, and the tests read that.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "live"))

from live_fakes import MEMINFO, RUNNING_UNIT, STAT, add_process, write
from test_live_collect import SECRETS

PYENV = Path("/root/.pyenv/versions")
INTERPRETERS = ("3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.12.1", "3.13.0")

GUARD = '''
import ipaddress, socket, sys

def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False

def _check(address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(address, (str, bytes)):
        return
    if not _loopback(host):
        sys.stderr.write("onvm-guard: blocked %r\\n" % (address,))
        raise PermissionError("onvm-guard: non-loopback address %r" % (address,))
    sys.stderr.write("onvm-guard: allowed %s:%s\\n" % (address[0], address[1]))

_connect, _connect_ex, _gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _connect(self, address)

def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host is not None:
        _check((host, 0))
    return _gai(host, *args, **kwargs)

socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo
sys.stderr.write("onvm-guard: active\\n")
'''


def interpreter(version: str) -> Path:
    return PYENV / version / "bin" / "python3"


class Loopback:
    """A listener that accepts and closes, a closed port, and a CONNECT proxy that records."""

    def __init__(self) -> None:
        self.open = self._listen(self._accept_close)
        self.proxy = self._listen(self._proxy)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.closed_port = probe.getsockname()[1]
        probe.close()  # nothing listens there any more: connects are refused
        self.connects: list[str] = []

    def _listen(self, handler):  # type: ignore[no-untyped-def]
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        thread = threading.Thread(target=self._serve, args=(server, handler), daemon=True)
        thread.start()
        return server

    @staticmethod
    def _serve(server: socket.socket, handler) -> None:  # type: ignore[no-untyped-def]
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                handler(conn)
            except OSError:
                pass
            finally:
                conn.close()

    @staticmethod
    def _accept_close(conn: socket.socket) -> None:
        return None

    def _proxy(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(1024)
            if not chunk:
                return
            data += chunk
        self.connects.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

    @property
    def open_port(self) -> int:
        return int(self.open.getsockname()[1])

    @property
    def proxy_port(self) -> int:
        return int(self.proxy.getsockname()[1])

    def close(self) -> None:
        self.open.close()
        self.proxy.close()


def make_vm_root(root: Path, proxy_port: int) -> Path:
    """Agent daemon up but no ExtHandler, extensions off, low memory, proxy on loopback."""
    proc = root / "proc"
    add_process(proc, 812, ["/usr/bin/python3", "-u", "/usr/sbin/waagent", "-daemon"],
                exe="/usr/bin/python3.10")
    add_process(proc, 1, ["/sbin/init"])
    add_process(proc, 2000, ["grep", "--color=auto", "waagent"])
    write(root, "proc/meminfo", MEMINFO.replace("MemAvailable:    2000000", "MemAvailable:     200000"))
    write(root, "proc/stat", STAT)
    write(root, "proc/loadavg", "0.52 0.40 0.30 1/200 3000\n")
    write(root, "usr/lib/systemd/system/walinuxagent.service", RUNNING_UNIT)
    write(
        root,
        "etc/waagent.conf",
        "Extensions.Enabled=n\nLogs.Verbose=n\n"
        f"HttpProxy.Host=127.0.0.1\nHttpProxy.Port={proxy_port}\n"
        f"# old proxy: http://user:{SECRETS['proxy_password']}@proxy.corp:3128\n"
        f"Proxy.Url=http://user:{SECRETS['proxy_password']}@proxy.corp:3128\n",
    )
    # A lease file that is a link out of the root must not be read either.
    os.symlink(root.parent / "outside" / "shadow", root / "var/lib/dhcp/dhclient.eth1.leases")
    return root
