"""State of the running VM that a log bundle cannot show, as typed dataclasses.

``gather_live_facts`` answers the questions the troubleshooting guide asks customers to check
by hand: is the agent running (``ps -e``), is its service active and restarted automatically,
is there CPU/memory/disk headroom, which waagent.conf switches are set, and did DHCP hand out
option 245 (the WireServer address).

The facts are gathered by ``analyzer/onvm/facts.py``, the one implementation, which the on-VM
zipapp runs on the VM's own Python 3.6+ too: this module only types its result
(``LiveFacts.from_dict``), passes it the full tool's redactor and lxml wicked-lease reader,
and derives the answers the rows and the CLI use. Rules of that module:

* Nothing is ever changed on the system; the only program run is ``systemctl show``, and only
  when ``root`` is ``/`` (tests inject a fake runner).
* It works as non-root: a file it cannot read is recorded in ``unreadable`` with the reason
  and gathering goes on. A file that simply does not exist is not an error.
* Every read goes through ``analyzer/safe_open.py`` (no link followed) and is capped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from analyzer import redact
from analyzer.live.probes import ProbeResult
from analyzer.onvm import facts as onvm_facts
from analyzer.redact import redact_obj

SCHEMA = onvm_facts.SCHEMA

SystemctlRunner = Callable[[list[str]], str]
"""Gets the full argv (``["systemctl", "show", ...]``), returns stdout; raises on failure."""

AGENT_UNITS = onvm_facts.AGENT_UNITS
CONF_PATH = onvm_facts.CONF_PATH
CONF_KEYS = onvm_facts.CONF_KEYS
"""waagent.conf settings the live rows report: as written when the file sets them, else the
agent's default (``onvm/formats.effective_conf``; ``None``: no default)."""


@dataclass
class AgentProcess:
    pid: int
    role: str
    """``daemon`` | ``exthandler`` | another agent mode such as ``collect-logs``."""
    version: str
    """From the egg/agent directory name; empty when the installed package runs."""
    argv: list[str]
    interpreter: str = ""
    """Interpreter executable (``/proc/<pid>/exe`` target or argv[0]) when it is Python."""


@dataclass
class ServiceState:
    unit: str
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""
    restart: str = ""
    unit_file_state: str = ""
    unit_file: str = ""
    """Unit file found under root (VM path), with its ``Restart=`` in ``unit_file_restart``."""
    unit_file_restart: str = ""
    source: str = ""
    """What we learnt this from: ``systemctl``, ``unit-file``, ``systemctl+unit-file``."""


@dataclass
class DiskFacts:
    mount: str
    """The path that was measured (``/`` or ``/var``), as seen on the VM."""
    total_bytes: int
    free_bytes: int
    """Bytes available to unprivileged users (``f_bavail``), like ``df``."""

    @property
    def free_percent(self) -> float:
        return round(100.0 * self.free_bytes / self.total_bytes, 1) if self.total_bytes else 0.0


@dataclass
class LeaseFacts:
    path: str
    kind: str
    """``dhclient`` | ``networkd`` | ``wicked``."""
    leases: int
    option_245: str
    """WireServer IP from option 245 in the current (last) lease, empty when absent."""


