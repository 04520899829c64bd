"""The Dask runner: a real LocalCluster on loopback gives the same results as a local batch."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from batch_helpers import BASE, Spec, build
from conftest import FAST

from analyzer.batch import run_batch
from analyzer.errors import UsageError

distributed = pytest.importorskip("distributed")

VOLATILE = ["duration_s", "cpu_s", "peak_rss_mb"]
"""Per-run measurements: the only columns allowed to differ between runners."""


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _mixed_fleet(folder: Path) -> list[Path]:
    minute = timedelta(minutes=1)
    paths = [
        build(folder, Spec("a", wire_failures=6, deployment="dep-1", role_instance="_a",
                           runs=[(BASE, BASE + 10 * minute)])),
        build(folder, Spec("b", wire_failures=2, deployment="dep-1", role_instance="_b",
                           runs=[(BASE + 5 * minute, BASE + 20 * minute)])),
        build(folder, Spec("c", deployment="dep-2", role_instance="_c")),
    ]
    junk = folder / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    return [*paths, junk]


def _table(out: Path, name: str, key: list[str]) -> pd.DataFrame:
    frame = pd.read_parquet(out / name).drop(columns=VOLATILE, errors="ignore")
    frame = frame.sort_values(key).reset_index(drop=True)
    if "bundles" in frame:
        frame["bundles"] = frame["bundles"].map(list)
    return frame


@pytest.mark.slow
def test_dask_results_equal_local_results(tmp_path: Path, scheduler: str) -> None:
    inputs = _mixed_fleet(tmp_path / "fleet")
    local, remote = tmp_path / "local", tmp_path / "dask"
    run_batch(inputs, local, workers=2, limits=FAST, progress=False)
    summary = run_batch(inputs, remote, scheduler=scheduler, limits=FAST, progress=False)
    assert (summary.ok, summary.rejected, summary.fleet_findings) == (3, 1, 1)
    for name, key in (("bundles", ["path"]), ("findings", ["sha256", "rule"]),
                      ("snapshot_runs", ["sha256", "start"]),
                      ("fleet_findings", ["rule", "deployment"])):
        pd.testing.assert_frame_equal(_table(remote, name, key), _table(local, name, key))


@pytest.mark.slow
def test_dask_resume_skips_done_bundles(tmp_path: Path, scheduler: str) -> None:
    inputs = _mixed_fleet(tmp_path / "fleet")
    out = tmp_path / "dask"
    run_batch(inputs[:2], out, scheduler=scheduler, limits=FAST, progress=False)
    summary = run_batch(inputs, out, scheduler=scheduler, limits=FAST, progress=False,
                        resume=True)
    assert (summary.skipped, summary.analysed, summary.rows) == (2, 2, 4)


@pytest.mark.slow
def test_dask_timeout_is_a_row(tmp_path: Path, scheduler: str) -> None:
    from batch_helpers import slow_log_bomb

    inputs = _mixed_fleet(tmp_path / "fleet")
    bomb = slow_log_bomb(tmp_path / "fleet" / "slow.tgz")
    limits = FAST.with_overrides(wall_seconds=3.0, ratio_limit=10**9,
                                 max_member_bytes=1 << 30, max_total_bytes=4 << 30)
    out = tmp_path / "dask"
    summary = run_batch([*inputs, bomb], out, scheduler=scheduler, limits=limits, progress=False)
    bundles = pd.read_parquet(out / "bundles").set_index("path")
    assert bundles.loc[str(bomb), "status"] == "timeout"
    assert "wall-clock limit" in bundles.loc[str(bomb), "error"]
    assert summary.ok == 3


def test_missing_dask_is_a_clear_usage_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = build(tmp_path / "fleet", Spec("a"))
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(UsageError, match=r"waagent-analyzer\[dask\]"):
        run_batch([bundle], tmp_path / "out", scheduler="tcp://127.0.0.1:1", progress=False)


def test_unreachable_scheduler_is_a_usage_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("analyzer.batch.cluster.CONNECT_TIMEOUT", "1s")
    bundle = build(tmp_path / "fleet", Spec("a"))
    with pytest.raises(UsageError, match="cannot connect"):
        run_batch([bundle], tmp_path / "out", scheduler="tcp://127.0.0.1:1", progress=False)
