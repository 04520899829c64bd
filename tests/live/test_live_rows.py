"""live_rows: stable, documented, plain-string keys for the rule engine."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from live_fakes import systemd_fake

from analyzer.live import rows as rows_module
from analyzer.live.probes import ProbeResult
from analyzer.live.rows import SOURCE_KIND, live_rows
from analyzer.live.vm_state import DiskFacts, LeaseFacts, LiveFacts, gather_live_facts
from analyzer.parse.rows import ConfigRow


def _documented_keys() -> list[re.Pattern[str]]:
    """Key patterns from the table in the module docstring (``<x>`` = one key segment)."""
    doc = rows_module.__doc__ or ""
    keys = re.findall(r"^``([a-z0-9_.<>A-Z]+)``", doc, re.MULTILINE)
    assert len(keys) > 30
    return [
        re.compile(
            re.escape(k).replace("<target>", r"[a-z0-9_]+").replace("<Key>", r"[A-Za-z.]+") + "$"
        )
        for k in keys
    ]


def _by_key(rows: list[ConfigRow]) -> dict[str, ConfigRow]:
    keyed = {r.key: r for r in rows}
    assert len(keyed) == len(rows), "duplicate keys"
    return keyed


def test_running_rows(running_root: Path, fake_systemctl_running) -> None:
    facts = gather_live_facts(running_root, sample_seconds=0, systemctl=fake_systemctl_running[0])
    rows = live_rows(facts, "self-check.json")
    assert all(r.source_kind == SOURCE_KIND == "live" for r in rows)
    assert all(r.member == "self-check.json" and isinstance(r.value, str) for r in rows)
    values = {k: r.value for k, r in _by_key(rows).items()}
    assert values["agent.running"] == "true"
    assert values["agent.daemon_running"] == "true"
    assert values["agent.daemon_pid"] == "812"
    assert values["agent.exthandler_running"] == "true"
    assert values["agent.exthandler_version"] == "2.9.1.1"
    assert values["agent.service_unit"] == "walinuxagent.service"
    assert values["agent.service_active"] == "true"
    assert values["agent.service_state"] == "active/running"
    assert values["agent.service_enabled"] == "enabled"
    assert values["agent.service_restart"] == "always"
    assert values["agent.auto_restart"] == "true"
    assert values["python.version"] == "3.10" and values["python.source"] == "agent"
    assert values["memory.available_percent"] == "25.0"
    assert values["memory.total_bytes"] == str(8_000_000 * 1024)
    assert values["cpu.count"] == "2"
    assert "cpu.busy_percent" not in values  # not sampled: omitted, not a placeholder
    var = next(d for d in facts.disks if d.mount == "/var")
    assert var.free_bytes > 0  # the test's own temporary folder has room
    assert values["disk.var_free_bytes"] == str(var.free_bytes)
    assert values["conf.Logs.Verbose"] == "y"
    assert values["dhcp.option_245"] == "168.63.129.16"
    assert values["dhcp.option_245_present"] == "true"
    assert values["network.probed"] == "false"
    assert values["live.unreadable_count"] == "0"


def test_stopped_rows(stopped_root: Path) -> None:
    runner, _ = systemd_fake(
        {"waagent.service": {"LoadState": "loaded", "ActiveState": "failed", "SubState": "failed"}}
    )
    facts = gather_live_facts(stopped_root, sample_seconds=0, systemctl=runner)
    keyed = _by_key(live_rows(facts, "live"))
    values = {k: r.value for k, r in keyed.items()}
    assert values["agent.running"] == "false"
    assert values["agent.daemon_running"] == "false"
    assert values["agent.daemon_pid"] == ""
    assert values["agent.exthandler_running"] == "false"
    assert values["agent.service_active"] == "false"
    assert values["agent.service_state"] == "failed/failed"
    assert values["agent.service_restart"] == "no"
    assert values["agent.auto_restart"] == "false"
    assert values["python.source"] == "self"
    assert values["conf.Extensions.Enabled"] == "n"
    assert keyed["conf.Extensions.Enabled"].line == 2
    assert keyed["conf.Logs.Verbose"].line is None  # default, not in the file
    assert values["conf.HttpProxy.Port"] == "3128"
    assert values["memory.available_percent"] == "5.0"
    assert values["dhcp.option_245"] == ""
    assert values["dhcp.option_245_present"] == "false"


def test_unknowns(tmp_path: Path) -> None:
    facts = gather_live_facts(tmp_path / "nothing", sample_seconds=0)
    values = {r.key: r.value for r in live_rows(facts, "m")}
    assert values["agent.service_active"] == "unknown"
    assert values["agent.service_restart"] == "unknown"
    assert values["agent.auto_restart"] == "unknown"
    assert values["agent.service_found"] == "false"
    assert not any(k.startswith(("memory.", "disk.", "cpu.")) for k in values)
    assert values["conf.found"] == "false"
    assert values["dhcp.lease_files"] == "0"


def test_network_rows() -> None:
    facts = LiveFacts(root="/", gathered_at="2024-01-01T00:00:00Z")
    facts.network_probed = True
    facts.proxy = "127.0.0.1:3128"
    facts.network = [
        ProbeResult("wireserver_80", "168.63.129.16", 80, "ok", 1.24),
        ProbeResult(
            "storage_443",
            "acct.blob.core.windows.net",
            443,
            "timeout",
            3000.4,
            "TimeoutError: timed out",
            "127.0.0.1:3128",
        ),
    ]
    values = {r.key: r.value for r in live_rows(facts, "m")}
    assert values["network.wireserver_80.ok"] == "true"
    assert values["network.wireserver_80.error"] == ""
    assert values["network.wireserver_80.elapsed_ms"] == "1"
    assert values["network.wireserver_80.endpoint"] == "168.63.129.16:80"
    assert values["network.storage_443.ok"] == "false"
    assert values["network.storage_443.status"] == "timeout"
    assert values["network.storage_443.error"] == "TimeoutError: timed out"
    assert values["network.storage_443.via_proxy"] == "127.0.0.1:3128"
    assert values["network.proxy"] == "127.0.0.1:3128"


_names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_text = st.text(max_size=20)


@settings(max_examples=80, deadline=None)
@given(
    pids=st.lists(st.integers(1, 99999), max_size=3),
    mem=st.tuples(st.none() | st.integers(0, 2**40), st.none() | st.integers(0, 2**40)),
    disks=st.lists(
        st.builds(
            DiskFacts, st.sampled_from(["/", "/var"]), st.integers(0, 2**50), st.integers(0, 2**50)
        ),
        max_size=2,
    ),
    conf=st.dictionaries(st.sampled_from(["Extensions.Enabled", "Logs.Verbose", "X.Y"]), _text),
    leases=st.lists(
        st.builds(LeaseFacts, _text, st.just("dhclient"), st.integers(0, 3), _text), max_size=2
    ),
    probes=st.lists(
        st.builds(
            ProbeResult,
            _names,
            _text,
            st.integers(0, 65535),
            st.sampled_from(["ok", "refused", "timeout", "error"]),
            st.floats(0, 1e6),
            _text,
            _text,
        ),
        max_size=3,
        unique_by=lambda r: r.name,
    ),
    cpu=st.none() | st.floats(0, 100),
)
def test_rows_are_documented_strings_for_any_facts(
    pids, mem, disks, conf, leases, probes, cpu
) -> None:
    from analyzer.live.vm_state import AgentProcess

    facts = LiveFacts(root="/", gathered_at="t")
    facts.processes = [AgentProcess(p, "daemon", "", ["waagent", "-daemon"]) for p in pids]
    facts.mem_total_bytes, facts.mem_available_bytes = mem
    facts.disks = list({d.mount: d for d in disks}.values())
    facts.conf = conf
    facts.leases = leases
    facts.network = probes
    facts.cpu_busy_percent = cpu
    rows = live_rows(facts, "self-check.json")
    patterns = _documented_keys()
    _by_key(rows)
    for row in rows:
        assert isinstance(row.value, str)
        assert any(p.match(row.key) for p in patterns), f"undocumented key {row.key}"
    # And the facts survive JSON unchanged, so a stored self-check gives the same rows.
    assert live_rows(LiveFacts.from_json(facts.to_json()), "self-check.json") == rows
