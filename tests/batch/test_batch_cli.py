"""The batch and summary commands: options, output and exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import Spec, build

from analyzer.cli import main


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0)


def _batch(fleet: Path, out: Path, *extra: str) -> int:
    return _run(["batch", str(fleet), "--out", str(out), "--workers", "2", "--no-progress",
                 *extra])


def test_exit_1_on_findings_then_summary(fleet: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert _batch(fleet, out) == 1  # WAA-NET-001 is critical, --fail-on defaults to high
    assert "3 bundles analysed" in capsys.readouterr().err
    assert _run(["summary", str(out), "--by", "rule", "--format", "json"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert [g["key"] for g in groups] == ["WAA-NET-001"]


def test_fail_on_never_and_resume(fleet: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert _batch(fleet, out, "--fail-on", "never") == 0
    assert _batch(fleet, out, "--fail-on", "never") == 2  # folder in use, no --resume
    assert "--resume" in capsys.readouterr().err
    assert _batch(fleet, out, "--resume", "--fail-on", "critical") == 1  # whole folder counts
    assert "3 already done" in capsys.readouterr().err


def test_exit_3_when_no_bundle_could_be_analysed(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    assert _run(["batch", str(junk), "--out", str(tmp_path / "out"), "--no-progress"]) == 3
    assert "rejected: " in capsys.readouterr().err


def test_usage_errors(fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = str(tmp_path / "out")
    assert _run(["batch", str(tmp_path / "missing.tgz"), "--out", out]) == 2
    assert _run(["batch", str(fleet), "--out", out, "--retry-failed"]) == 2
    assert _run(["batch", str(fleet)]) == 2  # --out is required
    assert _run(["summary", str(tmp_path), "--by", "colour"]) == 2
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert _run(["batch", str(fleet), "--out", out, "--scheduler", "tcp://127.0.0.1:1"]) == 2


def test_limits_reach_run_batch(fleet: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run_batch(inputs: list[str], out: Path, **kwargs: Any) -> Any:
        seen.update(kwargs, inputs=inputs)
        raise SystemExit(0)

    monkeypatch.setattr("analyzer.batch.run.run_batch", fake_run_batch)
    listing = tmp_path / "list.txt"
    listing.write_text(str(build(tmp_path, Spec("x"))) + "\n")
    assert _run(["batch", f"@{listing}", "--out", str(tmp_path / "o"), "--timeout", "7.5",
                 "--memory-mb", "512", "--workers", "3", "--param", "WAA-NET-001.min_count=9"]
                ) == 0
    limits = seen["limits"]
    assert (limits.wall_seconds, limits.worker_cpu_seconds) == (7.5, 8)
    assert limits.worker_memory_bytes == 512 << 20
    assert seen["workers"] == 3 and seen["inputs"] == [f"@{listing}"]
    assert seen["options"].params == {"WAA-NET-001": {"min_count": "9"}}


def test_summary_to_file(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    _batch(fleet, out, "--fail-on", "never")
    target = tmp_path / "fleet.md"
    assert _run(["summary", str(out), "--format", "markdown", "--output", str(target)]) == 0
    assert target.read_text().startswith("# Batch summary")


def test_broken_extra_rule_is_reported_once(fleet: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    extra = tmp_path / "my-rules"
    extra.mkdir()
    (extra / "BROKEN-1.toml").write_text("id = 'BROKEN-1'\ntitle = \n")
    code = _batch(fleet, tmp_path / "out", "--rules", str(extra), "--fail-on", "never")
    err = capsys.readouterr().err
    assert code == 0 and err.count("rule error:") == 1 and "BROKEN-1.toml" in err
    assert "3 ok" in err


_WATCH_STARTS = """
import json, sys
from analyzer.batch import forkserver
starts = []
forkserver.start = lambda warm=None: starts.append(
    {"warm": warm, "runner_imported": "analyzer.batch.run" in sys.modules})
from analyzer.cli import main
try:
    main(sys.argv[1:])
finally:
    sys.stderr.write("STARTS " + json.dumps(starts) + "\\n")
"""


def test_the_forkserver_starts_before_the_runner_is_imported(fleet: Path,
                                                              tmp_path: Path) -> None:
    """``batch`` starts the forkserver from its arguments alone, before it imports the
    runner and pyarrow, with the very options the runner then gives its children: the
    server's warm-up loads the rule pack the bundles are analysed with."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _WATCH_STARTS, "batch", str(fleet), "--out",
         str(tmp_path / "results"), "--workers", "1", "--no-progress", "--lang", "pt-BR",
         "--param", "WAA-NET-001.min_count=2", "--timeout", "60"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    starts = json.loads(done.stderr.rsplit("STARTS ", 1)[1])
    first, *later = starts
    assert first["runner_imported"] is False
    assert later and all(start["warm"] == first["warm"] for start in later)
    assert first["warm"]["lang"] == "pt-BR"
    assert first["warm"]["params"] == {"WAA-NET-001": {"min_count": "2"}}
    assert first["warm"]["limits"]["wall_seconds"] == 60
