"""WAA-FLEET-001: VMs of one deployment whose backup runs overlap (a cross-bundle finding)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from batch_helpers import BASE, Spec, build, sha256_of
from conftest import FAST

from analyzer.batch import run_batch
from analyzer.batch.fleet import evaluate_fleet, load_fleet_rules

MINUTE = timedelta(minutes=1)
T0 = BASE.replace(tzinfo=UTC)


def _bundle(sha: str, deployment: str, instance: str, collected: datetime | None = None
            ) -> dict[str, Any]:
    return {"sha256": sha, "status": "ok", "deployment": deployment, "role_instance": instance,
            "collected_at": collected or T0 + 60 * MINUTE}


def _run(sha: str, start_min: int, end_min: int | None) -> dict[str, Any]:
    end = T0 + end_min * MINUTE if end_min is not None else None
    return {"sha256": sha, "start": T0 + start_min * MINUTE, "end": end}


def test_overlapping_runs_in_one_deployment_fire() -> None:
    bundles = [_bundle("a" * 64, "dep", "_a"), _bundle("b" * 64, "dep", "_b"),
               _bundle("c" * 64, "dep", "_c")]
    runs = [_run("a" * 64, 0, 10), _run("b" * 64, 5, 20), _run("c" * 64, 30, 40)]
    [finding] = evaluate_fleet(bundles, runs)
    assert (finding["rule"], finding["category"], finding["severity"], finding["guide_cause"]) == (
        "WAA-FLEET-001", "snapshot-failure", "medium", 5)
    assert (finding["deployment"], finding["vms"], finding["overlaps"]) == ("dep", 2, 1)
    assert finding["bundles"] == ["a" * 64, "b" * 64]
    assert finding["first_seen"] == T0 + 5 * MINUTE and finding["last_seen"] == T0 + 10 * MINUTE
    assert "2 VMs of deployment dep" in finding["message"]


def test_no_overlap_other_deployment_or_same_vm_do_not_fire() -> None:
    bundles = [_bundle("a" * 64, "dep", "_a"), _bundle("b" * 64, "dep", "_b"),
               _bundle("c" * 64, "other", "_c"),
               _bundle("d" * 64, "dep", "_a")]  # a second bundle of VM _a
    runs = [_run("a" * 64, 0, 10), _run("b" * 64, 10, 20),  # back to back: no overlap
            _run("c" * 64, 0, 20),  # overlaps, but in another deployment
            _run("d" * 64, 0, 10)]  # the same run of the same VM, seen twice
    assert evaluate_fleet(bundles, runs) == []


def test_unfinished_run_lasts_until_collection_at_most() -> None:
    rules = load_fleet_rules()
    open_minutes = rules["WAA-FLEET-001"].params["open_run_minutes"]
    bundles = [_bundle("a" * 64, "dep", "_a", collected=T0 + 8 * MINUTE),
               _bundle("b" * 64, "dep", "_b")]
    # 'a' never logged its end and was collected at minute 8: no overlap with 'b' at 9.
    assert evaluate_fleet(bundles, [_run("a" * 64, 0, None), _run("b" * 64, 9, 15)]) == []
    bundles[0]["collected_at"] = T0 + 120 * MINUTE
    [finding] = evaluate_fleet(bundles, [_run("a" * 64, 0, None), _run("b" * 64, 9, 15)])
    assert finding["last_seen"] == T0 + min(15, open_minutes) * MINUTE


def test_failed_bundles_and_unknown_deployments_are_ignored() -> None:
    bundles = [_bundle("a" * 64, "", "_a"), _bundle("b" * 64, "", "_b"),
               {**_bundle("c" * 64, "dep", "_c"), "status": "failed"},
               _bundle("d" * 64, "dep", "_d")]
    runs = [_run(s * 64, 0, 10) for s in "abcd"]
    assert evaluate_fleet(bundles, runs) == []


def test_title_message_and_remediation_follow_the_language() -> None:
    bundles = [_bundle("a" * 64, "dep", "_a"), _bundle("b" * 64, "dep", "_b")]
    runs = [_run("a" * 64, 0, 10), _run("b" * 64, 5, 20)]
    [english] = evaluate_fleet(bundles, runs, lang="en")
    [portuguese] = evaluate_fleet(bundles, runs, lang="pt-BR")
    assert english["remediation"] != portuguese["remediation"]
    assert "backup" in portuguese["remediation"]
    assert portuguese["title"] == (
        "VMs de uma mesma implantação fazem instantâneos de backup ao mesmo tempo")
    assert portuguese["message"].startswith("2 VMs da implantação dep executaram backups")
    assert english["title"].startswith("VMs of one deployment")


def test_end_to_end_from_extension_logs(tmp_path: Path) -> None:
    overlapping = tmp_path / "overlapping"
    a = build(overlapping, Spec("a", deployment="shop", role_instance="_web0",
                                runs=[(BASE, BASE + 12 * MINUTE)]))
    b = build(overlapping, Spec("b", deployment="shop", role_instance="_web1",
                                runs=[(BASE + 10 * MINUTE, BASE + 25 * MINUTE)]))
    out = tmp_path / "results"
    summary = run_batch([overlapping], out, workers=2, limits=FAST, progress=False)
    assert summary.fleet_findings == 1
    fleet = pd.read_parquet(out / "fleet_findings")
    assert list(fleet["deployment"]) == ["shop"]
    assert sorted(fleet["bundles"][0]) == sorted([sha256_of(a), sha256_of(b)])
    runs = pd.read_parquet(out / "snapshot_runs")
    assert sorted(runs["outcome"]) == ["success", "success"]
    assert str(runs["start"].min()) == "2024-02-01 10:00:00+00:00"

    apart = tmp_path / "apart"
    build(apart, Spec("c", deployment="shop", role_instance="_web0",
                      runs=[(BASE, BASE + 12 * MINUTE)]))
    build(apart, Spec("d", deployment="shop", role_instance="_web1",
                      runs=[(BASE + 30 * MINUTE, BASE + 45 * MINUTE)]))
    summary = run_batch([apart], tmp_path / "apart-results", workers=2, limits=FAST,
                        progress=False)
    assert summary.fleet_findings == 0
    assert pd.read_parquet(tmp_path / "apart-results" / "fleet_findings").empty


def test_fleet_is_recomputed_over_resumed_batches(tmp_path: Path) -> None:
    first = build(tmp_path / "one", Spec("a", deployment="shop", role_instance="_web0",
                                         runs=[(BASE, BASE + 12 * MINUTE)]))
    second = build(tmp_path / "two", Spec("b", deployment="shop", role_instance="_web1",
                                          runs=[(BASE + 5 * MINUTE, BASE + 8 * MINUTE)]))
    out = tmp_path / "results"
    assert run_batch([first], out, workers=1, limits=FAST, progress=False).fleet_findings == 0
    again = run_batch([second], out, workers=1, limits=FAST, progress=False, resume=True)
    assert again.fleet_findings == 1  # the overlap spans two runs of the batch
