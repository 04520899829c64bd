"""Live facts of a VM, read under a root without following any link (Python 3.6+, stdlib).

The result is a plain dict in the ``waagent-analyzer/live-facts/v1`` schema, the one
``analyzer.live.vm_state.LiveFacts.from_dict`` reads: ``waagent-analyzer analyze`` of the bundle
turns it into the same config rows the zipapp evaluated.

Nothing is changed on the system. The only program run is ``systemctl show``, and only when the
root is ``/``. A file that cannot be read is recorded in ``unreadable`` with the reason; a file
that does not exist is not an error. Every read is capped.
"""

import errno
import fnmatch
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from typing import Any, Dict  # noqa: F401  (type comments)

from analyzer import safe_open
from analyzer.onvm import formats
from analyzer.onvm.specs import DHCP_LEASE_GLOBS, WAAGENT_CONF

SCHEMA = "waagent-analyzer/live-facts/v1"

AGENT_UNITS = ("walinuxagent.service", "waagent.service")
UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "lib/systemd/system",
             "usr/lib/systemd/system")
UPSTART_JOBS = ("etc/init/walinuxagent.conf", "etc/init/waagent.conf")
SYSTEMCTL_PROPERTIES = "LoadState,ActiveState,SubState,Restart,UnitFileState"
CONF_PATH = WAAGENT_CONF
CONF_KEYS = formats.REPORTED_KEYS
AGENT_VERSION_GLOBS = (
    "usr/lib/python3/dist-packages/azurelinuxagent/common/version.py",
    "usr/lib/python3*/site-packages/azurelinuxagent/common/version.py",
    "usr/local/lib/python3*/site-packages/azurelinuxagent/common/version.py",
    "usr/lib/python2*/site-packages/azurelinuxagent/common/version.py",
)
READ_CAP = 1024 * 1024
_MAX_PROC_ERRORS = 20
_EGG_RE = re.compile(r"WALinuxAgent-(\d+(?:\.\d+)+)-py\d+(?:\.\d+)*\.egg")
_AGENT_DIR_RE = re.compile(r"WALinuxAgent-(\d+(?:\.\d+)+)(?:/|$)")
_PYTHON_NAME_RE = re.compile(r"python(\d+(?:\.\d+)*)[a-z]*$")
_AGENT_VERSION_RE = re.compile(r"""^AGENT_VERSION\s*=\s*['"]([0-9][0-9.]*)['"]""", re.MULTILINE)
_AUTO_RESTART_VALUES = frozenset(["always", "on-failure", "on-abnormal", "on-abort", "respawn"])
_ROLES = {"daemon": "daemon", "run-exthandlers": "exthandler"}


class Reader(object):
    """Reads files under ``root`` (never through a link) and remembers what failed, and why."""

    def __init__(self, root):
        # type: (str) -> None
        self.root = root
        self.unreadable = []  # type: list

    def note(self, relpath, exc):
        # type: (str, Any) -> None
        where = "/" + relpath.lstrip("/") if not relpath.startswith("systemctl") else relpath
        self.unreadable.append([where, exc if isinstance(exc, str) else reason(exc)])

    def read(self, relpath, limit=READ_CAP, quiet=False):
        # type: (str, int, bool) -> Any
        """First ``limit`` bytes, or None when missing or unreadable."""
        try:
            return read_capped(self.root, relpath, limit)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH) or quiet:
                return None
            self.note(relpath, exc)
            return None

    def text(self, relpath, limit=READ_CAP, quiet=False):
        # type: (str, int, bool) -> Any
        data = self.read(relpath, limit, quiet)
        return None if data is None else data.decode("utf-8", "replace")

    def listdir(self, relpath):
        # type: (str) -> list
        """(name, kind) entries; [] when missing, a link, or unreadable (noted)."""
        try:
            return safe_open.list_under(self.root, relpath)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR) and not _is_link_error(exc):
                self.note(relpath, exc)
            return []

    def glob(self, pattern):
        # type: (str) -> list
        """Regular files matching ``pattern`` (wildcards per component), sorted, no links."""
        found = [""]
        parts = pattern.split("/")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            nxt = []
            for prefix in found:
                if not any(c in part for c in "*?["):
                    nxt.append(prefix + part if not prefix else prefix + "/" + part)
                    continue
                for name, kind in self.listdir(prefix or "."):
                    if name.startswith(".") or not fnmatch.fnmatchcase(name, part):
                        continue
                    if (last and kind == "file") or (not last and kind == "dir"):
                        nxt.append(name if not prefix else prefix + "/" + name)
            found = nxt
        return sorted(found)


