"""Network probes, only ever against servers these tests start on 127.0.0.1.

The autouse ``loopback_only`` guard (conftest.py) fails any test that resolves or connects to
a non-loopback address, so a default target slipping into a probe cannot send a packet.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_fakes import NonLoopbackContact, systemd_fake, write

from analyzer.live.commands import self_check_inputs
from analyzer.live.probes import (
    IMDS_IP,
    WIRESERVER_IP,
    Proxy,
    Target,
    default_targets,
    probe_one,
    probe_targets,
)
from analyzer.live.rows import live_rows

LOOPBACK = "127.0.0.1"
FAST = 0.3


class AcceptingServer:
    """Listens on 127.0.0.1 and accepts (then closes) every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class ConnectProxy:
    """A tiny HTTP proxy on 127.0.0.1 that answers ``CONNECT`` only.

    ``mode="forward"``: tries the target (loopback only) and answers 200 or 502.
    ``mode="hang"``: accepts and never answers (a proxy that eats the request).
    """

    def __init__(self, mode: str = "forward") -> None:
        self.mode = mode
        self.requests: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def proxy(self) -> Proxy:
        return Proxy(LOOPBACK, self.port)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "hang":
                self._held.append(conn)
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 8192:
            chunk = conn.recv(1024)
            if not chunk:
                return
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode("ascii")
        self.requests.append(line)
        method, authority, _ = line.split(" ", 2)
        host, _, port = authority.rpartition(":")
        assert method == "CONNECT" and host == LOOPBACK  # the proxy itself stays on loopback
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[AcceptingServer]:
    srv = AcceptingServer()
    yield srv
    srv.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback listener whose accept queue is full: further SYNs go unanswered, so a
    connect times out (the kernel drops SYNs for a full queue). Bounded set-up."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((LOOPBACK, 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(0.2)
            try:
                client.connect((LOOPBACK, port))
            except TimeoutError:
                client.close()
                break
            fillers.append(client)
        else:
            pytest.skip("this kernel keeps accepting on a full backlog")
        yield port
    finally:
        for client in fillers:
            client.close()
        srv.close()


@pytest.fixture
def hanging_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy("hang")
    yield proxy
    proxy.close()


@pytest.fixture
def forward_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy("forward")
    yield proxy
    proxy.close()


# -- the guard itself ---------------------------------------------------------------------------


def test_guard_refuses_real_endpoints_before_any_packet(loopback_only: list) -> None:
    for host in (WIRESERVER_IP, IMDS_IP, "192.0.2.1"):
        with pytest.raises(NonLoopbackContact):
            socket.create_connection((host, 80), timeout=0.01)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with pytest.raises(NonLoopbackContact), contextlib.closing(sock):
            sock.connect((host, 80))
    with pytest.raises(NonLoopbackContact):
        socket.getaddrinfo("example.invalid", 443)


def test_guard_sees_probe_through_default_target_as_violation() -> None:
    """A default target, if ever probed by mistake, is stopped by the guard (reported as an
    error result, never sent)."""
    wire = default_targets()[0]
    with pytest.raises(NonLoopbackContact):
        probe_one(wire, None, FAST)


# -- verdicts -----------------------------------------------------------------------------------


def test_reachable(server: AcceptingServer) -> None:
    [result] = probe_targets([Target("wireserver_80", LOOPBACK, server.port)], None, FAST)
    assert result.status == "ok" and result.ok
    assert result.error == "" and result.via_proxy == ""
    assert 0 <= result.elapsed_ms < FAST * 1000
    assert result.port == server.port


def test_refused(closed_port: int) -> None:
    [result] = probe_targets([Target("wireserver_32526", LOOPBACK, closed_port)], None, FAST)
    assert result.status == "refused"
    assert "ConnectionRefusedError" in result.error


def test_timeout_is_bounded(silent_port: int) -> None:
    start = time.monotonic()
    [result] = probe_targets([Target("imds_80", LOOPBACK, silent_port)], None, FAST)
    assert result.status == "timeout"
    assert time.monotonic() - start < FAST + 1.0


def test_probes_run_concurrently(hanging_proxy: ConnectProxy, server: AcceptingServer) -> None:
    targets = [Target(f"storage_{i}", LOOPBACK, server.port, use_proxy=True) for i in range(4)]
    start = time.monotonic()
    results = probe_targets(targets, hanging_proxy.proxy, FAST)
    assert [r.name for r in results] == [t.name for t in targets]  # input order kept
    assert {r.status for r in results} == {"timeout"}
    assert time.monotonic() - start < 2 * FAST + 0.5  # not 4 x timeout


# -- proxy ----------------------------------------------------------------------------------------


