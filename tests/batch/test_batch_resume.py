"""A batch killed half-way loses no finished bundle; --resume completes it without duplicates."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_helpers import Spec, build, env_with_repo
from conftest import FAST

from analyzer.batch import run_batch
from analyzer.batch.store import ResultStore

COUNT = 120


def _fleet(folder: Path) -> Path:
    for index in range(COUNT):
        build(folder, Spec(f"vm-{index:03d}", wire_failures=3 + index % 4,
                           deployment=f"dep-{index % 5}", role_instance=f"_vm{index}"))
    return folder


def _committed(out: Path) -> int:
    folder = out / "bundles"
    return len(list(folder.glob("part-*.parquet"))) if folder.is_dir() else 0


@pytest.mark.slow
def test_kill_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path / "fleet")
    out = tmp_path / "results"
    batch = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "batch", str(fleet), "--out", str(out),
         "--workers", "1", "--no-progress", "--fail-on", "never"],
        env=env_with_repo(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _committed(out) < 1 and batch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    batch.kill()
    batch.wait()
    before = pd.read_parquet(out / "bundles")
    assert 0 < len(before) < COUNT, "the batch was not killed half-way"

    # What a kill can leave behind, made certain: a temp file and a group without its commit.
    (out / "bundles" / ".tmp-half.123.parquet").write_bytes(b"PAR1 half written")
    orphan = pa.table({"sha256": ["f" * 64], "rule": ["WAA-FAKE-001"]})
    pq.write_table(orphan, out / "findings" / "part-orphan.parquet")

    resumed = run_batch([fleet], out, workers=2, limits=FAST, progress=False, resume=True)
    assert resumed.skipped == len(before)
    assert resumed.analysed == COUNT - len(before)

    bundles = pd.read_parquet(out / "bundles")
    findings = pd.read_parquet(out / "findings")
    assert len(bundles) == COUNT and bundles["sha256"].is_unique
    assert set(bundles["status"]) == {"ok"}
    assert findings.groupby("sha256")["rule"].apply(list).map(len).max() == 1
    assert len(findings) == COUNT and "WAA-FAKE-001" not in set(findings["rule"])
    assert not list((out / "bundles").glob(".tmp-*"))
    # Rows kept from before the kill are the very same rows.
    kept = bundles.set_index("sha256").loc[before["sha256"]]
    assert (kept["path"].to_numpy() == before["path"].to_numpy()).all()

    # Every finding is the one its bundle was built with: nothing lost, nothing stale.
    expected = {str(fleet / f"vm-{i:03d}.tgz"): 3 + i % 4 for i in range(COUNT)}
    counts = findings.merge(bundles[["sha256", "path"]], on="sha256").set_index("path")["count"]
    assert counts.to_dict() == expected
    assert set(findings["rule"]) == {"WAA-NET-001"}


def test_resume_retries_only_what_is_asked(tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    good = build(folder, Spec("good", wire_failures=3))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "results"
    run_batch([folder, junk], out, workers=1, limits=FAST, progress=False)
    again = run_batch([folder, junk], out, workers=1, limits=FAST, progress=False, resume=True)
    assert (again.skipped, again.analysed) == (2, 0)
    # A rejected input is not "failed": --retry-failed leaves it alone too.
    retried = run_batch([folder, junk], out, workers=1, limits=FAST, progress=False,
                        resume=True, retry_failed=True)
    assert (retried.skipped, retried.analysed) == (2, 0)
    assert len(pd.read_parquet(out / "bundles")) == 2
    assert good.exists()


def test_retry_failed_replaces_the_failed_row(tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    build(folder, Spec("a", wire_failures=3))
    build(folder, Spec("b", wire_failures=3))
    out = tmp_path / "results"
    run_batch([folder], out, workers=1, limits=FAST, progress=False)
    store = ResultStore(out)
    table = store.read("bundles")
    statuses = table.column("status").to_pylist()
    statuses[0] = "timeout"  # as if it had hit the limit last time
    part = next((out / "bundles").glob("part-*.parquet"))
    pq.write_table(table.set_column(table.schema.get_field_index("status"), "status",
                                    pa.array(statuses)), part)
    retried = run_batch([folder], out, workers=1, limits=FAST, progress=False, resume=True,
                        retry_failed=True)
    assert (retried.skipped, retried.analysed) == (1, 1)
    bundles = pd.read_parquet(out / "bundles")
    assert len(bundles) == 2 and set(bundles["status"]) == {"ok"} and bundles["sha256"].is_unique