@dataclass
class LiveFacts:
    root: str
    gathered_at: str
    schema: str = SCHEMA
    processes: list[AgentProcess] = field(default_factory=list)
    installed_version: str = ""
    """AGENT_VERSION of the distro-installed agent package, when found under root."""
    services: list[ServiceState] = field(default_factory=list)
    upstart_respawn: bool | None = None
    python_version: str = ""
    python_source: str = ""
    """``agent`` (the running agent's interpreter) or ``self`` (this tool's interpreter)."""
    python_executable: str = ""
    disks: list[DiskFacts] = field(default_factory=list)
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    cpu_busy_percent: float | None = None
    cpu_sample_seconds: float = 0.0
    cpu_count: int | None = None
    load1: float | None = None
    conf_found: bool = False
    conf: dict[str, str] = field(default_factory=dict)
    """Every ``Key=Value`` of waagent.conf as written (comments stripped)."""
    conf_lines: dict[str, int] = field(default_factory=dict)
    leases: list[LeaseFacts] = field(default_factory=list)
    proxy: str = ""
    """``host:port`` used for storage probes, when network probes ran through a proxy."""
    network: list[ProbeResult] = field(default_factory=list)
    network_probed: bool = False
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """(VM path, reason) for everything that exists but could not be read."""

    # -- derived answers the rows and the CLI use (onvm/facts.py's, on the same dict) -------

    def pids(self, role: str) -> list[int]:
        return [p.pid for p in self.processes if p.role == role]

    def version_of(self, role: str) -> str:
        versions = [p.version for p in self.processes if p.role == role and p.version]
        return versions[0] if versions else ""

    def as_plain(self) -> dict[str, Any]:
        """The facts as the dict ``onvm/facts.py`` gathers (not redacted again)."""
        return asdict(self)

    def service(self) -> ServiceState | None:
        """The agent's unit: the one systemd has loaded, else the one with a unit file."""
        found = onvm_facts.service(self.as_plain())
        return None if found is None else ServiceState(**found)

    def restart_policy(self) -> str:
        policy: str = onvm_facts.restart_policy(self.as_plain())
        return policy

    def auto_restart(self) -> bool | None:
        answer: bool | None = onvm_facts.auto_restart(self.as_plain())
        return answer

    def disk(self, mount: str) -> DiskFacts | None:
        return next((d for d in self.disks if d.mount == mount), None)

    def option_245(self) -> str:
        option: str = onvm_facts.option_245(self.as_plain())
        return option

    def conf_value(self, key: str) -> tuple[str | None, int | None]:
        """Value of a waagent.conf key and its line (``None`` line = the agent's default)."""
        value, line = onvm_facts.conf_value(self.as_plain(), key)
        return value, line

    # -- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unreadable"] = [list(item) for item in self.unreadable]
        # Every string was redacted where it was read; this pass keeps self-check.json clean
        # should a new fact forget to (idempotent, so the usual cost is a scan).
        cleaned: dict[str, Any] = redact_obj(data)
        return cleaned

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> LiveFacts:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiveFacts:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["processes"] = [AgentProcess(**p) for p in data.get("processes", [])]
        values["services"] = [ServiceState(**s) for s in data.get("services", [])]
        values["disks"] = [DiskFacts(**d) for d in data.get("disks", [])]
        values["leases"] = [LeaseFacts(**lease) for lease in data.get("leases", [])]
        values["network"] = [ProbeResult.from_dict(r) for r in data.get("network", [])]
        values["unreadable"] = [(str(p), str(r)) for p, r in data.get("unreadable", [])]
        return cls(**values)


# ---------------------------------------------------------------------------------------------


def gather_live_facts(
    root: Path,
    *,
    sample_seconds: float = 0.5,
    systemctl: SystemctlRunner | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> LiveFacts:
    """Collect every live fact under ``root`` (``/`` on the VM itself, a fake tree in tests)
    with ``onvm/facts.gather``; ``systemctl`` replaces the ``systemctl show`` runner (by
    default used only when ``root`` is ``/``)."""
    gathered = onvm_facts.gather(
        str(Path(root)), sample_seconds, systemctl, redactor=redact, wicked=_wicked_rows,
        sleep=sleep,
    )
    return LiveFacts.from_dict(gathered)


def _wicked_rows(data: bytes, vm_path: str) -> list[tuple[str, str, int | None]]:
    """A wicked XML lease read by the bundle parser (lxml), as ``(key, value, line)``."""
    from analyzer.parse.dhcp import parse_dhcp_lease
    from analyzer.parse.errors import ParseError

    try:
        return [(row.key, row.value, row.line) for row in parse_dhcp_lease(data, vm_path)]
    except ParseError:
        return []


classify_cmdline = onvm_facts.classify_cmdline


def cpu_busy_percent(
    stat_path: Path,
    sample_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Share of CPU time not idle between two reads of ``stat_path`` (a ``proc/stat`` under
    a root) ``sample_seconds`` apart."""
    root = stat_path.parent.parent
    reader = onvm_facts.Reader(str(root))
    busy: float | None = onvm_facts.cpu_busy_percent(reader, sample_seconds, sleep)
    return busy
