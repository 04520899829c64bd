"""gather_live_facts on fake roots: processes, service, resources, conf, DHCP, errors."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from live_fakes import DHCLIENT_WITH_245, MEMINFO, RUNNING_UNIT, STAT, systemd_fake, write

from analyzer.live.probes import ProbeResult
from analyzer.live.vm_state import (
    LiveFacts,
    classify_cmdline,
    cpu_busy_percent,
    gather_live_facts,
)
from analyzer.onvm import facts as onvm_facts


def _tree_snapshot(root: Path) -> dict[str, tuple[int, float, str]]:
    snap = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = (
            hashlib.sha256(path.read_bytes()).hexdigest()
            if path.is_file() and not path.is_symlink()
            else os.readlink(path)
            if path.is_symlink()
            else "dir"
        )
        snap[str(path.relative_to(root))] = (info.st_mode, info.st_mtime, digest)
    return snap


# -- processes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/usr/bin/python3", "-u", "/usr/sbin/waagent", "-daemon"], ("daemon", "")),
        (
            ["python3", "-u", "bin/WALinuxAgent-2.9.1.1-py3.8.egg", "-run-exthandlers"],
            ("exthandler", "2.9.1.1"),
        ),
        (["/usr/bin/python3", "/usr/sbin/waagent", "--run-exthandlers"], ("exthandler", "")),
        (["python2.7", "-u", "/usr/sbin/waagent", "-collect-logs"], ("collect-logs", "")),
        (["/usr/bin/python3", "-Es", "/usr/sbin/waagent", "-daemon"], ("daemon", "")),
        (["grep", "--color=auto", "waagent"], None),
        (["grep", "waagent", "-daemon"], None),  # grep's pattern, not the running script
        (["/usr/sbin/waagent", "-daemon"], ("daemon", "")),
        (["python3", "-m", "waagent", "-daemon"], None),
        (["/usr/bin/python3", "/tmp/waagent.py", "-daemon"], None),
        (["vim", "/etc/waagent.conf"], None),
        (["/usr/bin/python3", "-u", "/usr/sbin/waagent"], None),
        ([], None),
    ],
)
def test_classify_cmdline(argv: list[str], expected: tuple[str, str] | None) -> None:
    assert classify_cmdline(argv) == expected


def test_running_agent(running_root: Path, fake_systemctl_running) -> None:
    runner, calls = fake_systemctl_running
    facts = gather_live_facts(running_root, sample_seconds=0, systemctl=runner)

    assert facts.pids("daemon") == [812]
    assert facts.pids("exthandler") == [1040]
    assert facts.version_of("exthandler") == "2.9.1.1"
    assert facts.python_version == "3.10"
    assert facts.python_source == "agent"
    svc = facts.service()
    assert svc is not None and svc.unit == "walinuxagent.service"
    assert svc.active_state == "active" and svc.sub_state == "running"
    assert svc.unit_file == "/lib/systemd/system/walinuxagent.service"
    assert svc.unit_file_restart == "always"
    assert facts.restart_policy() == "always"
    assert facts.auto_restart() is True
    # The runner got exactly the read-only ``systemctl show`` command, once per unit.
    assert [c[:2] for c in calls] == [["systemctl", "show"]] * 2
    assert {c[-1] for c in calls} == {"walinuxagent.service", "waagent.service"}
    assert all("ActiveState,SubState,Restart,UnitFileState" in c[-2] for c in calls)


def test_stopped_agent_without_restart(stopped_root: Path) -> None:
    runner, _ = systemd_fake(
        {
            "waagent.service": {
                "LoadState": "loaded",
                "ActiveState": "inactive",
                "SubState": "dead",
                "Restart": "no",
                "UnitFileState": "disabled",
            }
        }
    )
    facts = gather_live_facts(stopped_root, sample_seconds=0, systemctl=runner)
    assert facts.processes == []
    assert facts.python_source == "self"
    svc = facts.service()
    assert svc is not None and svc.unit == "waagent.service"
    assert svc.active_state == "inactive"
    assert svc.unit_file_restart == ""  # the unit file has no Restart=
    assert facts.restart_policy() == "no"
    assert facts.auto_restart() is False


def test_unit_files_without_systemctl(tmp_path: Path) -> None:
    """A fake root never runs the real systemctl; unit files and drop-ins still answer."""
    root = tmp_path / "vm"
    write(root, "lib/systemd/system/walinuxagent.service", RUNNING_UNIT)
    write(
        root,
        "etc/systemd/system/walinuxagent.service.d/10-restart.conf",
        "[Service]\nRestart=on-failure\n",
    )
    facts = gather_live_facts(root, sample_seconds=0)
    svc = facts.service()
    assert svc is not None and svc.source == "unit-file"
    assert svc.active_state == ""
    assert facts.restart_policy() == "on-failure"
    assert facts.auto_restart() is True


def test_masked_unit_and_no_unit(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    (root / "etc/systemd/system").mkdir(parents=True)
    os.symlink("/dev/null", root / "etc/systemd/system/waagent.service")
    facts = gather_live_facts(root, sample_seconds=0)
    svc = facts.service()
    assert svc is not None and svc.unit_file_state == "masked"

    empty = gather_live_facts(tmp_path / "empty", sample_seconds=0)
    assert empty.service() is None
    assert empty.restart_policy() == "unknown"
    assert empty.auto_restart() is None


def test_upstart_respawn(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "etc/init/walinuxagent.conf", "start on runlevel [2345]\nrespawn\nexec waagent\n")
    facts = gather_live_facts(root, sample_seconds=0)
    assert facts.restart_policy() == "respawn"
    assert facts.auto_restart() is True


def test_failing_systemctl_is_recorded_not_raised(running_root: Path) -> None:
    def broken(argv: list[str]) -> str:
        raise RuntimeError("exit 1: System has not been booted with systemd")

    facts = gather_live_facts(running_root, sample_seconds=0, systemctl=broken)
    reasons = dict(facts.unreadable)
    assert "systemd" in reasons["systemctl show walinuxagent.service"]
    assert facts.restart_policy() == "always"  # still known from the unit file


def test_installed_agent_version(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(
        root,
        "usr/lib/python3/dist-packages/azurelinuxagent/common/version.py",
        "AGENT_NAME = 'WALinuxAgent'\nAGENT_VERSION = '2.2.45'\n",
    )
    assert gather_live_facts(root, sample_seconds=0).installed_version == "2.2.45"


# -- resources ---------------------------------------------------------------------------------


def test_memory_disk_and_static_cpu(running_root: Path) -> None:
    facts = gather_live_facts(running_root, sample_seconds=0)
    assert facts.mem_total_bytes == 8_000_000 * 1024
    assert facts.mem_available_bytes == 2_000_000 * 1024
    assert facts.cpu_count == 2
    assert facts.load1 == 0.52
    assert facts.cpu_busy_percent is None  # sampling disabled
    mounts = {d.mount for d in facts.disks}
    assert mounts == {"/", "/var"}
    assert all(d.total_bytes > 0 and 0 <= d.free_bytes <= d.total_bytes for d in facts.disks)


def test_memavailable_missing_uses_estimate(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "proc/meminfo", MEMINFO.replace("MemAvailable:    2000000 kB\n", ""))
    facts = gather_live_facts(root, sample_seconds=0)
    assert facts.mem_available_bytes == (500000 + 100000 + 1000000) * 1024


def test_cpu_busy_sampled_twice(tmp_path: Path) -> None:
    stat_path = write(tmp_path, "proc/stat", STAT)

    def advance(seconds: float) -> None:
        # 300 more ticks: 90 user + 30 system busy, 150 idle + 30 iowait idle.
        stat_path.write_text("cpu  190 0 130 950 30 0 0 0 0 0\n")

    assert cpu_busy_percent(stat_path, 0.1, sleep=advance) == 40.0


def test_cpu_static_file_gives_no_value(running_root: Path) -> None:
    start = time.monotonic()
    facts = gather_live_facts(running_root, sample_seconds=0.05)
    assert facts.cpu_busy_percent is None  # no tick elapsed in a static fake file
    assert time.monotonic() - start < 2.0


# -- waagent.conf --------------------------------------------------------------------------------


def test_conf_values_comments_and_quotes(stopped_root: Path) -> None:
    facts = gather_live_facts(stopped_root, sample_seconds=0)
    assert facts.conf_found
    assert facts.conf_value("Extensions.Enabled") == ("n", 2)
    assert facts.conf_value("AutoUpdate.Enabled") == ("n", 3)
    assert facts.conf_value("HttpProxy.Host") == ("proxy.corp", 4)
    assert facts.conf_value("Logs.Verbose") == ("n", None)  # agent default, not in the file
    # One set of defaults with parse/conf.py: the agent's code default (distro files say y).
    assert facts.conf_value("OS.EnableFirewall") == ("n", None)
    assert facts.conf_value("Protocol.EndpointDiscovery") == ("dhcp", None)


def test_live_and_bundle_read_waagent_conf_alike(tmp_path: Path) -> None:
    """Keys the agent ignores (not identifiers) are ignored live too, as by parse/conf.py."""
    root = tmp_path / "vm"
    write(root, "etc/waagent.conf", "Extensions.Enabled=n\n$weird key=1\n  # Logs.Verbose=y\n")
    facts = gather_live_facts(root, sample_seconds=0)
    assert facts.conf == {"Extensions.Enabled": "n"}


def test_octal_option_245_gives_the_wireserver_address_live(tmp_path: Path) -> None:
    """dhclient writes unknown options whose bytes are printable as a quoted string with octal
    escapes. Live facts said '' and the bundle parser 168.63.129.16: the parser is right."""
    root = tmp_path / "vm"
    lease = 'lease {\n  interface "eth0";\n  option unknown-245 "\\250?\\201\\020";\n}\n'
    write(root, "var/lib/dhcp/dhclient.eth0.leases", lease)
    facts = gather_live_facts(root, sample_seconds=0)
    assert facts.option_245() == "168.63.129.16"


def test_conf_values_are_redacted(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "etc/waagent.conf", "HttpProxy.Host=http://user:Sup3rSecretPw@proxy.corp\n")
    facts = gather_live_facts(root, sample_seconds=0)
    assert "Sup3rSecretPw" not in facts.to_json()
    assert facts.conf["HttpProxy.Host"].endswith("@proxy.corp")


# -- DHCP ------------------------------------------------------------------------------------------


def test_dhcp_option_245_current_lease(running_root: Path, stopped_root: Path) -> None:
    with_245 = gather_live_facts(running_root, sample_seconds=0)
    assert with_245.option_245() == "168.63.129.16"
    assert with_245.leases[0].kind == "dhclient" and with_245.leases[0].leases == 2

    # Only an older lease carried 245: the current (last) one does not.
    without = gather_live_facts(stopped_root, sample_seconds=0)
    assert [lease.option_245 for lease in without.leases] == [""]
    assert without.option_245() == ""


def test_dhcp_networkd_and_quoted_forms(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    write(root, "run/systemd/netif/leases/2", "# networkd\nADDRESS=10.0.0.4\nOPTION_245=a83f8110\n")
    write(
        root,
        "var/lib/NetworkManager/dhclient-eth0.lease",
        'lease {\n  option unknown-245 "\\250?\\201\\020";\n}\n',
    )
    facts = gather_live_facts(root, sample_seconds=0)
    by_kind = {lease.kind: lease.option_245 for lease in facts.leases}
    assert by_kind["networkd"] == "168.63.129.16"
    assert facts.option_245() == "168.63.129.16"


def test_lease_symlink_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "vm"
    outside = write(tmp_path, "outside.leases", DHCLIENT_WITH_245)
    (root / "var/lib/dhcp").mkdir(parents=True)
    os.symlink(outside, root / "var/lib/dhcp/dhclient.eth0.leases")
    assert gather_live_facts(root, sample_seconds=0).leases == []


# -- non-root behaviour, safety, serialisation -----------------------------------------------------


def test_permission_errors_are_recorded(
    running_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onvm_facts.read_capped

    def deny(root: str, relpath: str, limit: int) -> bytes:
        path = Path(relpath)
        if path.name in ("waagent.conf", "meminfo") or path.parent.name == "1040":
            raise PermissionError(13, "Permission denied", relpath)
        return real(root, relpath, limit)

    # Every live read goes through the one reader of onvm/facts.py.
    monkeypatch.setattr(onvm_facts, "read_capped", deny)
    facts = gather_live_facts(running_root, sample_seconds=0)
    reasons = dict(facts.unreadable)
    assert reasons["/etc/waagent.conf"] == "PermissionError: Permission denied"
    assert reasons["/proc/meminfo"] == "PermissionError: Permission denied"
    assert reasons["/proc/1040/cmdline"] == "PermissionError: Permission denied"
    assert not facts.conf_found
    assert facts.mem_total_bytes is None
    assert facts.pids("daemon") == [812]  # everything else still gathered


def _interpreter_for_nobody() -> str | None:
    """An interpreter (3.11+) that user ``nobody`` may execute, if this machine has one."""
    import subprocess
    import sys

    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info >= (3, 11)"],
                user=65534,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if done.returncode == 0:
            return candidate
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_real_non_root_run() -> None:
    """Run the gathering as ``nobody`` on a tree with a 0600 root-owned file."""
    import shutil
    import subprocess
    import tempfile

    interpreter = _interpreter_for_nobody()
    repo = Path(__file__).resolve().parents[2]
    if interpreter is None:
        pytest.skip("no Python 3.11+ that nobody may run")
    if not os.access(repo, os.R_OK | os.X_OK) or (repo.stat().st_mode & 0o005) != 0o005:
        pytest.skip("the repository is not readable by other users")
    base = Path(tempfile.mkdtemp(prefix="live-nonroot-"))
    try:
        os.chmod(base, 0o755)
        root = base / "vm"
        write(root, "etc/waagent.conf", "Extensions.Enabled=n\n")
        write(root, "etc/azure/vmbackup.conf", "[SnapshotThread]\n")
        os.chmod(root / "etc/waagent.conf", 0o600)
        for directory in (root, root / "etc", root / "etc/azure"):
            os.chmod(directory, 0o755)
        code = (
            "import sys; from pathlib import Path; "
            "from analyzer.live.vm_state import gather_live_facts; "
            "f = gather_live_facts(Path(sys.argv[1]), sample_seconds=0); "
            "print(f.to_json())"
        )
        done = subprocess.run(
            [interpreter, "-S", "-c", code, str(root)],
            user=65534,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=repo,
            env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        facts = LiveFacts.from_json(done.stdout)
        assert ("/etc/waagent.conf", "PermissionError: Permission denied") in facts.unreadable
        assert not facts.conf_found
        assert facts.mem_total_bytes is None  # the fake root has no proc/meminfo: not an error
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_gathering_changes_nothing(running_root: Path, fake_systemctl_running) -> None:
    before = _tree_snapshot(running_root)
    gather_live_facts(running_root, sample_seconds=0.01, systemctl=fake_systemctl_running[0])
    assert _tree_snapshot(running_root) == before


def test_fast_on_this_machine() -> None:
    """The real /proc of this machine, with the fake runner: well under a few seconds."""
    runner, _ = systemd_fake({})
    start = time.monotonic()
    facts = gather_live_facts(Path("/"), sample_seconds=0.2, systemctl=runner)
    assert time.monotonic() - start < 2.0
    assert facts.mem_total_bytes and facts.mem_total_bytes > 0


def test_json_round_trip(running_root: Path, fake_systemctl_running) -> None:
    facts = gather_live_facts(running_root, sample_seconds=0, systemctl=fake_systemctl_running[0])
    facts.network = [ProbeResult("wireserver_80", "127.0.0.1", 80, "refused", 1.5, "x")]
    facts.network_probed = True
    facts.unreadable.append(("/etc/x", "PermissionError: Permission denied"))
    text = facts.to_json()
    again = LiveFacts.from_json(text)
    assert again == facts
    assert again.to_json() == text
    assert isinstance(again.unreadable[0], tuple)
