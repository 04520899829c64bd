"""`self-check` and `collect` on fake VM roots built from the fixture bundles.

The roots get a fake ``proc/`` (running or stopped agent), a systemd unit, DHCP leases and the
files of a fixture bundle laid out where the agent keeps them. Probes go only to servers the
tests start on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.bundle.walker import walk
from analyzer.settings import Limits

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "fixtures" / "bundles"
UNIT = "[Service]\nExecStart=/usr/sbin/waagent -daemon\nRestart=always\n"
LEASE_245 = 'lease {\n  interface "eth0";\n  option unknown-245 a8:3f:81:10;\n}\n'
LEASE_NO_245 = 'lease {\n  interface "eth0";\n  fixed-address 10.0.0.4;\n}\n'
VMSNAPSHOT = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"


def unpack_fixture(bundle: str, root: Path) -> None:
    """Lay a fixture bundle's files out under a fake root (test-side only)."""
    for member in walk(BUNDLES / bundle, Limits(), []):
        if member.kind in ("archive", "secret") or member.logical_path.startswith("results"):
            continue
        target = root / member.logical_path
        target.parent.mkdir(parents=True, exist_ok=True)
        with member.open() as stream:
            target.write_bytes(stream.read())


def make_root(tmp_path: Path, bundle: str, *, running: bool = True,
              lease: str = LEASE_245, conf: str | None = None) -> Path:
    root = tmp_path / "root"
    unpack_fixture(bundle, root)
    proc = root / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    (proc / "meminfo").write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    if running:
        for pid, argv in ((812, ["python3", "-u", "/usr/sbin/waagent", "-daemon"]),
                          (901, ["python3", "-u", "bin/WALinuxAgent-2.14.0.1-py3.12.egg",
                                 "-run-exthandlers"])):
            (proc / str(pid)).mkdir()
            (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv))
    unit = root / "lib" / "systemd" / "system" / "walinuxagent.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(UNIT)
    leases = root / "var" / "lib" / "dhcp" / "dhclient.eth0.leases"
    leases.parent.mkdir(parents=True, exist_ok=True)
    leases.write_text(lease)
    if conf is not None:
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / "waagent.conf").write_text(conf)
    return root


def self_check(root: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", "self-check", "--root", str(root), "--format", "json",
         *args], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def rules_of(report: dict) -> set[str]:  # type: ignore[type-arg]
    return {f["rule"] for f in report["findings"]}


def test_healthy_vm_is_clean(tmp_path: Path) -> None:
    code, report = self_check(make_root(tmp_path, "collector-logs-g4.zip"))
    assert code == 0, [(f["rule"], f["severity"]) for f in report["findings"]]
    assert report["summary"]["worst_severity"] in (None, "low", "info")


def test_agent_stopped(tmp_path: Path) -> None:
    code, report = self_check(make_root(tmp_path, "collector-logs-g4.zip", running=False))
    assert code == 1
    assert "WAA-RUN-004" in rules_of(report)


def test_extensions_disabled(tmp_path: Path) -> None:
    root = make_root(tmp_path, "collector-logs-g4.zip", conf="Extensions.Enabled=n\n")
    code, report = self_check(root)
    assert code == 1
    finding = next(f for f in report["findings"] if f["rule"] == "WAA-CONF-001")
    assert any(e["member"].endswith("etc/waagent.conf") for e in finding["evidence"])


def test_no_option_245(tmp_path: Path) -> None:
    _, report = self_check(make_root(tmp_path, "collector-logs-g4.zip", lease=LEASE_NO_245))
    assert "WAA-DHCP-002" in rules_of(report)


def test_old_vmsnapshot(tmp_path: Path) -> None:
    _, report = self_check(make_root(tmp_path, "vmsnapshot-old-0.1.0.993.tgz"))
    assert "WAA-EXT-001" in rules_of(report)


def test_snapshot_timeouts(tmp_path: Path) -> None:
    _, report = self_check(make_root(tmp_path, "snapshot-crp-budget-402.tgz"))
    assert "WAA-SNAP-001" in rules_of(report)


