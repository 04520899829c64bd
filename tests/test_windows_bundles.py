"""Windows bundles of every shape are read into the tables with the right values, and the
guide's cause 3 reaches the report's cause table."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.bundle.walker import walk
from analyzer.errors import Problem
from analyzer.export import iter_bundle_records
from analyzer.pipeline import AnalyzeOptions, analyze_path
from analyzer.report import get_renderer
from analyzer.settings import Limits

BUNDLES = Path(__file__).resolve().parent.parent / "fixtures" / "bundles"
SHAPES = ["windows-healthy.zip", "windows-healthy", "windows-healthy.tgz"]
VMSNAP = "Microsoft.Azure.RecoveryServices.VMSnapshot"


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_fills_the_tables(shape: str) -> None:
    analysis = analyze_path(BUNDLES / shape, AnalyzeOptions(isolate=False))
    facts = analysis.facts
    kinds = {row.logical_path.rsplit("/", 1)[-1]: row.kind for row in facts.files}
    assert kinds["WaAppAgent.log"] == "windows_agent_log"
    assert kinds["TransparentInstaller.log"] == "windows_installer_log"
    assert kinds["IaaSBcdrExtension1.log"] == "windows_plugin_log"
    assert kinds["CommandExecution.log"] == "windows_plugin_log"
    assert kinds["aggregatestatus.json"] == "windows_aggregate_status"
    assert kinds["43.status"] == "extension_status"
    assert kinds["43.settings"] == "extension_settings"
    assert not facts.problems

    agents = {(a.role, a.value, a.source_kind) for a in facts.agent}
    assert ("windows_guest_agent", "2.7.41491.1102", "windows_agent_log") in agents
    assert ("windows_guest_agent", "2.7.41491.1102", "waagent_status") in agents
    assert analysis.report.bundle.goal_state_agent_versions == ["2.7.41491.1102"]

    vmsnap = {(e.source_kind, e.version, e.status) for e in facts.extensions if e.name == VMSNAP}
    assert ("directory", "1.0.92.0", "") in vmsnap
    assert ("extension_status", "1.0.92.0", "success") in vmsnap
    assert ("waagent_status", "1.0.92.0", "success") in vmsnap
    assert ("Microsoft.Compute.BGInfo", "2.1") in {(e.name, e.version) for e in facts.extensions}
    settings = {(c.key, c.value) for c in facts.config}
    assert ("commandToExecute", "snapshot") in settings
    assert ("protectedSettings", "absent") in settings

    assert analysis.report.findings == []


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_gives_the_same_records(shape: str) -> None:
    problems: list[Problem] = []
    rows = list(iter_bundle_records(walk(BUNDLES / shape, Limits(), problems), Limits()))
    agent = [r for r in rows if r["source_kind"] == "windows_agent_log"]
    first = agent[0]
    assert first["line"] == 1
    assert first["timestamp"].isoformat() == "2024-03-02T06:00:00+00:00"
    assert (first["tz"], first["generation"], first["level"], first["thread"]) == (
        "utc", "WB", "INFO", "00000006",
    )
    assert first["fields"]["windows_agent_version"] == "2.7.41491.1102"
    plugin = [r for r in rows if r["member"].endswith("IaaSBcdrExtension1.log")]
    assert plugin and all(r["tz"] == "assumed-utc" for r in plugin)
    # Every line of these logs is a one-line record: the counts must match the copied files.
    logs = (BUNDLES / "windows-healthy" / "WindowsAzure" / "Logs").rglob("*.log")
    lines = {p.name: p.read_bytes().count(b"\r\n") for p in logs}
    assert len(agent) == lines["WaAppAgent.log"] == 36
    assert len(rows) == sum(lines.values())


def test_old_layout_is_flagged_assumed_utc() -> None:
    problems: list[Problem] = []
    rows = list(iter_bundle_records(
        walk(BUNDLES / "windows-agent-outdated.tgz", Limits(), problems), Limits()
    ))
    agent = [r for r in rows if r["source_kind"] == "windows_agent_log"]
    assert {r["generation"] for r in agent} == {"WA"}
    assert {r["tz"] for r in agent} == {"assumed-utc"}
    assert agent[0]["timestamp"].isoformat() == "2018-05-02T06:00:00+00:00"


@pytest.mark.parametrize(
    ("shape", "lang", "label"),
    [
        ("windows-agent-stopped.zip", "en", "Cause 3: The agent is installed but unresponsive"),
        ("windows-agent-crash", "pt-BR", "Causa 3"),
        ("windows-agent-outdated.tgz", "en", "Cause 3"),
    ],
)
def test_cause_3_reaches_the_html_cause_table(shape: str, lang: str, label: str) -> None:
    analysis = analyze_path(BUNDLES / shape, AnalyzeOptions(isolate=False, lang=lang))
    html = get_renderer("html", lang).render(analysis.report)
    table = html[html.index('class="table cat-table"'):]
    table = table[: table.index("</table>")]
    assert label in table
    assert {f.guide_cause for f in analysis.report.findings} == {3}


@pytest.mark.parametrize("command", ["self-check", "collect"])
def test_live_commands_refuse_a_windows_drive(tmp_path: Path, command: str) -> None:
    """self-check and collect stay Linux-only: a Windows system drive gets exit 2 and the way
    to collect a Windows bundle instead of an empty Linux report."""
    import subprocess
    import sys

    (tmp_path / "WindowsAzure" / "Logs").mkdir(parents=True)
    argv = [sys.executable, "-m", "analyzer", command, "--root", str(tmp_path)]
    if command == "collect":
        argv += ["--output", str(tmp_path / "out.tgz")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 2, done.stderr
    assert "runs on Linux VMs only" in done.stderr
    assert "C:\\WindowsAzure\\Logs" in done.stderr
    assert not (tmp_path / "out.tgz").exists()


@pytest.mark.parametrize(
    ("bundle", "hours"),
    [("windows-healthy.zip", "0.0"), ("windows-agent-stopped", "18.1"), ("windows-vss-sql.tgz", "0.0")],
)
def test_silence_of_the_agent_log_is_measured_once_per_bundle(bundle: str, hours: str) -> None:
    facts = analyze_path(BUNDLES / bundle, AnalyzeOptions(isolate=False)).facts
    (row,) = [c for c in facts.config if c.key == "windows_agent_silent_hours"]
    assert (row.source_kind, row.value) == ("derived", hours)
    assert row.member.endswith("WaAppAgent.log")


def test_linux_bundles_get_no_windows_facts() -> None:
    facts = analyze_path(BUNDLES / "collector-logs-g4.zip", AnalyzeOptions(isolate=False)).facts
    assert not [c for c in facts.config if c.source_kind == "derived"]
    assert not [a for a in facts.agent if a.role == "windows_guest_agent"]
