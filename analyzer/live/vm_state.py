"""Read-only facts about a live VM that a log bundle cannot show.

``gather_live_facts`` answers the questions the troubleshooting guide asks customers to check
by hand: is the agent running (``ps -e``), is its service active and restarted automatically,
is there CPU/memory/disk headroom, which waagent.conf switches are set, and did DHCP hand out
option 245 (the WireServer address).

Rules of the module:

* Nothing is ever changed on the system; the only program run is ``systemctl show``, and only
  when ``root`` is ``/`` (tests inject a fake runner).
* It works as non-root: a file it cannot read is recorded in ``unreadable`` with the reason
  and gathering goes on. A file that simply does not exist is not an error.
* It is fast: every read is capped, and the only wait is the CPU sampling interval.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analyzer.bundle.specs import DHCP_LEASE_GLOBS, WAAGENT_CONF
from analyzer.live.probes import ProbeResult
from analyzer.redact import redact_obj, redact_text
from analyzer.safe_open import open_under

SCHEMA = "waagent-analyzer/live-facts/v1"

SystemctlRunner = Callable[[list[str]], str]
"""Gets the full argv (``["systemctl", "show", ...]``), returns stdout; raises on failure."""

AGENT_UNITS = ("walinuxagent.service", "waagent.service")
"""Ubuntu/Debian name first, then the name used by RHEL, SUSE and most others."""
UNIT_DIRS = (
    "etc/systemd/system",
    "run/systemd/system",
    "lib/systemd/system",
    "usr/lib/systemd/system",
)
"""Unit search path under ``root``, highest precedence first (like systemd's own order)."""
UPSTART_JOBS = ("etc/init/walinuxagent.conf", "etc/init/waagent.conf")
SYSTEMCTL_PROPERTIES = "LoadState,ActiveState,SubState,Restart,UnitFileState"

CONF_PATH = WAAGENT_CONF
CONF_KEYS = (
    "Logs.Verbose",
    "Extensions.Enabled",
    "AutoUpdate.Enabled",
    "AutoUpdate.UpdateToLatestVersion",
    "HttpProxy.Host",
    "HttpProxy.Port",
    "OS.EnableFirewall",
    "Logs.Collect",
    "Protocol.EndpointDiscovery",
)
"""waagent.conf settings the live rows report: as written when the file sets them, else the
agent's default as ``parse.conf.effective_waagent_conf`` knows it (``None``: no default)."""

_READ_CAP = 1024 * 1024
"""No fact needs more than the first MiB of a file; /proc files are far smaller."""
_MAX_PROC_ERRORS = 20
_EGG_RE = re.compile(r"WALinuxAgent-(\d+(?:\.\d+)+)-py\d+(?:\.\d+)*\.egg")
_AGENT_DIR_RE = re.compile(r"WALinuxAgent-(\d+(?:\.\d+)+)(?:/|$)")
_PYTHON_NAME_RE = re.compile(r"python(\d+(?:\.\d+)*)[a-z]*")
_AGENT_VERSION_RE = re.compile(r"""^AGENT_VERSION\s*=\s*['"]([0-9][0-9.]*)['"]""", re.MULTILINE)
_AGENT_VERSION_GLOBS = (
    "usr/lib/python3/dist-packages/azurelinuxagent/common/version.py",
    "usr/lib/python3*/site-packages/azurelinuxagent/common/version.py",
    "usr/local/lib/python3*/site-packages/azurelinuxagent/common/version.py",
    "usr/lib/python2*/site-packages/azurelinuxagent/common/version.py",
)
_AUTO_RESTART_VALUES = frozenset({"always", "on-failure", "on-abnormal", "on-abort", "respawn"})
"""``Restart=`` values (and upstart ``respawn``) that bring a crashed agent back."""


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

    # -- derived answers the rows and the CLI use ------------------------------------------

    def pids(self, role: str) -> list[int]:
        return [p.pid for p in self.processes if p.role == role]

    def version_of(self, role: str) -> str:
        versions = [p.version for p in self.processes if p.role == role and p.version]
        return versions[0] if versions else ""

    def service(self) -> ServiceState | None:
        """The agent's unit: the one systemd has loaded, else the one with a unit file."""
        for svc in self.services:
            if svc.load_state == "loaded":
                return svc
        for svc in self.services:
            if svc.unit_file:
                return svc
        return None

    def restart_policy(self) -> str:
        svc = self.service()
        if svc is not None:
            if svc.restart:
                return svc.restart
            if svc.unit_file_restart:
                return svc.unit_file_restart
            if svc.unit_file or svc.load_state == "loaded":
                return "no"  # systemd's default when Restart= is not set
        if self.upstart_respawn is not None:
            return "respawn" if self.upstart_respawn else "no"
        return "unknown"

    def auto_restart(self) -> bool | None:
        policy = self.restart_policy()
        return None if policy == "unknown" else policy in _AUTO_RESTART_VALUES

    def disk(self, mount: str) -> DiskFacts | None:
        return next((d for d in self.disks if d.mount == mount), None)

    def option_245(self) -> str:
        return next((lease.option_245 for lease in self.leases if lease.option_245), "")

    def conf_value(self, key: str) -> tuple[str | None, int | None]:
        """Value of a waagent.conf key and its line (``None`` line = the agent's default)."""
        if key in self.conf:
            return self.conf[key], self.conf_lines.get(key)
        from analyzer.parse.conf import effective_waagent_conf
        from analyzer.parse.rows import ConfigRow

        written = [ConfigRow("waagent_conf", k, v, "", None) for k, v in self.conf.items()]
        return effective_waagent_conf(written).get(key), None

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


class _Reader:
    """Reads files under ``root`` and remembers what it could not read, and why."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.unreadable: list[tuple[str, str]] = []

    def vm_path(self, path: Path) -> str:
        try:
            return "/" + path.relative_to(self.root).as_posix().lstrip("/")
        except ValueError:
            return str(path)

    def note(self, path: Path | str, exc: BaseException | str) -> None:
        where = self.vm_path(path) if isinstance(path, Path) else path
        self.unreadable.append((where, exc if isinstance(exc, str) else _reason(exc)))

    def read(self, path: Path, *, limit: int = _READ_CAP, quiet: bool = False) -> bytes | None:
        """File content (first ``limit`` bytes) or None when missing or unreadable."""
        try:
            return _read_bytes(path, limit, self.root)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if not quiet:
                self.note(path, exc)
            return None

    def text(self, path: Path, **kwargs: Any) -> str | None:
        data = self.read(path, **kwargs)
        return None if data is None else data.decode("utf-8", "replace")


def _reason(exc: BaseException) -> str:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _read_bytes(path: Path, limit: int, root: Path | None = None) -> bytes:
    """Read at most ``limit`` bytes of a regular or /proc file through ``safe_open``: every
    component below ``root`` is opened without following links, and a FIFO, device or socket
    is refused before it is opened (``UnsafePath``).

    All file reads of this module go through here (tests patch it to simulate errors)."""
    base, rel = _under(path, root)
    fd = open_under(base, rel)
    try:
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _under(path: Path, root: Path | None) -> tuple[Path, str]:
    """``(root, path relative to it)``; a path outside ``root`` (a ``proc_dir`` override) is
    opened from its own folder."""
    if root is not None:
        try:
            return root, path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.parent, path.name


def _is_live_root(root: Path) -> bool:
    try:
        return root.resolve() == Path("/")
    except OSError:
        return False


def gather_live_facts(
    root: Path,
    *,
    sample_seconds: float = 0.5,
    proc_dir: Path | None = None,
    systemctl: SystemctlRunner | None = None,
) -> LiveFacts:
    """Collect every live fact under ``root`` (``/`` on the VM itself, a fake tree in tests).

    ``proc_dir`` overrides ``<root>/proc`` for the process scan only; ``systemctl`` replaces
    the ``systemctl show`` runner (by default used only when ``root`` is ``/``).
    """
    root = Path(root)
    reader = _Reader(root)
    facts = LiveFacts(root=str(root), gathered_at=_utc_now())

    facts.processes = scan_agent_processes(proc_dir or root / "proc", reader)
    facts.installed_version = _installed_agent_version(root, reader)
    if systemctl is None and _is_live_root(root) and shutil.which("systemctl"):
        systemctl = _run_systemctl
    facts.services = [_service_state(root, unit, systemctl, reader) for unit in AGENT_UNITS]
    facts.upstart_respawn = _upstart_respawn(root, reader)
    _python_facts(facts, root, reader)
    facts.disks = _disk_facts(root, reader)
    _memory_facts(facts, root, reader)
    facts.cpu_count, facts.load1 = _cpu_static_facts(root, reader)
    facts.cpu_sample_seconds = sample_seconds
    facts.cpu_busy_percent = cpu_busy_percent(root / "proc" / "stat", sample_seconds, reader)
    _conf_facts(facts, root, reader)
    facts.leases = dhcp_lease_facts(root, reader)
    facts.unreadable = reader.unreadable
    return facts


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- processes --------------------------------------------------------------------------------


def classify_cmdline(argv: list[str]) -> tuple[str, str] | None:
    """``(role, version)`` when ``argv`` is a WALinuxAgent process, else None.

    The daemon runs ``python -u /usr/sbin/waagent -daemon``; the extension handler runs
    ``python -u bin/WALinuxAgent-<ver>-py<x>.egg -run-exthandlers`` (or ``waagent
    -run-exthandlers`` when auto-update is off). The agent script must be what runs: argv[0]
    itself, or the first non-option argument of a Python interpreter, so ``grep waagent
    -daemon`` or ``vim /etc/waagent.conf`` never count. Only flags after the script give the
    mode, so interpreter options (``-u``, ``-Es``) are never taken for it.
    """
    script = _script_index(argv)
    if script is None:
        return None
    egg = _EGG_RE.search(argv[script])
    version = egg.group(1) if egg else ""
    for flag in argv[script + 1 :]:
        if flag.startswith("-") and flag.strip("-"):
            mode = flag.lstrip("-").lower()
            return _ROLES.get(mode, mode), version
    return None


def _is_agent_script(arg: str) -> bool:
    return bool(_EGG_RE.search(arg)) or arg.rsplit("/", 1)[-1] in ("waagent", "waagent2.0")


def _script_index(argv: list[str]) -> int | None:
    if not argv:
        return None
    if _is_agent_script(argv[0]):
        return 0
    if not _PYTHON_NAME_RE.fullmatch(argv[0].rsplit("/", 1)[-1]):
        return None
    index = 1
    while index < len(argv) and argv[index].startswith("-"):
        if argv[index] in ("-m", "-c"):
            return None  # a module or inline program, not the agent script
        index += 1
    if index < len(argv) and _is_agent_script(argv[index]):
        return index
    return None


_ROLES = {"daemon": "daemon", "run-exthandlers": "exthandler"}


def scan_agent_processes(proc_dir: Path, reader: _Reader) -> list[AgentProcess]:
    found: list[AgentProcess] = []
    errors = 0
    try:
        entries = sorted((e for e in os.listdir(proc_dir) if e.isdigit()), key=int)
    except FileNotFoundError:
        return found
    except OSError as exc:
        reader.note(proc_dir, exc)
        return found
    for name in entries:
        pid_dir = proc_dir / name
        try:
            raw = _read_bytes(pid_dir / "cmdline", 64 * 1024, proc_dir)
        except (FileNotFoundError, ProcessLookupError):
            continue  # the process exited while we looked
        except OSError as exc:
            errors += 1
            if errors <= _MAX_PROC_ERRORS:
                reader.note(pid_dir / "cmdline", exc)
            continue
        # Redacted where it is read: a command line can carry ``--password X``.
        argv = [redact_text(a.decode("utf-8", "replace")) for a in raw.split(b"\0") if a]
        if not argv:
            continue  # kernel thread or zombie
        classified = classify_cmdline(argv)
        if classified is None:
            continue
        role, version = classified
        if not version:
            version = _version_from_cwd(pid_dir)
        interpreter = _interpreter(pid_dir, argv, reader)
        found.append(AgentProcess(int(name), role, version, argv, interpreter))
    return found


def _version_from_cwd(pid_dir: Path) -> str:
    # An updated ExtHandler runs with cwd /var/lib/waagent/WALinuxAgent-<ver>; the link is
    # readable only for our own processes or as root, so failure is normal and not recorded.
    try:
        target = os.readlink(pid_dir / "cwd")
    except OSError:
        return ""
    match = _AGENT_DIR_RE.search(target)
    return match.group(1) if match else ""


def _interpreter(pid_dir: Path, argv: list[str], reader: _Reader) -> str:
    try:
        exe = os.readlink(pid_dir / "exe").removesuffix(" (deleted)")
    except FileNotFoundError:
        exe = ""
    except OSError as exc:
        reader.note(pid_dir / "exe", exc)
        exe = ""
    for candidate in (exe, argv[0]):
        if candidate and _PYTHON_NAME_RE.fullmatch(candidate.rsplit("/", 1)[-1]):
            return candidate
    return ""


def _installed_agent_version(root: Path, reader: _Reader) -> str:
    for pattern in _AGENT_VERSION_GLOBS:
        for path in sorted(root.glob(pattern)):
            text = reader.text(path)
            match = _AGENT_VERSION_RE.search(text or "")
            if match:
                return match.group(1)
    return ""


# -- service ----------------------------------------------------------------------------------


def _run_systemctl(argv: list[str]) -> str:
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_PAGER": ""}
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=3,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        message = " / ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise RuntimeError(f"exit {done.returncode}: {message[:200]}")
    return done.stdout


def _service_state(
    root: Path, unit: str, systemctl: SystemctlRunner | None, reader: _Reader
) -> ServiceState:
    state = ServiceState(unit=unit)
    sources = []
    if systemctl is not None:
        argv = ["systemctl", "show", "--no-pager", "-p", SYSTEMCTL_PROPERTIES, unit]
        try:
            props = _parse_properties(systemctl(argv))
        except Exception as exc:  # any runner failure is a fact to report, not a crash
            reader.note(f"systemctl show {unit}", exc)
            props = {}
        if props:
            sources.append("systemctl")
            state.load_state = props.get("LoadState", "")
            state.active_state = props.get("ActiveState", "")
            state.sub_state = props.get("SubState", "")
            state.restart = props.get("Restart", "")
            state.unit_file_state = props.get("UnitFileState", "")
    unit_file = _find_unit_file(root, unit, reader)
    if unit_file is not None:
        sources.append("unit-file")
        path, masked = unit_file
        state.unit_file = reader.vm_path(path)
        if masked:
            state.unit_file_state = state.unit_file_state or "masked"
        else:
            state.unit_file_restart = _unit_restart(root, unit, path, reader)
    state.source = "+".join(sources)
    return state


def _parse_properties(text: str) -> dict[str, str]:
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key.strip()] = value.strip()
    return props


def _find_unit_file(root: Path, unit: str, reader: _Reader) -> tuple[Path, bool] | None:
    """First unit file on the search path; ``masked`` when it is a link to /dev/null."""
    for unit_dir in UNIT_DIRS:
        path = root / unit_dir / unit
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            reader.note(path, exc)
            continue
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.readlink(path)
            except OSError as exc:
                reader.note(path, exc)
                continue
            if target == "/dev/null":
                return path, True
            # Resolve the link inside root so a mounted image never reads the host's files.
            resolved = root / target.lstrip("/") if target.startswith("/") else path.parent / target
            return resolved, False
        return path, False
    return None


def _unit_restart(root: Path, unit: str, path: Path, reader: _Reader) -> str:
    restart = _restart_from_unit_text(reader.text(path) or "")
    # Drop-ins (``<unit>.d/*.conf``) override the main file; later names win.
    dropins: list[Path] = []
    for unit_dir in UNIT_DIRS:
        directory = root / unit_dir / f"{unit}.d"
        try:
            dropins.extend(directory / n for n in os.listdir(directory) if n.endswith(".conf"))
        except FileNotFoundError:
            continue
        except OSError as exc:
            reader.note(directory, exc)
    for dropin in sorted(dropins, key=lambda p: p.name):
        value = _restart_from_unit_text(reader.text(dropin) or "")
        if value:
            restart = value
    return restart


def _restart_from_unit_text(text: str) -> str:
    section = ""
    value = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, val = line.partition("=")
        if sep and section == "Service" and key.strip() == "Restart":
            value = val.strip()
    return value


def _upstart_respawn(root: Path, reader: _Reader) -> bool | None:
    for job in UPSTART_JOBS:
        text = reader.text(root / job)
        if text is not None:
            return any(line.strip().split()[:1] == ["respawn"] for line in text.splitlines())
    return None


# -- python, disk, memory, cpu ----------------------------------------------------------------


def _python_facts(facts: LiveFacts, root: Path, reader: _Reader) -> None:
    """Version of the agent's interpreter when we can tell it, else of this interpreter."""
    ordered = [p for p in facts.processes if p.role == "exthandler"] + [
        p for p in facts.processes if p.role == "daemon"
    ]
    for proc in ordered:
        if not proc.interpreter:
            continue
        version = _python_version_of(root, proc.interpreter)
        if version:
            facts.python_version, facts.python_source = version, "agent"
            facts.python_executable = proc.interpreter
            return
    facts.python_version = platform.python_version()
    facts.python_source = "self"
    facts.python_executable = sys.executable


def _python_version_of(root: Path, executable: str) -> str:
    """``3.10`` from ``/usr/bin/python3.10``; follows ``python3`` links inside root."""
    path = executable
    for _ in range(8):
        match = _PYTHON_NAME_RE.fullmatch(path.rsplit("/", 1)[-1])
        if match and "." in match.group(1):
            return match.group(1)
        if not path.startswith("/"):
            break
        link = root / path.lstrip("/")
        try:
            target = os.readlink(link)
        except OSError:
            break
        path = target if target.startswith("/") else f"{path.rsplit('/', 1)[0]}/{target}"
    match = _PYTHON_NAME_RE.fullmatch(path.rsplit("/", 1)[-1])
    return match.group(1) if match else ""


def _disk_facts(root: Path, reader: _Reader) -> list[DiskFacts]:
    disks = []
    for mount, path in (("/", root), ("/var", root / "var")):
        try:
            st = os.statvfs(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            reader.note(mount, exc)
            continue
        disks.append(DiskFacts(mount, st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize))
    return disks


def _memory_facts(facts: LiveFacts, root: Path, reader: _Reader) -> None:
    text = reader.text(root / "proc" / "meminfo")
    if not text:
        return
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if parts[1:2] == ["kB"] else 1
            values[key.strip()] = int(parts[0]) * scale
    facts.mem_total_bytes = values.get("MemTotal")
    available = values.get("MemAvailable")
    if available is None and "MemFree" in values:
        # Kernels before 3.14 have no MemAvailable; free + page cache is the usual estimate.
        available = values["MemFree"] + values.get("Buffers", 0) + values.get("Cached", 0)
    facts.mem_available_bytes = available


def _cpu_static_facts(root: Path, reader: _Reader) -> tuple[int | None, float | None]:
    stat_text = reader.text(root / "proc" / "stat", quiet=True) or ""
    count = sum(1 for line in stat_text.splitlines() if re.match(r"cpu\d+\s", line)) or None
    load_text = reader.text(root / "proc" / "loadavg") or ""
    try:
        load1: float | None = float(load_text.split()[0])
    except (IndexError, ValueError):
        load1 = None
    return count, load1


def _cpu_ticks(text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from the aggregate ``cpu`` line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            numbers = [int(v) for v in line.split()[1:] if v.isdigit()]
            if len(numbers) < 4:
                return None
            # user nice system idle iowait irq softirq steal (guest* are inside user/nice)
            counted = numbers[:8]
            idle = counted[3] + (counted[4] if len(counted) > 4 else 0)
            total = sum(counted)
            return total - idle, total
    return None


def cpu_busy_percent(
    stat_path: Path,
    sample_seconds: float,
    reader: _Reader | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Share of CPU time not idle between two reads of /proc/stat ``sample_seconds`` apart."""
    if sample_seconds <= 0:
        return None
    reader = reader or _Reader(stat_path.parent.parent)
    first = _cpu_ticks(reader.text(stat_path) or "")
    if first is None:
        return None
    sleep(sample_seconds)
    second = _cpu_ticks(reader.text(stat_path, quiet=True) or "")
    if second is None:
        return None
    busy, total = second[0] - first[0], second[1] - first[1]
    if total <= 0:
        return None  # no tick elapsed (a static file in a fake root, or a frozen clock)
    return round(100.0 * max(0, busy) / total, 1)


# -- waagent.conf and DHCP leases: read here, parsed by the bundle parsers ------------------------


def _conf_facts(facts: LiveFacts, root: Path, reader: _Reader) -> None:
    from analyzer.parse.conf import parse_waagent_conf  # the one waagent.conf parser
    from analyzer.parse.errors import ParseError

    data = reader.read(root / CONF_PATH)
    if data is None:
        return
    facts.conf_found = True
    try:
        rows = parse_waagent_conf(data, "/" + CONF_PATH)
    except ParseError as exc:
        reader.note(root / CONF_PATH, str(exc))
        return
    for row in rows:  # redacted by the parser; the last assignment wins
        facts.conf[row.key] = row.value
        if row.line is not None:
            facts.conf_lines[row.key] = row.line


def dhcp_lease_facts(root: Path, reader: _Reader) -> list[LeaseFacts]:
    found: list[LeaseFacts] = []
    seen: set[Path] = set()
    for pattern in DHCP_LEASE_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path in seen or not _is_regular(path):
                continue
            seen.add(path)
            data = reader.read(path)
            if data is None:
                continue
            found.append(_lease_facts(reader.vm_path(path), data))
    return found


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _lease_facts(vm_path: str, data: bytes) -> LeaseFacts:
    """Lease count and option 245 of the current (last) lease, from the one lease parser."""
    from analyzer.parse.dhcp import parse_dhcp_lease
    from analyzer.parse.errors import ParseError

    if vm_path.startswith("/run/systemd/netif/leases/"):
        kind = "networkd"
    elif vm_path.endswith(".xml"):
        kind = "wicked"
    else:
        kind = "dhclient"
    try:
        rows = parse_dhcp_lease(data, vm_path)
    except ParseError:
        return LeaseFacts(vm_path, kind, 0, "")
    starts = [row.line or 0 for row in rows if row.key == "lease"]
    current = max(starts, default=None)
    option = next(
        (
            row.value
            for row in rows
            if row.key == "option_245" and (row.line or 0) == current
            and not row.value.startswith("invalid:")
        ),
        "",
    )
    return LeaseFacts(vm_path, kind, len(starts), option)
