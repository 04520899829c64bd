"""Self-check says what it could not see and what passed, turns every failing probe into a
finding, writes nothing outside --output, and `collect` writes the format its name says."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from analyzer.engine import cache
from tests.test_self_check import make_root

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None,
         cached: bool = False) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    if cached:
        environment.pop("WAAGENT_ANALYZER_NO_CACHE", None)
    else:
        environment["WAAGENT_ANALYZER_NO_CACHE"] = "1"
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "analyzer", *args], capture_output=True,
                          text=True, timeout=180, cwd=REPO, env=environment)


def _bare_root(tmp_path: Path) -> Path:
    """A host with no agent files at all: only a waagent.conf."""
    root = tmp_path / "bare"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "waagent.conf").write_text("Extensions.Enabled=y\n")
    return root


def test_missing_sources_and_passed_checks_are_listed(tmp_path: Path) -> None:
    root = _bare_root(tmp_path)
    text = _run("self-check", "--root", str(root))
    assert text.returncode in (0, 1), text.stderr
    heading = text.stdout.index("Looked for and not found")
    listed = text.stdout[heading:text.stdout.index("\n\n", heading)]
    assert "/var/log/waagent.log" in listed and "/var/lib/waagent" in listed
    assert "/etc/waagent.conf" not in listed  # it was there
    assert "Checked and passed" in text.stdout and "PASS  WAA-CONF-001" in text.stdout

    result = _run("self-check", "--root", str(root), "--format", "json")
    coverage = json.loads(result.stdout)["coverage"]
    assert "/var/log/waagent.log" in coverage["missing_sources"]
    assert "/var/lib/waagent" in coverage["missing_sources"]
    assert "WAA-CONF-001" in coverage["passed"]  # Extensions.Enabled=y was checked
    not_checked = {r for group in coverage["not_checked"] for r in group["rules"]}
    assert not_checked and not not_checked & set(coverage["passed"])
    assert "WAA-NET-006" not in coverage["passed"]  # no --network: the probes did not run
    assert not any(rule.startswith("WAA-WIN-") for rule in coverage["passed"])  # Linux VM


def test_a_full_vm_root_misses_nothing_the_agent_writes(tmp_path: Path) -> None:
    root = make_root(tmp_path, "collector-logs-g4.zip")
    coverage = json.loads(_run("self-check", "--root", str(root), "-f", "json").stdout)[
        "coverage"]
    assert "/var/log/waagent.log" not in coverage["missing_sources"]
    assert "/var/lib/waagent" not in coverage["missing_sources"]


def test_a_failing_custom_target_is_a_finding(tmp_path: Path) -> None:
    root = _bare_root(tmp_path)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        open_port = server.getsockname()[1]
        failing = _run("self-check", "--root", str(root), "--network", "-f", "json",
                       "--target", f"my_proxy=127.0.0.1:{port}", "--probe-timeout", "1")
        fine = _run("self-check", "--root", str(root), "--network", "-f", "json",
                    "--target", f"my_proxy=127.0.0.1:{open_port}", "--probe-timeout", "1")
    report = json.loads(failing.stdout)
    net006 = [f for f in report["findings"] if f["rule"] == "WAA-NET-006"]
    assert net006 and "my_proxy" in net006[0]["message"], report["findings"]
    assert failing.returncode == 1  # critical, at or above the default --fail-on
    assert "WAA-NET-006" not in {f["rule"] for f in json.loads(fine.stdout)["findings"]}
    bad_name = _run("self-check", "--root", str(root), "--network",
                    "--target", "my.proxy=127.0.0.1:1")
    assert bad_name.returncode == 2 and "NAME" in bad_name.stderr


def _home_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "XDG_CACHE_HOME": ""}


def test_self_check_and_collect_write_no_cache_unless_allowed(tmp_path: Path) -> None:
    root = _bare_root(tmp_path)
    env = _home_env(tmp_path)
    home = Path(env["HOME"])
    assert _run("self-check", "--root", str(root), env=env, cached=True).returncode in (0, 1)
    out = tmp_path / "out"
    out.mkdir()
    done = _run("collect", "--root", str(root), "--output", str(out / "b.tgz"), env=env,
                cached=True)
    assert done.returncode == 0, done.stderr
    assert list(home.rglob("*")) == []  # nothing written under the user's home
    assert [p.name for p in out.iterdir()] == ["b.tgz"]

    allowed = _run("self-check", "--root", str(root), cached=True,
                   env={**env, "WAAGENT_ANALYZER_CACHE": "1"})
    assert allowed.returncode in (0, 1)
    assert list((home / ".cache" / "waagent-analyzer").glob("rules-*.pickle"))


def test_analyze_keeps_its_cache_and_prunes_it(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("WAAGENT_ANALYZER_NO_CACHE", raising=False)
    folder = tmp_path / "waagent-analyzer"
    folder.mkdir()
    for index in range(cache.KEEP + 5):
        stale = folder / f"rules-stale{index:02d}.pickle"
        stale.write_bytes(b"old")
        os.utime(stale, ns=(index * 10**9, index * 10**9))
    from analyzer.engine.loader import default_rules_dir

    cache.load_rules_cached([default_rules_dir()], {"WAA-AGT-001": {"min_version": "2.2.53"}})
    entries = sorted(p.name for p in folder.glob("rules-*.pickle"))
    assert len(entries) == cache.KEEP
    assert "rules-stale00.pickle" not in entries  # the oldest went first
    assert any(not name.startswith("rules-stale") for name in entries)  # the new one stayed


@pytest.mark.parametrize(("name", "kind"), [("c.zip", "zip"), ("c.tar.gz", "tar"),
                                            ("c.tgz", "tar")])
def test_collect_writes_the_format_its_name_says(tmp_path: Path, name: str, kind: str) -> None:
    root = _bare_root(tmp_path)
    output = tmp_path / name
    done = _run("collect", "--root", str(root), "--output", str(output))
    assert done.returncode == 0, done.stderr
    if kind == "zip":
        assert zipfile.is_zipfile(output)
        with zipfile.ZipFile(output) as archive:
            assert "self-check.json" in archive.namelist()
            assert b"Extensions.Enabled" in archive.read("etc/waagent.conf")
    else:
        assert not zipfile.is_zipfile(output)
        with tarfile.open(output, "r:gz") as archive:
            assert "self-check.json" in archive.getnames()
    analysed = _run("analyze", str(output), "-f", "json")
    assert analysed.returncode in (0, 1), analysed.stderr


@pytest.mark.parametrize("name", ["c.rar", "c.tar.xz", "bundle"])
def test_collect_refuses_a_name_it_cannot_write(tmp_path: Path, name: str) -> None:
    root = _bare_root(tmp_path)
    done = _run("collect", "--root", str(root), "--output", str(tmp_path / name))
    assert done.returncode == 2, done
    assert "archive format" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare"]


def test_zipapp_rows_name_custom_targets_like_the_full_tool() -> None:
    from analyzer.live.probes import NAMED_TARGETS, ProbeResult
    from analyzer.live.rows import live_rows
    from analyzer.live.vm_state import LiveFacts
    from analyzer.onvm import rows as onvm_rows

    assert onvm_rows.NAMED_TARGETS == NAMED_TARGETS
    facts = LiveFacts(root="/", gathered_at="2024-02-01T10:00:00Z", network_probed=True,
                      network=[
        ProbeResult("wireserver_80", "127.0.0.1", 80, "ok", 1.0),
        ProbeResult("my_proxy", "127.0.0.1", 3128, "refused", 1.0, "refused")])
    full = {row.key: row.value for row in live_rows(facts, "self-check.json")}
    assert full["network.custom.my_proxy.status"] == "refused"
    assert "network.custom.wireserver_80.status" not in full
    as_dict = json.loads(facts.to_json())
    mine = {row["key"]: row["value"] for row in onvm_rows.live_rows(as_dict)
            if row["key"].startswith("network.")}
    assert mine == {k: v for k, v in full.items() if k.startswith("network.")}
