"""#11 item 7: a self-check or collect root full of links to files outside it reads none of
them. Every outside target holds a marker; no output, no ``self-check.json`` and no collected
bundle may contain it. Before ``safe_open`` the waagent.conf, /proc, unit-file and lease
links were followed and their ``Key=Value`` lines landed in ``self-check.json``."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKER = "OUTSIDEmarker7Q"


def outside_file(outside: Path, name: str, text: str) -> Path:
    path = outside / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hostile_root(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    conf = outside_file(outside, "waagent.conf", f"HttpProxy.Host={MARKER}\nExtensions.Enabled=n\n")
    meminfo = outside_file(outside, "meminfo", f"MemTotal: 1 kB\n{MARKER}: 2 kB\n")
    stat = outside_file(outside, "stat", f"cpu  1 0 1 8 0 0 0 0\n{MARKER}\n")
    cmdline = outside_file(outside, "cmdline", f"python3\0-u\0/usr/sbin/waagent\0-daemon\0{MARKER}")
    unit = outside_file(outside, "unit", f"[Service]\nRestart=always\nEnvironment={MARKER}\n")
    lease = outside_file(
        outside, "lease", f'lease {{\n  interface "{MARKER}";\n  option unknown-245 a8:3f:81:10;\n}}\n'
    )
    version = outside_file(outside, "version.py", f'AGENT_VERSION = "7.7.{len(MARKER)}"\n# {MARKER}\n')
    log_dir = outside / "log"
    outside_file(log_dir, "waagent.log", f"2024-01-31T10:00:00.000000Z INFO Daemon {MARKER}\n")
    outside_file(log_dir, "azure/ext/extension.log", f"{MARKER}\n")
    lib_dir = outside / "lib"
    outside_file(lib_dir, "GoalState.1.xml", f"<GoalState><Incarnation>{MARKER}</Incarnation></GoalState>")
    outside_file(lib_dir, "history/2024-01-01T00-00-00__1/GoalState.xml", f"<x>{MARKER}</x>")

    def link(rel: str, target: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    # Files that are links...
    link("etc/waagent.conf", conf)
    link("proc/meminfo", meminfo)
    link("proc/stat", stat)
    link("proc/loadavg", stat)
    (root / "proc" / "812").mkdir(parents=True)
    link("proc/812/cmdline", cmdline)
    link("lib/systemd/system/walinuxagent.service", unit)
    link("etc/systemd/system/waagent.service", Path("../../../../outside/unit"))
    link("var/lib/dhcp/dhclient.eth0.leases", lease)
    link("run/systemd/netif/leases/2", lease)
    link("usr/lib/python3/dist-packages/azurelinuxagent/common/version.py", version)
    # ...and parent folders that are links.
    link("var/log", log_dir)
    link("var/lib/waagent", lib_dir)
    link("var/lib/NetworkManager", outside)
    link("etc/azure", outside)
    return root


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WAAGENT_ANALYZER_NO_CACHE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=False,
    )


def test_self_check_reads_nothing_a_link_points_to(tmp_path: Path) -> None:
    root = hostile_root(tmp_path)
    for fmt in ("text", "json", "markdown", "html"):
        done = run("self-check", "--root", str(root), "--format", fmt)
        assert done.returncode in (0, 1, 3), done.stderr
        assert MARKER not in done.stdout + done.stderr, fmt
        assert "7.7." not in done.stdout


def test_live_facts_read_nothing_a_link_points_to(tmp_path: Path) -> None:
    from analyzer.live.vm_state import gather_live_facts

    facts = gather_live_facts(hostile_root(tmp_path), sample_seconds=0, systemctl=None)
    text = facts.to_json()
    assert MARKER not in text
    assert not facts.conf and facts.processes == [] and facts.leases == []
    assert facts.installed_version == "" and facts.mem_total_bytes is None
    assert all(svc.unit_file_restart == "" for svc in facts.services)
    assert ("/etc/waagent.conf", "UnsafePath: symbolic link") in facts.unreadable


def test_collect_ships_nothing_a_link_points_to(tmp_path: Path) -> None:
    root = hostile_root(tmp_path)
    out = tmp_path / "bundle.tar.gz"
    done = run("collect", "--root", str(root), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert MARKER not in done.stdout + done.stderr
    assert MARKER.encode() not in gzip.decompress(out.read_bytes())