def _is_link_error(exc):
    # type: (OSError) -> bool
    return isinstance(exc, safe_open.UnsafePath)


def reason(exc):
    # type: (BaseException) -> str
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return "%s: %s" % (type(exc).__name__, detail) if detail else type(exc).__name__


def read_capped(root, relpath, limit):
    # type: (str, str, int) -> bytes
    """At most ``limit`` bytes of the regular (or /proc) file root/relpath, opened through
    ``safe_open`` (no link followed anywhere, no FIFO or device opened). Every file read of
    the self-check goes through here (tests patch it to simulate errors)."""
    fd = safe_open.open_under(root, relpath)
    try:
        return _read_fd(fd, limit)
    finally:
        os.close(fd)


def _read_fd(fd, limit):
    # type: (int, int) -> bytes
    chunks = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def utc_now():
    # type: () -> str
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _is_live_root(root):
    # type: (str) -> bool
    try:
        return os.path.realpath(root) == "/"
    except OSError:
        return False


def gather(root, sample_seconds=0.5, systemctl=None, redactor=None, wicked=None,
           sleep=time.sleep):
    # type: (str, float, Any, Any, Any, Any) -> dict
    """Every live fact under ``root`` (``/`` on the VM, a fake tree in tests).

    ``systemctl`` replaces the ``systemctl show`` runner (by default used only when ``root``
    is ``/``); ``redactor`` (``redact_text``/``redact_obj``) cleans what is read, by default
    the zipapp's ``analyzer.onvm.redact``; ``wicked`` reads a wicked XML lease (the full tool
    passes its lxml parser); ``sleep`` waits between the two CPU samples."""
    if redactor is None:
        from analyzer.onvm import redact as redactor
    reader = Reader(root)
    facts = {  # type: Dict[str, Any]
        "root": root, "gathered_at": utc_now(), "schema": SCHEMA,
        "processes": [], "installed_version": "", "services": [], "upstart_respawn": None,
        "python_version": "", "python_source": "", "python_executable": "", "disks": [],
        "mem_total_bytes": None, "mem_available_bytes": None, "cpu_busy_percent": None,
        "cpu_sample_seconds": 0.0, "cpu_count": None, "load1": None, "conf_found": False,
        "conf": {}, "conf_lines": {}, "leases": [], "proxy": "", "network": [],
        "network_probed": False, "unreadable": [],
    }
    facts["processes"] = scan_agent_processes(reader, redactor)
    facts["installed_version"] = _installed_agent_version(reader)
    if systemctl is None and _is_live_root(root) and shutil.which("systemctl"):
        systemctl = run_systemctl
    facts["services"] = [_service_state(unit, systemctl, reader) for unit in AGENT_UNITS]
    facts["upstart_respawn"] = _upstart_respawn(reader)
    _python_facts(facts, reader)
    facts["disks"] = _disk_facts(reader)
    _memory_facts(facts, reader)
    facts["cpu_count"], facts["load1"] = _cpu_static_facts(reader)
    facts["cpu_sample_seconds"] = float(sample_seconds)
    facts["cpu_busy_percent"] = cpu_busy_percent(reader, sample_seconds, sleep)
    _conf_facts(facts, reader, redactor)
    facts["leases"] = dhcp_lease_facts(reader, wicked or wicked_lease_rows)
    facts["versions"] = versions_on_disk(reader)
    facts["unreadable"] = reader.unreadable
    return facts


# -- versions from the files under /var/lib/waagent -------------------------------------------

