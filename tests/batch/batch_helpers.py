"""Small bundles built in tmp for the batch tests (tar.gz with a waagent.log and friends)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import sys
import tarfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A bare `pytest` run from a checkout (package not installed) cannot import `analyzer`.
if importlib.util.find_spec("analyzer") is None:  # pragma: no cover - depends on the env
    sys.path.insert(0, str(REPO))

VMSNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
VMSNAP_LOG = f"var/log/azure/{VMSNAP}/extension.log"
BASE = datetime(2024, 2, 1, 10, 0, 0)
WIRE_FAILURE = ("WARNING ExtHandler ExtHandler Fetch failed: [HttpError] [HTTP Failed] GET "
                "http://168.63.129.16/machine/?comp=goalstate -- IOError timed out -- "
                "6 attempts made")


@dataclass
class Spec:
    """What one test bundle contains."""

    name: str
    wire_failures: int = 0
    daemon_version: str = "2.9.1.1"
    deployment: str | None = None
    role_instance: str = "_vm1"
    role: str = "web"
    runs: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    """Backup runs of the VMSnapshot extension: (start, end or None)."""


def waagent_log(spec: Spec) -> str:
    stamp = BASE - timedelta(hours=1)
    lines = [f"{_iso(stamp)} INFO Daemon Daemon Azure Linux Agent Version: {spec.daemon_version}",
             # Makes every bundle's content (and so its SHA-256) unique.
             f"{_iso(stamp + timedelta(seconds=1))} INFO Daemon Daemon bundle {spec.name}"]
    for index in range(spec.wire_failures):
        lines.append(f"{_iso(BASE + timedelta(minutes=index))} {WIRE_FAILURE}")
    return "\n".join(lines) + "\n"


def extension_log(runs: list[tuple[datetime, datetime | None]]) -> str:
    prefix = f"[{VMSNAP}-1.0]"
    lines = []
    for start, end in runs:
        lines.append(f"{_plain(start - timedelta(seconds=1))} {prefix}Enable,success,4,"
                     "Transitioning state in extension,False")
        lines.append(f"{_plain(start)} {prefix}starting daemon initially")
        lines.append(f"{_plain(start + timedelta(seconds=5))} {prefix}T:S freeze, timeout value 60")
        if end is not None:
            lines.append(f"{_plain(end)} {prefix}Enable,success,1,,False")
    return "\n".join(lines) + "\n"


def shared_config(spec: Spec) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<SharedConfig version="1.0.0.0" goalStateIncarnation="3">'
            f'<Deployment name="{spec.deployment}" guid="{{d}}" incarnation="0"/>'
            f'<Role name="{spec.role}" settleTimeSeconds="10"/>'
            f'<Incarnation number="3" instance="{spec.role_instance}" guid="{{i}}"/>'
            f'<Instances><Instance id="{spec.role_instance}" address="10.0.0.4"/></Instances>'
            "</SharedConfig>")


def files_of(spec: Spec) -> dict[str, bytes]:
    files = {"var/log/waagent.log": waagent_log(spec).encode()}
    if spec.deployment is not None:
        files["var/lib/waagent/SharedConfig.xml"] = shared_config(spec).encode()
    if spec.runs:
        files[VMSNAP_LOG] = extension_log(spec.runs).encode()
    return files


def write_tgz(path: Path, files: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_706_781_600
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def build(directory: Path, spec: Spec) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return write_tgz(directory / f"{spec.name}.tgz", files_of(spec))


def build_dir(directory: Path, spec: Spec) -> Path:
    """The same bundle as an unpacked folder."""
    root = directory / spec.name
    for name, data in files_of(spec).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def slow_log_bomb(path: Path, megabytes: int = 1000) -> Path:
    """A small tar.gz whose waagent.log expands to ``megabytes`` of lines every rule prefilter
    hits: analysing it takes many seconds of CPU (with the bomb ratio check relaxed).

    The analyser reads such lines at well over 100 MB/s, so the default keeps a margin of three
    or more above the few-second limits the timeout tests set."""
    lines = [f"{_iso(BASE + timedelta(seconds=i))} {WIRE_FAILURE}" for i in range(120)]
    block = ("\n".join(lines) + "\n").encode()
    return stream_tgz(path, "var/log/waagent.log", block, megabytes * 1024 * 1024 // len(block))


def big_xml_bomb(path: Path, megabytes: int = 400) -> Path:
    """A small tar.gz holding a ``megabytes`` GoalState XML (mostly whitespace): reading it
    needs more memory than a tight worker limit allows."""
    return stream_tgz(path, "var/lib/waagent/GoalState.1.xml", b" " * (1 << 20), megabytes,
                      head=b"<GoalState>", tail=b"</GoalState>")


def stream_tgz(path: Path, member: str, block: bytes, repeats: int, head: bytes = b"",
               tail: bytes = b"") -> Path:
    """A tar.gz with one member of ``head + block * repeats + tail``, written without ever
    holding the member in memory."""
    size = len(head) + len(block) * repeats + len(tail)
    header = tarfile.TarInfo(member)
    header.size = size
    header.mtime = 1_706_781_600
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               compresslevel=1, mtime=0) as out:
        out.write(header.tobuf(format=tarfile.GNU_FORMAT) + head)
        for _ in range(repeats):
            out.write(block)
        out.write(tail + b"\0" * ((512 - size % 512) % 512) + b"\0" * 1024)
    return path


def env_with_repo() -> dict[str, str]:
    environment = dict(os.environ)
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = str(REPO) + (os.pathsep + existing if existing else "")
    return environment


def _iso(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
