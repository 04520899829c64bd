"""run_batch end to end: Parquet rows and values, failures as rows, the results folder rules."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_helpers import Spec, big_xml_bomb, build, build_dir, sha256_of, slow_log_bomb
from conftest import FAST

from analyzer.batch import run_batch
from analyzer.batch.store import TABLES
from analyzer.bundle.identity import tree_sha256
from analyzer.errors import UsageError


def test_rows_and_values(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    summary = run_batch([fleet], out, workers=2, limits=FAST, progress=False)
    assert (summary.inputs, summary.ok, summary.failed, summary.rows) == (3, 3, 0, 3)
    assert summary.worst_severity == "critical"

    bundles = pd.read_parquet(out / "bundles").set_index("path")
    a, b, c = (str(fleet / f"vm-{x}.tgz") for x in "abc")
    assert bundles.loc[a, "sha256"] == sha256_of(Path(a))
    assert set(bundles["status"]) == {"ok"}
    assert bundles.loc[a, "deployment"] == "dep-1" and bundles.loc[a, "role"] == "web"
    assert bundles.loc[a, "role_instance"] == "_a"
    assert bundles.loc[c, "deployment"] == "dep-2"
    assert bundles.loc[a, "daemon_version"] == "2.9.1.1"
    assert bundles.loc[b, "daemon_version"] == "2.10.0.8"
    assert bundles.loc[a, "findings_critical"] == 1 and bundles.loc[a, "worst_severity"] == "critical"
    assert bundles.loc[c, "findings_critical"] == 0 and pd.isna(bundles.loc[c, "worst_severity"])
    assert str(bundles.loc[a, "collected_at"]) == "2024-02-01 10:07:00+00:00"
    assert (bundles["duration_s"] > 0).all() and (bundles["error"] == "").all()

    findings = pd.read_parquet(out / "findings")
    net = findings[findings["rule"] == "WAA-NET-001"].set_index("sha256")
    assert set(net.index) == {sha256_of(Path(a)), sha256_of(Path(b))}
    row = net.loc[sha256_of(Path(a))]
    assert (row["category"], row["severity"], row["count"]) == ("network", "critical", 8)
    assert str(row["first_seen"]) == "2024-02-01 10:00:00+00:00"
    assert str(row["last_seen"]) == "2024-02-01 10:07:00+00:00"
    assert "8 times" in row["message"] and row["guide_cause"] == 1
    assert net.loc[sha256_of(Path(b)), "count"] == 5


def test_layout_has_no_temporary_files_and_one_schema(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    run_batch([fleet], out, workers=1, limits=FAST, progress=False)
    for table in TABLES:
        names = [p.name for p in (out / table).iterdir()]
        assert names and all(n.startswith("part-") and n.endswith(".parquet") for n in names)
        schemas = {str(pq.read_schema(out / table / n)) for n in names}
        assert len(schemas) == 1


def test_folder_bundle_is_keyed_by_its_tree(tmp_path: Path) -> None:
    root = build_dir(tmp_path / "in", Spec("vm-dir", wire_failures=4))
    out = tmp_path / "results"
    run_batch([root], out, workers=1, limits=FAST, progress=False)
    bundles = pd.read_parquet(out / "bundles")
    assert list(bundles["sha256"]) == [tree_sha256(str(root))]
    assert list(bundles["status"]) == ["ok"]


def test_unreadable_and_damaged_inputs_become_rows(fleet: Path, tmp_path: Path) -> None:
    binary = tmp_path / "junk.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    corrupt = tmp_path / "corrupt.tgz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 300)  # gzip magic, garbage after
    whole = build(tmp_path / "t", Spec("cut", wire_failures=4)).read_bytes()
    truncated = tmp_path / "truncated.tgz"
    truncated.write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "results"
    summary = run_batch([fleet, binary, corrupt, truncated], out, workers=2, limits=FAST,
                        progress=False)
    bundles = pd.read_parquet(out / "bundles").set_index("path")
    assert len(bundles) == 6
    # Nothing readable at all: the input is rejected, with the reason.
    assert bundles.loc[str(binary), "status"] == "rejected"
    assert "binary" in bundles.loc[str(binary), "error"]
    assert summary.rejected == 3 and str(binary) in [f[0] for f in summary.failures]
    # A corrupt archive holds no recognised source: rejected like 'analyze' does (exit 3).
    assert bundles.loc[str(corrupt), "status"] == "rejected"
    assert "no recognised source" in bundles.loc[str(corrupt), "error"]
    # Cut before a single line of its only log could be read: nothing was checked, so it
    # is rejected with both reasons, never an "ok" row with no findings.
    assert bundles.loc[str(truncated), "status"] == "rejected"
    error = bundles.loc[str(truncated), "error"]
    assert "nothing readable" in error and "truncated" in error
    assert summary.ok == 3


@pytest.mark.slow
def test_memory_bomb_fails_alone(fleet: Path, tmp_path: Path) -> None:
    bomb = big_xml_bomb(fleet / "bomb.tgz", megabytes=400)
    limits = FAST.with_overrides(worker_memory_bytes=256 << 20, ratio_limit=10**9,
                                 max_xml_bytes=1 << 30, max_member_bytes=1 << 30,
                                 max_total_bytes=4 << 30)
    out = tmp_path / "results"
    summary = run_batch([fleet], out, workers=2, limits=limits, progress=False)
    bundles = pd.read_parquet(out / "bundles").set_index("path")
    assert bundles.loc[str(bomb), "status"] == "failed"
    assert "out of memory" in bundles.loc[str(bomb), "error"]
    assert summary.ok == 3 and (bundles.drop(index=str(bomb))["status"] == "ok").all()


@pytest.mark.slow
@pytest.mark.parametrize(("wall", "cpu", "reason"), [
    (2.0, 120, "wall-clock limit of 2 s exceeded"),
    (120.0, 2, "CPU time limit of 2 s exceeded"),
])
def test_slow_bomb_times_out_alone(fleet: Path, tmp_path: Path, wall: float, cpu: int,
                                   reason: str) -> None:
    bomb = slow_log_bomb(fleet / "slow.tgz")
    limits = FAST.with_overrides(wall_seconds=wall, worker_cpu_seconds=cpu, ratio_limit=10**9,
                                 max_member_bytes=1 << 30, max_total_bytes=4 << 30)
    out = tmp_path / "results"
    summary = run_batch([fleet], out, workers=2, limits=limits, progress=False)
    bundles = pd.read_parquet(out / "bundles").set_index("path")
    assert bundles.loc[str(bomb), "status"] == "timeout"
    assert bundles.loc[str(bomb), "error"] == reason
    assert summary.ok == 3 and summary.timeout == 1


def test_used_folder_needs_resume(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    run_batch([fleet], out, workers=1, limits=FAST, progress=False)
    with pytest.raises(UsageError, match="--resume"):
        run_batch([fleet], out, workers=1, limits=FAST, progress=False)
    again = run_batch([fleet], out, workers=1, limits=FAST, progress=False, resume=True)
    assert (again.skipped, again.analysed, again.rows) == (3, 0, 3)


def test_duplicate_content_is_analysed_once(tmp_path: Path) -> None:
    first = build(tmp_path / "one", Spec("same", wire_failures=3))
    copy = tmp_path / "two" / "same.tgz"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    out = tmp_path / "results"
    summary = run_batch([first, copy], out, workers=2, limits=FAST, progress=False)
    assert (summary.analysed, summary.duplicates, summary.rows) == (1, 1, 1)


def test_no_bundles_found(tmp_path: Path) -> None:
    """An empty folder is an entry too: a skipped row with its reason, and nothing ok."""
    (tmp_path / "empty").mkdir()
    summary = run_batch([tmp_path / "empty"], tmp_path / "out", progress=False)
    assert (summary.not_bundles, summary.ok, summary.all_failed) == (1, 0, True)
    rows = pd.read_parquet(tmp_path / "out" / "bundles")
    assert list(rows["status"]) == ["skipped"] and list(rows["error"]) == ["empty folder"]


def test_subprocess_method_gives_the_same_rows(fleet: Path, tmp_path: Path) -> None:
    rows = {}
    for method in ("forkserver", "subprocess"):
        out = tmp_path / method
        run_batch([fleet], out, workers=2, limits=FAST, progress=False, method=method)
        rows[method] = _comparable(out)
    pd.testing.assert_frame_equal(rows["forkserver"], rows["subprocess"])


def _comparable(out: Path) -> pd.DataFrame:
    bundles = pd.read_parquet(out / "bundles")
    return (bundles.drop(columns=["duration_s", "cpu_s", "peak_rss_mb"])
            .sort_values("sha256").reset_index(drop=True))