LIB = "var/lib/waagent"
_HANDLER_DIR_RE = re.compile(r"^([A-Za-z0-9_.]+)-(\d+(?:\.\d+)+)$")
_STATUS_VERSION_RE = re.compile(r'"guestAgentStatus"\s*:\s*\{[^{}]*?"version"\s*:\s*"([0-9.]+)"')


def versions_on_disk(reader):
    # type: (Reader) -> dict
    """What the agent's own files say, useful when no agent process runs: downloaded agent
    versions (``WALinuxAgent-<v>/``), the goal-state agent of ``waagent_status.json``, and each
    extension handler folder (``<Publisher.Type>-<v>/``) with its ``config/HandlerState``.
    Reported in ``self-check.json`` under ``versions`` (the rules do not use it)."""
    agents, extensions = [], []
    for name, kind in reader.listdir(LIB):
        match = _HANDLER_DIR_RE.match(name)
        if kind != "dir" or match is None:
            continue
        if match.group(1) == "WALinuxAgent":
            agents.append(match.group(2))
            continue
        state = reader.text("%s/%s/config/HandlerState" % (LIB, name), limit=256) or ""
        extensions.append({"name": match.group(1), "version": match.group(2),
                           "state": state.strip()[:40]})
    status = reader.text(LIB + "/waagent_status.json", limit=READ_CAP) or ""
    found = _STATUS_VERSION_RE.search(status)
    return {"agents": sorted(agents, key=_version_key),
            "goal_state_agent": found.group(1) if found else "",
            "extensions": extensions}


def _version_key(text):
    # type: (str) -> list
    return [int(part) for part in text.split(".") if part.isdigit()]


# -- processes --------------------------------------------------------------------------------


def classify_cmdline(argv):
    # type: (list) -> Any
    """``(role, version)`` when ``argv`` is a WALinuxAgent process, else None (the agent script
    must be argv[0] or the first non-option argument of a Python interpreter)."""
    script = _script_index(argv)
    if script is None:
        return None
    egg = _EGG_RE.search(argv[script])
    version = egg.group(1) if egg else ""
    for flag in argv[script + 1:]:
        if flag.startswith("-") and flag.strip("-"):
            mode = flag.lstrip("-").lower()
            return _ROLES.get(mode, mode), version
    return None


def _is_agent_script(arg):
    # type: (str) -> bool
    return bool(_EGG_RE.search(arg)) or arg.rsplit("/", 1)[-1] in ("waagent", "waagent2.0")


def _script_index(argv):
    # type: (list) -> Any
    if not argv:
        return None
    if _is_agent_script(argv[0]):
        return 0
    if not _PYTHON_NAME_RE.match(argv[0].rsplit("/", 1)[-1]):
        return None
    index = 1
    while index < len(argv) and argv[index].startswith("-"):
        if argv[index] in ("-m", "-c"):
            return None
        index += 1
    if index < len(argv) and _is_agent_script(argv[index]):
        return index
    return None


def scan_agent_processes(reader, redactor):
    # type: (Reader, Any) -> list
    found = []
    errors = 0
    entries = sorted((n for n, kind in reader.listdir("proc") if n.isdigit() and kind == "dir"),
                     key=int)
    for name in entries:
        raw = reader.read("proc/%s/cmdline" % name, 64 * 1024, quiet=errors >= _MAX_PROC_ERRORS)
        if raw is None:
            errors += 1
            continue
        # Redacted where it is read: a command line can carry ``--password X``.
        argv = [redactor.redact_text(a.decode("utf-8", "replace")) for a in raw.split(b"\0") if a]
        classified = classify_cmdline(argv) if argv else None
        if classified is None:
            continue
        role, version = classified
        if not version:
            match = _AGENT_DIR_RE.search(_readlink(reader.root, "proc/%s/cwd" % name) or "")
            version = match.group(1) if match else ""
        interpreter = ""
        exe = (_readlink(reader.root, "proc/%s/exe" % name) or "")
        if exe.endswith(" (deleted)"):
            exe = exe[:-len(" (deleted)")]
        for candidate in (exe, argv[0]):
            if candidate and _PYTHON_NAME_RE.match(candidate.rsplit("/", 1)[-1]):
                interpreter = candidate
                break
        found.append({"pid": int(name), "role": role, "version": version, "argv": argv,
                      "interpreter": interpreter})
    return found


