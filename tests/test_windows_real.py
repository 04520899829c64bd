"""Public, machine-written Windows guest agent excerpts give exactly the findings they show."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from analyzer.pipeline import AnalyzeOptions, analyze_files, analyze_path

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "real" / "windows"
EXCERPTS = tomllib.loads((REAL / "sources.toml").read_text(encoding="utf-8"))["excerpt"]


@pytest.mark.parametrize("excerpt", EXCERPTS, ids=[e["file"] for e in EXCERPTS])
def test_real_excerpt(excerpt: dict[str, object]) -> None:
    data = (REAL / str(excerpt["file"])).read_bytes()
    analysis = analyze_files(
        {"C:\\WindowsAzure\\Logs\\WaAppAgent.log": data}, AnalyzeOptions(isolate=False)
    )
    fired = sorted({f.rule for f in analysis.report.findings})
    assert fired == sorted(excerpt["expect"])  # type: ignore[call-overload]
    for finding in analysis.report.findings:
        assert all(e.member.endswith("WindowsAzure/Logs/WaAppAgent.log") for e in finding.evidence)
        assert finding.guide_cause in (1, 3, 4, 5)


def test_every_excerpt_is_listed() -> None:
    listed = {e["file"] for e in EXCERPTS}
    assert listed == {p.name for p in REAL.glob("*.log")}
    assert all(str(e["source"]).startswith("https://") for e in EXCERPTS)


def test_a_pasted_excerpt_under_any_name_is_read_as_waappagent_log(tmp_path: Path) -> None:
    ticket = tmp_path / "ticket-4711.txt"
    ticket.write_bytes((REAL / "stuck-stopping.WaAppAgent.log").read_bytes())
    analysis = analyze_path(ticket, AnalyzeOptions(isolate=False))
    assert [row.kind for row in analysis.facts.files] == ["windows_agent_log"]
    assert "WAA-WIN-001" in {f.rule for f in analysis.report.findings}


def test_agent_starts_appear_on_the_html_timeline() -> None:
    bundle = REAL.parent.parent / "bundles" / "windows-agent-crash.tgz"
    analysis = analyze_path(bundle, AnalyzeOptions(isolate=False, timeline=True))
    starts = [e for e in analysis.report.timeline_events if e.kind == "agent-start"]
    assert len(starts) == 5  # the boot and four restarts
    assert all("WindowsAzureGuestAgent starting" in e.label for e in starts)


def test_windows_records_are_counted_per_hour_for_the_timeline() -> None:
    bundle = REAL.parent.parent / "bundles" / "windows-agent-crash"
    analysis = analyze_path(bundle, AnalyzeOptions(isolate=False, timeline=True))
    points = {(p.hour.strftime("%Y-%m-%dT%H"), p.level): p.count
              for p in analysis.report.timeline_counts}
    # 07:00-08:15: four starts of the agent, each with one ERROR (BadImageFormatException)
    assert points[("2024-03-05T07", "ERROR")] == 3
    assert points[("2024-03-05T08", "ERROR")] == 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom"])
def test_a_utf16_copy_gives_the_same_findings(tmp_path: Path, encoding: str) -> None:
    """PowerShell 5's ``Out-File`` / ``>`` save text as UTF-16 with a byte-order mark."""
    text = (REAL / "rpc-rdcrypt.WaAppAgent.log").read_text(encoding="utf-8")
    data = (
        text.encode("utf-16")
        if encoding == "utf-16"
        else b"\xfe\xff" + text.encode("utf-16-be")
    )
    folder = tmp_path / "case" / "WindowsAzure" / "Logs"
    folder.mkdir(parents=True)
    (folder / "WaAppAgent.log").write_bytes(data)
    analysis = analyze_path(tmp_path / "case", AnalyzeOptions(isolate=False))
    assert sorted({f.rule for f in analysis.report.findings}) == ["WAA-WIN-011", "WAA-WIN-041"]
    evidence = [e for f in analysis.report.findings for e in f.evidence]
    assert {e.line for e in evidence} >= {1, 2}
    assert not analysis.facts.problems
