"""The atheris harnesses in fuzz/ run (a few hundred executions each), and every reproducer a
fuzzer once produced (tests/security/corpus/) replays cleanly through its harness.

The long runs (10 minutes each) are ``python fuzz/run.py``; see README "Security".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sec_harness import REPO

FUZZ = REPO / "fuzz"
CORPUS = Path(__file__).parent / "corpus"
HARNESSES = ["walker", "logparser", "xml"]

pytest.importorskip("atheris")


def _run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FUZZ_KNOWN_BUGS"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-corpus")
    done = _run([sys.executable, str(FUZZ / "make_seeds.py"), str(root)], root)
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize("harness", HARNESSES)
def test_harness_smoke_run(harness: str, seeds: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in (seeds / harness).iterdir():
        (corpus / seed.name).write_bytes(seed.read_bytes())
    done = _run([sys.executable, str(FUZZ / f"fuzz_{harness}.py"), str(corpus), "-runs=400",
                 "-max_total_time=20", "-rss_limit_mb=2048", "-timeout=20",
                 f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"], tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done" in done.stderr and "stat::number_of_executed_units" in done.stderr
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))


REPRODUCERS = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.is_dir() else []


@pytest.mark.parametrize("name", REPRODUCERS)
def test_reproducer_replays_cleanly(name: str, tmp_path: Path) -> None:
    harness = name.split("-", 1)[0]
    done = _run([sys.executable, str(FUZZ / f"fuzz_{harness}.py"), str(CORPUS / name),
                 f"-artifact_prefix={tmp_path}/"], tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Executed" in done.stderr