def _readlink(root, relpath):
    # type: (str, str) -> Any
    """Target of the link root/relpath (read, never followed); None when not a link."""
    parent, _, name = relpath.rpartition("/")
    try:
        fd = safe_open.open_under(root, parent, directory=True)
    except OSError:
        return None
    try:
        return os.readlink(name, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _installed_agent_version(reader):
    # type: (Reader) -> str
    for pattern in AGENT_VERSION_GLOBS:
        for path in reader.glob(pattern):
            match = _AGENT_VERSION_RE.search(reader.text(path) or "")
            if match:
                return match.group(1)
    return ""


# -- service ----------------------------------------------------------------------------------


def run_systemctl(argv):
    # type: (list) -> str
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SYSTEMD_PAGER": ""}
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=3, env=env, check=False,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        message = " / ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise RuntimeError("exit %d: %s" % (done.returncode, message[:200]))
    return done.stdout


def _service_state(unit, systemctl, reader):
    # type: (str, Any, Reader) -> dict
    state = {"unit": unit, "load_state": "", "active_state": "", "sub_state": "", "restart": "",
             "unit_file_state": "", "unit_file": "", "unit_file_restart": "", "source": ""}
    sources = []
    if systemctl is not None:
        argv = ["systemctl", "show", "--no-pager", "-p", SYSTEMCTL_PROPERTIES, unit]
        try:
            props = _parse_properties(systemctl(argv))  # type: ignore
        except Exception as exc:  # a runner failure is a fact to report, not a crash
            reader.note("systemctl show " + unit, exc)
            props = {}
        if props:
            sources.append("systemctl")
            state["load_state"] = props.get("LoadState", "")
            state["active_state"] = props.get("ActiveState", "")
            state["sub_state"] = props.get("SubState", "")
            state["restart"] = props.get("Restart", "")
            state["unit_file_state"] = props.get("UnitFileState", "")
    found = _find_unit_file(unit, reader)
    if found is not None:
        sources.append("unit-file")
        path, masked = found
        state["unit_file"] = "/" + path
        if masked:
            state["unit_file_state"] = state["unit_file_state"] or "masked"
        else:
            state["unit_file_restart"] = _unit_restart(unit, path, reader)
    state["source"] = "+".join(sources)
    return state


def _parse_properties(text):
    # type: (str) -> dict
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key.strip()] = value.strip()
    return props


def _find_unit_file(unit, reader):
    # type: (str, Reader) -> Any
    """First unit file on the search path; ``masked`` when it is a link to /dev/null. A link
    to another unit file is resolved by name inside the root (never through the OS)."""
    for unit_dir in UNIT_DIRS:
        entries = dict(reader.listdir(unit_dir))
        kind = entries.get(unit)
        if kind is None:
            continue
        path = unit_dir + "/" + unit
        if kind == "link":
            target = _readlink(reader.root, path) or ""
            if target == "/dev/null":
                return path, True
            resolved = target.lstrip("/") if target.startswith("/") else unit_dir + "/" + target
            return os.path.normpath(resolved).lstrip("/"), False
        return path, False
    return None


def _unit_restart(unit, path, reader):
    # type: (str, str, Reader) -> str
    restart = _restart_from_unit_text(reader.text(path) or "")
    dropins = []
    for unit_dir in UNIT_DIRS:
        directory = unit_dir + "/" + unit + ".d"
        for name, _kind in reader.listdir(directory):
            if name.endswith(".conf"):
                dropins.append((name, directory + "/" + name))
    for _, dropin in sorted(dropins):
        value = _restart_from_unit_text(reader.text(dropin) or "")
        if value:
            restart = value
    return restart


def _restart_from_unit_text(text):
    # type: (str) -> str
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


