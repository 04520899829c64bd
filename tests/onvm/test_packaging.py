"""The wheel carries the zipapp; the default install needs no pyarrow for analyze, and asking
for Parquet without it is a clear usage error (exit 2)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from onvm_fakes import interpreter

from analyzer.onvm.build import zipapp_bytes

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "fixtures" / "bundles" / "wireserver-down-g4.tgz"
NO_PYARROW = "import sys; sys.modules['pyarrow'] = None; from analyzer.cli import main; main()"


def test_wheel_ships_the_zipapp_and_it_runs_from_there(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("waagent_analyzer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("analyzer/onvm/waagent-selfcheck.pyz")
    assert shipped == zipapp_bytes()
    pyz = tmp_path / "waagent-selfcheck.pyz"
    pyz.write_bytes(shipped)
    run = subprocess.run([str(interpreter("3.6.15")), str(pyz), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--network" in run.stdout


def test_default_dependencies_leave_out_parquet_and_dask() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("[")[0].split("=")[0] for d in project["dependencies"]]
    assert "pyarrow" not in names and "dask" not in names
    assert {"pandas", "pyparsing", "lxml", "typer"} <= set(names)
    assert any(d.startswith("pyarrow") for d in project["optional-dependencies"]["parquet"])


def _cli_without_pyarrow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", NO_PYARROW, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                               "WAAGENT_ANALYZER_NO_CACHE": "1"})


def test_analyze_works_without_pyarrow() -> None:
    done = _cli_without_pyarrow("analyze", str(BUNDLE), "--format", "json")
    assert done.returncode == 1, done.stderr  # findings, not a crash
    assert '"WAA-NET-001"' in done.stdout


def test_parquet_without_pyarrow_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "config.parquet"
    done = _cli_without_pyarrow("parse", str(BUNDLE), "--table", "config", "--format",
                                "parquet", "--output", str(out))
    assert done.returncode == 2
    assert "waagent-analyzer[parquet]" in done.stderr
    assert not out.exists()
    batch = _cli_without_pyarrow("batch", str(BUNDLE), "--out", str(tmp_path / "results"))
    assert batch.returncode == 2 and "waagent-analyzer[parquet]" in batch.stderr
    assert not (tmp_path / "results").exists()
