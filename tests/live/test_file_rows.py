"""Issue #10: one check per file-derived fact. self-check.json stands in for waagent.conf and
the lease files only when the input does not hold the files themselves."""

from __future__ import annotations

import json

from analyzer.pipeline import AnalyzeOptions, analyze_files

FACTS = {"schema": "waagent-analyzer/live-facts/v1", "root": "/",
         "gathered_at": "2024-02-01T10:00:00Z", "processes": [], "services": [],
         "conf_found": True, "conf": {"Extensions.Enabled": "n", "Logs.Verbose": "n"},
         "conf_lines": {"Extensions.Enabled": 4, "Logs.Verbose": 9},
         "leases": [{"path": "/var/lib/dhcp/dhclient.eth0.leases", "kind": "dhclient",
                     "leases": 1, "option_245": ""}],
         "network": [], "network_probed": False, "unreadable": []}
CONF = "Provisioning.Agent=auto\nExtensions.Enabled=n\nLogs.Verbose=n\n"
LEASE = 'lease {\n  interface "eth0";\n  fixed-address 10.0.0.4;\n}\n'


def _analyse(files: dict[str, str]) -> tuple[set[str], list[tuple[str, str, str]]]:
    analysis = analyze_files(files, AnalyzeOptions(isolate=False))
    rows = [(r.source_kind, r.key, r.member) for r in analysis.tables.config
            if r.source_kind in ("waagent_conf", "dhcp_lease")]
    return {f.rule for f in analysis.report.findings}, rows


def test_self_check_json_alone_gives_the_file_rows_a_bundle_would() -> None:
    fired, rows = _analyse({"self-check.json": json.dumps(FACTS)})
    assert {"WAA-CONF-001", "WAA-CONF-002", "WAA-DHCP-002"} <= fired
    assert ("waagent_conf", "Extensions.Enabled", "inline!self-check.json") in rows
    assert ("dhcp_lease", "lease", "inline!self-check.json") in rows


def test_the_files_themselves_win_and_nothing_is_counted_twice() -> None:
    """As self-check and collect lay them out: the files first, self-check.json last."""
    files = {"etc/waagent.conf": CONF, "var/lib/dhcp/dhclient.eth0.leases": LEASE,
             "self-check.json": json.dumps(FACTS)}
    fired, rows = _analyse(files)
    alone, _ = _analyse({k: v for k, v in files.items() if k != "self-check.json"})
    assert {"WAA-CONF-001", "WAA-CONF-002", "WAA-DHCP-002"} <= fired
    assert fired - {"WAA-RUN-004"} == alone  # the live facts add only live-only rules
    assert not any(member.endswith("self-check.json") for _, _, member in rows), rows