def _upstart_respawn(reader):
    # type: (Reader) -> Any
    for job in UPSTART_JOBS:
        text = reader.text(job)
        if text is not None:
            return any(line.strip().split()[:1] == ["respawn"] for line in text.splitlines())
    return None


def service(facts):
    # type: (dict) -> Any
    """The agent's unit: the one systemd has loaded, else the one with a unit file."""
    for svc in facts["services"]:
        if svc["load_state"] == "loaded":
            return svc
    for svc in facts["services"]:
        if svc["unit_file"]:
            return svc
    return None


def restart_policy(facts):
    # type: (dict) -> str
    svc = service(facts)
    if svc is not None:
        if svc["restart"]:
            return svc["restart"]
        if svc["unit_file_restart"]:
            return svc["unit_file_restart"]
        if svc["unit_file"] or svc["load_state"] == "loaded":
            return "no"  # systemd's default when Restart= is not set
    if facts["upstart_respawn"] is not None:
        return "respawn" if facts["upstart_respawn"] else "no"
    return "unknown"


def auto_restart(facts):
    # type: (dict) -> Any
    policy = restart_policy(facts)
    return None if policy == "unknown" else policy in _AUTO_RESTART_VALUES


# -- python, disk, memory, cpu ----------------------------------------------------------------


def _python_facts(facts, reader):
    # type: (dict, Reader) -> None
    procs = facts["processes"]
    ordered = [p for p in procs if p["role"] == "exthandler"] + [
        p for p in procs if p["role"] == "daemon"]
    for proc in ordered:
        if not proc["interpreter"]:
            continue
        version = _python_version_of(reader.root, proc["interpreter"])
        if version:
            facts["python_version"], facts["python_source"] = version, "agent"
            facts["python_executable"] = proc["interpreter"]
            return
    facts["python_version"] = platform.python_version()
    facts["python_source"] = "self"
    facts["python_executable"] = sys.executable


def _python_version_of(root, executable):
    # type: (str, str) -> str
    """``3.10`` from ``/usr/bin/python3.10``; reads ``python3`` links inside the root."""
    path = executable
    for _ in range(8):
        match = _PYTHON_NAME_RE.match(path.rsplit("/", 1)[-1])
        if match and "." in match.group(1):
            return match.group(1)
        if not path.startswith("/"):
            break
        target = _readlink(root, path.lstrip("/"))
        if not target:
            break
        path = target if target.startswith("/") else path.rsplit("/", 1)[0] + "/" + target
    match = _PYTHON_NAME_RE.match(path.rsplit("/", 1)[-1])
    return match.group(1) if match else ""


