"""The zipapp under every Python on this machine (3.6 ... 3.13): one run per interpreter.

Each run uses a fake VM root full of planted secrets and links out of the root, probes only
loopback servers (a guard in the child interpreter refuses anything else), and writes the
bundle. A missing interpreter fails the test: the matrix is the point.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest
from onvm_fakes import INTERPRETERS, SECRETS, Loopback, interpreter
from test_live_collect import _all_contents

from analyzer.pipeline import AnalyzeOptions, analyze_path

# What the fake VM must get, whatever the interpreter.
EXPECTED = {
    "WAA-AGT-002": "PASS",  # AutoUpdate not set: the default (y) applies
    "WAA-CONF-001": "FAIL",  # Extensions.Enabled=n
    "WAA-CONF-002": "FAIL",  # Logs.Verbose=n (info)
    "WAA-DHCP-002": "PASS",  # the current lease carries option 245
    "WAA-NET-006": "FAIL",  # wireserver_32526 refused
    "WAA-RES-004": "FAIL",  # 2.5 % memory available
    "WAA-RUN-004": "FAIL",  # daemon without ExtHandler
}


def _snapshot(top: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    state = {}
    for folder, dirs, files in os.walk(top):
        if Path(folder) == skip:
            dirs[:] = []
            continue
        for name in dirs + files:
            path = Path(folder) / name
            if path == skip:
                continue  # --output itself: its own mtime changes when the bundle lands
            info = path.lstat()
            state[str(path.relative_to(top))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return state


def _run(python: Path, zipapp: Path, root: Path, out: Path, cwd: Path, guard: Path,
         loopback: Loopback, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(guard), "LANG": "C.UTF-8"}
    argv = [
        str(python), str(zipapp), "--root", str(root), "--network", "--cpu-sample", "0",
        "--probe-timeout", "3", "--output", str(out), "--format", "json",
        "--target", f"wireserver_80=127.0.0.1:{loopback.open_port}",
        "--target", f"wireserver_32526=127.0.0.1:{loopback.closed_port}",
        "--target", f"imds_80=127.0.0.1:{loopback.open_port}",
        "--target", "storage_443=md-test1.z11.blob.storage.azure.net:443",
        *extra,
    ]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("version", INTERPRETERS)
def test_zipapp_under_each_python(
    version: str, zipapp: Path, vm_root: Path, guard_dir: Path, loopback: Loopback,
    tmp_path: Path,
) -> None:
    python = interpreter(version)
    assert python.is_file(), f"Python {version} is missing from pyenv: the matrix needs it"
    out = tmp_path / "out"
    out.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = _snapshot(tmp_path, out)

    done = _run(python, zipapp, vm_root, out, cwd, guard_dir, loopback)

    assert done.returncode == 1, done.stderr  # critical FAILs
    assert "onvm-guard: active" in done.stderr
    assert "onvm-guard: blocked" not in done.stderr, done.stderr
    allowed = [line.split()[-1] for line in done.stderr.splitlines()
               if line.startswith("onvm-guard: allowed")]
    assert len(allowed) >= 4 and all(a.startswith("127.0.0.1:") for a in allowed), allowed
    report = json.loads(done.stdout)
    verdicts = {v["rule"]: v["status"] for v in report["verdicts"]}
    assert verdicts == EXPECTED

    # Probes: loopback only; storage through the proxy of waagent.conf, never resolved here.
    network = {r["name"]: r for r in report["facts"]["network"]}
    assert network["wireserver_80"]["status"] == "ok"
    assert network["wireserver_32526"]["status"] == "refused"
    assert network["storage_443"]["status"] == "ok"
    assert network["storage_443"]["via_proxy"] == f"127.0.0.1:{loopback.proxy_port}"
    assert "CONNECT md-test1.z11.blob.storage.azure.net:443 HTTP/1.1" in loopback.connects
    assert "md-test1" not in done.stderr  # no local name lookup of the storage host

    # Nothing written anywhere but the bundle in --output (root, cwd, the rest of tmp).
    assert _snapshot(tmp_path, out) == before
    assert sorted(p.name for p in out.iterdir()) == ["bundle.tar.gz"]

    # The bundle: no planted secret, nothing read through a link, self-check.json inside.
    bundle = out / "bundle.tar.gz"
    contents = _all_contents(bundle)
    raw = gzip.decompress(bundle.read_bytes())
    for label, secret in SECRETS.items():
        assert secret.encode() not in raw, f"{label} in the tar stream"
        assert all(secret.encode() not in data for data in contents.values()), label
        assert secret not in done.stdout, f"{label} printed"
    assert not any("linked" in name or "evil" in name or "eth1" in name for name in contents)
    skipped = dict(map(tuple, report["bundle"]["skipped"]))
    assert "link" in skipped["var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/linked.log"]
    assert "var/lib/waagent/ovf-env.xml" in skipped
    assert "var/log/waagent.log" in contents and "etc/waagent.conf" in contents
    facts = json.loads(contents["self-check.json"])
    assert facts["schema"] == "waagent-analyzer/live-facts/v1"
    assert [lease["path"] for lease in facts["leases"]] == ["/var/lib/dhcp/dhclient.eth0.leases"]
    assert facts["self_check"]["python"].startswith(version.rsplit(".", 1)[0])
    assert facts["versions"]["goal_state_agent"] == "2.9.1.1"  # waagent_status.json
    assert facts["versions"]["extensions"] == [{
        "name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "version": "1.0.9225.0",
        "state": "Enabled"}]

    # The full tool on that bundle: the same live findings (rule and message), plus the logs'.
    analysis = analyze_path(bundle, AnalyzeOptions(isolate=False))
    found = {f.rule: f.message for f in analysis.report.findings}
    zipapp_failed = {v["rule"]: v["message"] for v in report["verdicts"] if v["status"] == "FAIL"}
    assert {rule: found.get(rule) for rule in EXPECTED if rule in found} == zipapp_failed