def test_self_check_matches_analyze_on_the_same_files(tmp_path: Path) -> None:
    root = make_root(tmp_path, "snapshot-freeze-timeout-122.tgz")
    _, live = self_check(root)
    analysed = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(BUNDLES / "snapshot-freeze-timeout-122.tgz"),
         "--format", "json"], capture_output=True, text=True, timeout=120, cwd=REPO)
    bundle_rules = rules_of(json.loads(analysed.stdout))
    # The live run adds facts of its own (process table, service), never loses a bundle finding.
    assert bundle_rules <= rules_of(live) | {"WAA-RUN-001"}


# -- network probes against loopback servers -------------------------------------------------


@pytest.fixture()
def listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture()
def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture()
def silent() -> Iterator[int]:
    """A listener whose backlog is full: connects neither succeed nor fail until the timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(64):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(server.getsockname())
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield server.getsockname()[1]
    for filler in fillers:
        filler.close()
    server.close()


def test_network_probes_reachable_refused_and_timeout(tmp_path: Path, listening: int,
                                                     closed_port: int, silent: int) -> None:
    root = make_root(tmp_path, "collector-logs-g4.zip")
    result = subprocess.run(
        [sys.executable, "-m", "analyzer", "self-check", "--root", str(root), "--network",
         "--target", f"wireserver_80=127.0.0.1:{listening}",
         "--target", f"wireserver_32526=127.0.0.1:{closed_port}",
         "--target", f"storage_443=127.0.0.1:{silent}", "--probe-timeout", "1"],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    out = result.stdout
    assert f"PASS  wireserver_80  127.0.0.1:{listening}" in out
    assert f"FAIL  wireserver_32526  127.0.0.1:{closed_port}  refused" in out
    assert f"FAIL  storage_443  127.0.0.1:{silent}  timeout" in out
    assert "WAA-NET-006" in out
    assert result.returncode == 1
    assert "Next step" in out.rstrip().split("\n\n")[-1]


# -- collect ----------------------------------------------------------------------------------

SECRETS = {
    "var/lib/waagent/ABCDEF.prv": "-----BEGIN PRIVATE KEY-----\nPLANTEDKEY\n-----END PRIVATE KEY-----\n",
    "var/lib/waagent/Certificates.pem": "-----BEGIN CERTIFICATE-----\nPLANTEDCERT\n-----END CERTIFICATE-----\n",
    "var/lib/waagent/ovf-env.xml": "<UserPassword>PLANTEDPASSWORD</UserPassword>",
    f"var/lib/waagent/{VMSNAPSHOT}-1.0.9225.0/config/7.settings": json.dumps(
        {"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": "ABCDEF",
                                                  "protectedSettings": "PLANTEDPROTECTED",
                                                  "publicSettings": {"taskId": "t-1"}}}]}),
}


def test_collect_redacts_and_analyses_to_the_same_findings(tmp_path: Path) -> None:
    root = make_root(tmp_path, "snapshot-freeze-timeout-122.tgz")
    for relative, content in SECRETS.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    log = root / "var" / "log" / "waagent.log"
    with log.open("a") as handle:
        handle.write("2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler upload to "
                     "https://x.blob.core.windows.net/c/b?sv=1&sig=PLANTEDSIG\n")
    output = tmp_path / "bundle.tar.gz"
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", "collect", "--root", str(root), "--output",
         str(output)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    with tarfile.open(output) as archive:
        names = archive.getnames()
        blob = b"".join(archive.extractfile(m).read() for m in archive.getmembers()
                        if m.isfile())
    assert "self-check.json" in names
    assert not any(n.endswith((".prv", ".pem", "ovf-env.xml")) for n in names)
    for planted in (b"PLANTEDKEY", b"PLANTEDCERT", b"PLANTEDPASSWORD", b"PLANTEDPROTECTED",
                    b"PLANTEDSIG"):
        assert planted not in blob
    _, live = self_check(root)
    analysed = subprocess.run(
        [sys.executable, "-m", "analyzer", "analyze", str(output), "--format", "json"],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert rules_of(json.loads(analysed.stdout)) == rules_of(live)