def test_storage_through_proxy(forward_proxy: ConnectProxy, server: AcceptingServer) -> None:
    target = Target("storage_443", LOOPBACK, server.port, use_proxy=True)
    [result] = probe_targets([target], forward_proxy.proxy, FAST * 3)
    assert result.status == "ok"
    assert result.via_proxy == f"{LOOPBACK}:{forward_proxy.port}"
    assert forward_proxy.requests == [f"CONNECT {LOOPBACK}:{server.port} HTTP/1.1"]


def test_proxy_reports_unreachable_target(forward_proxy: ConnectProxy, closed_port: int) -> None:
    target = Target("storage_8443", LOOPBACK, closed_port, use_proxy=True)
    [result] = probe_targets([target], forward_proxy.proxy, FAST * 3)
    assert result.status == "error"
    assert "502" in result.error and result.via_proxy


def test_hanging_proxy_times_out(hanging_proxy: ConnectProxy, server: AcceptingServer) -> None:
    target = Target("storage_443", LOOPBACK, server.port, use_proxy=True)
    start = time.monotonic()
    [result] = probe_targets([target], hanging_proxy.proxy, FAST)
    assert result.status == "timeout"
    assert "via proxy" in result.error
    assert time.monotonic() - start < FAST + 1.0


def test_refused_proxy(closed_port: int, server: AcceptingServer) -> None:
    target = Target("storage_443", LOOPBACK, server.port, use_proxy=True)
    [result] = probe_targets([target], Proxy(LOOPBACK, closed_port), FAST)
    assert result.status == "refused"
    assert result.error.startswith(f"via proxy {LOOPBACK}:{closed_port}")


def test_wireserver_targets_never_use_the_proxy(
    forward_proxy: ConnectProxy, server: AcceptingServer
) -> None:
    targets = [
        Target("wireserver_80", LOOPBACK, server.port),
        Target("imds_80", LOOPBACK, server.port),
    ]
    results = probe_targets(targets, forward_proxy.proxy, FAST)
    assert [r.status for r in results] == ["ok", "ok"]
    assert all(r.via_proxy == "" for r in results)
    assert forward_proxy.requests == []


# -- defaults are data ----------------------------------------------------------------------------


def test_default_targets_are_data() -> None:
    plain = default_targets()
    assert [(t.name, t.host, t.port, t.use_proxy) for t in plain] == [
        ("wireserver_80", WIRESERVER_IP, 80, False),
        ("wireserver_32526", WIRESERVER_IP, 32526, False),
        ("imds_80", IMDS_IP, 80, False),
    ]
    host = "md-abc.z1.blob.storage.azure.net"
    with_storage = default_targets(host, managed_disks=True)
    assert [(t.name, t.host, t.port, t.use_proxy) for t in with_storage[3:]] == [
        ("storage_443", host, 443, True),
        ("storage_8443", host, 8443, True),
    ]
    assert [t.name for t in default_targets(host)][3:] == ["storage_443"]


# -- through the self-check command ---------------------------------------------------------------


def test_self_check_with_overridden_targets(
    tmp_path: Path, server: AcceptingServer, closed_port: int, forward_proxy: ConnectProxy
) -> None:
    root = tmp_path / "vm"
    # waagent.conf names a proxy; the override wins, and only storage uses it.
    write(root, "etc/waagent.conf", "HttpProxy.Host=proxy.invalid\nHttpProxy.Port=3128\n")
    targets = [
        Target("wireserver_80", LOOPBACK, server.port),
        Target("wireserver_32526", LOOPBACK, closed_port),
        Target("storage_443", LOOPBACK, server.port, use_proxy=True),
    ]
    runner, _ = systemd_fake({})
    facts = self_check_inputs(
        root,
        True,
        targets,
        forward_proxy.proxy,
        timeout=FAST * 3,
        sample_seconds=0,
        systemctl=runner,
    )
    assert facts.network_probed
    assert facts.proxy == f"{LOOPBACK}:{forward_proxy.port}"
    rows = {r.key: r.value for r in live_rows(facts, "self-check.json")}
    assert rows["network.probed"] == "true"
    assert rows["network.wireserver_80.ok"] == "true"
    assert rows["network.wireserver_32526.ok"] == "false"
    assert rows["network.wireserver_32526.status"] == "refused"
    assert rows["network.storage_443.ok"] == "true"
    assert rows["network.storage_443.via_proxy"] == f"{LOOPBACK}:{forward_proxy.port}"
    assert forward_proxy.requests == [f"CONNECT {LOOPBACK}:{server.port} HTTP/1.1"]


def test_self_check_without_network_sends_nothing(tmp_path: Path, loopback_only: list) -> None:
    runner, _ = systemd_fake({})
    facts = self_check_inputs(tmp_path, False, sample_seconds=0, systemctl=runner)
    assert not facts.network_probed and facts.network == []
    assert loopback_only == []