def _disk_facts(reader):
    # type: (Reader) -> list
    disks = []
    for mount, relpath in (("/", ""), ("/var", "var")):
        try:
            fd = safe_open.open_under(reader.root, relpath, directory=True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                reader.note(mount, exc)
            continue
        try:
            st = os.fstatvfs(fd)
        except OSError as exc:
            reader.note(mount, exc)
            continue
        finally:
            os.close(fd)
        disks.append({"mount": mount, "total_bytes": st.f_blocks * st.f_frsize,
                      "free_bytes": st.f_bavail * st.f_frsize})
    return disks


def _memory_facts(facts, reader):
    # type: (dict, Reader) -> None
    text = reader.text("proc/meminfo")
    if not text:
        return
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if parts[1:2] == ["kB"] else 1
            values[key.strip()] = int(parts[0]) * scale
    facts["mem_total_bytes"] = values.get("MemTotal")
    available = values.get("MemAvailable")
    if available is None and "MemFree" in values:
        # Kernels before 3.14 have no MemAvailable; free + page cache is the usual estimate.
        available = values["MemFree"] + values.get("Buffers", 0) + values.get("Cached", 0)
    facts["mem_available_bytes"] = available


def _cpu_static_facts(reader):
    # type: (Reader) -> tuple
    stat_text = reader.text("proc/stat", quiet=True) or ""
    count = sum(1 for line in stat_text.splitlines() if re.match(r"cpu\d+\s", line)) or None
    load_text = reader.text("proc/loadavg") or ""
    try:
        load1 = float(load_text.split()[0])  # type: Any
    except (IndexError, ValueError):
        load1 = None
    return count, load1


def _cpu_ticks(text):
    # type: (str) -> Any
    for line in text.splitlines():
        if line.startswith("cpu "):
            numbers = [int(v) for v in line.split()[1:] if v.isdigit()]
            if len(numbers) < 4:
                return None
            counted = numbers[:8]
            idle = counted[3] + (counted[4] if len(counted) > 4 else 0)
            total = sum(counted)
            return total - idle, total
    return None


def cpu_busy_percent(reader, sample_seconds, sleep=time.sleep):
    # type: (Reader, float, Any) -> Any
    """Share of CPU time not idle between two reads of /proc/stat ``sample_seconds`` apart."""
    if sample_seconds <= 0:
        return None
    first = _cpu_ticks(reader.text("proc/stat") or "")
    if first is None:
        return None
    sleep(sample_seconds)
    second = _cpu_ticks(reader.text("proc/stat", quiet=True) or "")
    if second is None:
        return None
    busy, total = second[0] - first[0], second[1] - first[1]
    if total <= 0:
        return None  # no tick elapsed (a static file in a fake root)
    return round(100.0 * max(0, busy) / total, 1)


# -- waagent.conf and DHCP leases: read by formats.py, the bundle parsers' own reading ----------


def _conf_facts(facts, reader, redactor):
    # type: (dict, Reader, Any) -> None
    data = reader.read(CONF_PATH)
    if data is None:
        return
    facts["conf_found"] = True
    try:
        text = formats.decode_small_text(data)
    except ValueError as exc:
        reader.note(CONF_PATH, str(exc))
        return
    for key, value, line in formats.conf_assignments(text):
        # Values end up in self-check.json: a proxy URL may carry a password. The last
        # assignment wins, as for the agent.
        facts["conf"][key] = formats.redact_setting(key, value, redactor)
        facts["conf_lines"][key] = line


def conf_value(facts, key):
    # type: (dict, str) -> tuple
    """Value of a waagent.conf key and its line (``None`` line: the agent's default)."""
    if key in facts["conf"]:
        return facts["conf"][key], facts["conf_lines"].get(key)
    return formats.effective_conf(facts["conf"].items()).get(key), None


_WICKED_245_RE = re.compile(r"<code>\s*245\s*</code>\s*<data>\s*([0-9A-Fa-f:]+)\s*</data>")


def wicked_lease_rows(data, vm_path):
    # type: (bytes, str) -> list
    """The zipapp's reading of a wicked XML lease (no safe XML parser on the VM): option 245
    as ``<option><code>245</code><data>..</data>``; the full tool reads it with lxml."""
    match = _WICKED_245_RE.search(data.decode("utf-8", "replace"))
    return formats.lease_rows({"option_245": match.group(1)} if match else {}, 1)


def lease_file_rows(data, vm_path, wicked=wicked_lease_rows):
    # type: (bytes, str, Any) -> list
    """``(key, value, line)`` rows of one lease file; [] when it is not a lease file."""
    if data.lstrip()[:1] == b"<":
        return wicked(data, vm_path)
    try:
        return formats.lease_text_rows(formats.decode_small_text(data), vm_path.rsplit("/", 1)[-1])
    except ValueError:
        return []


def dhcp_lease_facts(reader, wicked=wicked_lease_rows):
    # type: (Reader, Any) -> list
    found = []
    seen = set()
    for pattern in DHCP_LEASE_GLOBS:
        for path in reader.glob(pattern):
            if path in seen:
                continue
            seen.add(path)
            data = reader.read(path)
            if data is not None:
                vm_path = "/" + path
                found.append(formats.lease_summary(vm_path, lease_file_rows(data, vm_path, wicked)))
    return found


def option_245(facts):
    # type: (dict) -> str
    for lease in facts["leases"]:
        if lease["option_245"]:
            return lease["option_245"]
    return ""
