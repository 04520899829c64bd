"""Running the real CLI in a subprocess, and small bundles for the CLI tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAIL = (
    "WARNING ExtHandler ExtHandler Fetch failed: [HttpError] [HTTP Failed] GET "
    "http://168.63.129.16/machine/?comp=goalstate -- IOError timed out -- 6 attempts made"
)
BENIGN = "INFO ExtHandler ExtHandler ProcessExtensionsGoalState completed [incarnation_3 12 ms]"


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
        stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "WAAGENT_ANALYZER_NO_CACHE": "1", "PYTHONPATH": str(REPO)}
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        environment.pop(name, None)
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", *args], cwd=cwd, input=stdin,
        capture_output=True, timeout=timeout, env=environment,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def log_text(lines: list[str]) -> str:
    return "".join(f"2024-02-01T10:{i:02d}:00.000000Z {line}\n" for i, line in enumerate(lines))


def tar_bundle(path: Path, files: dict[str, bytes | str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def failing_bundle(tmp_path: Path, name: str = "case.tgz") -> Path:
    return tar_bundle(tmp_path / name, {
        "var/log/waagent.log": log_text([BENIGN] + [FAIL] * 6),
        "etc/waagent.conf": "Extensions.Enabled=y\nLogs.Verbose=n\n",
    })


def clean_bundle(tmp_path: Path, name: str = "clean.tgz") -> Path:
    return tar_bundle(tmp_path / name, {
        "var/log/waagent.log": log_text([BENIGN] * 3),
        "etc/waagent.conf": "Extensions.Enabled=y\nLogs.Verbose=y\n",
    })
