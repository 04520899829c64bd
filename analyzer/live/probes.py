"""Opt-in TCP reachability probes for the endpoints the agent and the backup extension need.

A probe is a plain TCP connect with a short timeout; no HTTP request is sent to the target.
Storage targets may go through an HTTP proxy (``CONNECT host:port``), exactly like the agent's
storage calls do; WireServer, HostGAPlugin and IMDS never use a proxy because the agent never
sends them through one.

The default target list is data (``default_targets``); callers and tests replace it freely.

The probing itself is ``analyzer/onvm/probes.py`` (the zipapp's, Python 3.6+), the one
implementation: this module only types its targets and results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from analyzer.onvm import probes as onvm_probes

WIRESERVER_IP = onvm_probes.WIRESERVER_IP
IMDS_IP = onvm_probes.IMDS_IP

STATUS_OK = "ok"
STATUS_REFUSED = "refused"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"


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


NAMED_TARGETS = onvm_probes.NAMED_TARGETS
"""Names of the targets :func:`default_targets` probes; any other name is the user's own
(``--target NAME=HOST:PORT``) and also gets a ``network.custom.<name>.status`` row."""

_PURPOSES = {
    "wireserver_80": "WireServer (goal state, status)",
    "wireserver_32526": "HostGAPlugin",
    "imds_80": "Instance Metadata Service",
    "storage_443": "Storage (HTTPS)",
    "storage_8443": "Managed disks",
}


def default_targets(
    storage_host: str | None = None, *, managed_disks: bool = False
) -> list[Target]:
    """The endpoints named in the troubleshooting guide (cause 1) and the agent's protocol.

    ``storage_host`` is the blob host from the goal state (status upload blob or extension
    location); without it no storage target is added. Port 8443 matters only for managed disks.
    """
    return [typed_target(t) for t in onvm_probes.default_targets(storage_host, managed_disks)]


def typed_target(plain: dict[str, Any]) -> Target:
    name = plain["name"]
    return Target(name, plain["host"], plain["port"], plain["use_proxy"], _PURPOSES.get(name, ""))


def plain_target(target: Target) -> dict[str, Any]:
    """The target as ``onvm/probes.py`` takes it."""
    plain: dict[str, Any] = onvm_probes.target(target.name, target.host, target.port,
                                               target.use_proxy)
    return plain


def proxy_pair(proxy: Proxy | None) -> tuple[str, int] | None:
    return None if proxy is None else (proxy.host, proxy.port)


def probe_targets(targets: list[Target], proxy: Proxy | None, timeout: float) -> list[ProbeResult]:
    """Probe every target concurrently (total time ~ one timeout), results in input order."""
    results = onvm_probes.probe_targets([plain_target(t) for t in targets], proxy_pair(proxy),
                                          timeout)
    return [ProbeResult.from_dict(r) for r in results]


def probe_one(target: Target, proxy: Proxy | None, timeout: float) -> ProbeResult:
    result = onvm_probes.probe_one(plain_target(target), proxy_pair(proxy), timeout)
    return ProbeResult.from_dict(result)
