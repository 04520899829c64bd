"""Opt-in TCP reachability probes for the endpoints the agent and the backup extension need.

A probe is a plain TCP connect with a short timeout; no HTTP request is sent to the target.
Storage targets may go through an HTTP proxy (``CONNECT host:port``), exactly like the agent's
storage calls do; WireServer, HostGAPlugin and IMDS never use a proxy because the agent never
sends them through one.

The default target list is data (``default_targets``); callers and tests replace it freely.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

WIRESERVER_IP = "168.63.129.16"
IMDS_IP = "169.254.169.254"

STATUS_OK = "ok"
STATUS_REFUSED = "refused"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"

_MAX_PROXY_REPLY = 8 * 1024
"""Bytes of a proxy's CONNECT reply we are willing to read before giving up on it."""


@dataclass(frozen=True)
class Target:
    """One endpoint to probe. ``name`` is used in row keys, so keep it ``[a-z0-9_]``."""

    name: str
    host: str
    port: int
    use_proxy: bool = False
    """Only storage targets set this: the agent sends only storage traffic through a proxy."""
    purpose: str = ""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class ProbeResult:
    name: str
    host: str
    port: int
    status: str
    """``ok`` | ``refused`` | ``timeout`` | ``error``."""
    elapsed_ms: float
    error: str = ""
    via_proxy: str = ""
    """``host:port`` of the proxy used, empty for a direct connect."""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(
            name=str(data["name"]),
            host=str(data["host"]),
            port=int(data["port"]),
            status=str(data["status"]),
            elapsed_ms=float(data["elapsed_ms"]),
            error=str(data.get("error", "")),
            via_proxy=str(data.get("via_proxy", "")),
        )


NAMED_TARGETS = ("wireserver_80", "wireserver_32526", "imds_80", "storage_443", "storage_8443")
"""Names of the targets :func:`default_targets` probes; any other name is the user's own
(``--target NAME=HOST:PORT``) and also gets a ``network.custom.<name>.status`` row."""


def default_targets(
    storage_host: str | None = None, *, managed_disks: bool = False
) -> list[Target]:
    """The endpoints named in the troubleshooting guide (cause 1) and the agent's protocol.

    ``storage_host`` is the blob host from the goal state (status upload blob or extension
    location); without it no storage target is added. Port 8443 matters only for managed disks.
    """
    targets = [
        Target("wireserver_80", WIRESERVER_IP, 80, purpose="WireServer (goal state, status)"),
        Target("wireserver_32526", WIRESERVER_IP, 32526, purpose="HostGAPlugin"),
        Target("imds_80", IMDS_IP, 80, purpose="Instance Metadata Service"),
    ]
    if storage_host:
        targets.append(Target("storage_443", storage_host, 443, True, "Storage (HTTPS)"))
        if managed_disks:
            targets.append(Target("storage_8443", storage_host, 8443, True, "Managed disks"))
    return targets


def probe_targets(targets: list[Target], proxy: Proxy | None, timeout: float) -> list[ProbeResult]:
    """Probe every target concurrently (total time ~ one timeout), results in input order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(lambda t: probe_one(t, proxy, timeout), targets))


def probe_one(target: Target, proxy: Proxy | None, timeout: float) -> ProbeResult:
    start = time.monotonic()
    use_proxy = proxy if (proxy is not None and target.use_proxy) else None
    try:
        if use_proxy is None:
            _direct_connect(target, timeout)
        else:
            _connect_via_proxy(target, use_proxy, start + timeout)
        status, error = STATUS_OK, ""
    except _ProxyRefused as exc:
        status, error = STATUS_ERROR, str(exc)
    except ConnectionRefusedError as exc:
        status, error = STATUS_REFUSED, _describe(exc, use_proxy)
    except TimeoutError as exc:
        status, error = STATUS_TIMEOUT, _describe(exc, use_proxy) or "timed out"
    except OSError as exc:
        status, error = STATUS_ERROR, _describe(exc, use_proxy)
    elapsed = round((time.monotonic() - start) * 1000.0, 1)
    return ProbeResult(
        name=target.name,
        host=target.host,
        port=target.port,
        status=status,
        elapsed_ms=elapsed,
        error=error,
        via_proxy=str(use_proxy) if use_proxy else "",
    )


class _ProxyRefused(OSError):
    """The proxy answered CONNECT with something other than 2xx."""


def _describe(exc: BaseException, proxy: Proxy | None) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"via proxy {proxy}: {text}" if proxy else text


def _direct_connect(target: Target, timeout: float) -> None:
    sock = socket.create_connection((target.host, target.port), timeout=timeout)
    sock.close()


def _connect_via_proxy(target: Target, proxy: Proxy, deadline: float) -> None:
    """Open a tunnel with ``CONNECT``; a 2xx answer means the proxy reached the target."""
    sock = socket.create_connection((proxy.host, proxy.port), timeout=_remaining(deadline))
    try:
        authority = _authority(target.host, target.port)
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
        sock.settimeout(_remaining(deadline))
        sock.sendall(request.encode("ascii", "strict"))
        status_line = _read_status_line(sock, deadline)
    finally:
        sock.close()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise _ProxyRefused(f"proxy {proxy} sent an invalid reply: {status_line[:80]!r}")
    if not parts[1].startswith("2"):
        raise _ProxyRefused(f"proxy {proxy} answered CONNECT with {' '.join(parts[1:])[:80]}")


def _read_status_line(sock: socket.socket, deadline: float) -> str:
    buffer = b""
    while b"\r\n" not in buffer:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(1024)
        if not chunk:
            raise ConnectionResetError("proxy closed the connection before answering CONNECT")
        buffer += chunk
        if len(buffer) > _MAX_PROXY_REPLY:
            raise _ProxyRefused("proxy reply line too long")
    return buffer.split(b"\r\n", 1)[0].decode("latin-1")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _authority(host: str, port: int) -> str:
    # IPv6 literals need brackets in the CONNECT authority.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
