"""analyze_*: what a user gets back for inputs that read nothing, nothing recognised, rotated
copies, folders, oversized files; the isolated and the in-process paths agree."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from analyzer.batch.inputs import fingerprint
from analyzer.batch.model import BundleInput
from analyzer.errors import InputRejected, Problem
from analyzer.pipeline import (
    AnalyzeOptions,
    analyze_files,
    analyze_members,
    analyze_path,
    members_from_files,
)
from analyzer.settings import Limits

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
WIRE = ("2024-01-31T10:00:0{}.000000Z WARNING ExtHandler ExtHandler Error fetching the goal "
        "state: [ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET "
        "http://168.63.129.16/machine/ -- IOError timed out -- 6 attempts made\n")
INLINE = AnalyzeOptions(isolate=False)


def test_an_input_that_yields_nothing_readable_is_rejected() -> None:
    def nothing(problems: list[Problem]) -> list[object]:
        problems.append(Problem("case.tgz", "not a tar, zip or gzip file"))
        return []

    with pytest.raises(InputRejected, match="nothing could be read: not a tar, zip or gzip"):
        analyze_members("case.tgz", nothing, INLINE)  # type: ignore[arg-type]


def test_files_that_are_not_agent_files_are_rejected() -> None:
    with pytest.raises(InputRejected, match="no recognised source"):
        analyze_members(
            "case", lambda problems: members_from_files({"notes/readme.txt": "hello"}), INLINE)


def test_a_rotated_copy_does_not_count_twice() -> None:
    lines = "".join(WIRE.format(i) for i in range(4))
    once = analyze_files({"var/log/waagent.log": lines}, INLINE)
    twice = analyze_files({"var/log/waagent.log": lines, "var/log/waagent.log.1": lines},
                          INLINE)
    count = {f.rule: f.count for f in once.report.findings}
    assert count.get("WAA-NET-001") == 4
    assert {f.rule: f.count for f in twice.report.findings} == count


def test_a_folder_has_the_same_identity_in_analyze_and_batch(tmp_path: Path) -> None:
    folder = FIXTURES / "flat-folder"
    analysis = analyze_path(folder, AnalyzeOptions())
    assert analysis.report.bundle.sha256 == fingerprint(BundleInput(str(folder), True))
    assert len(analysis.report.bundle.sha256) == 64


def test_an_input_above_the_size_limit_is_not_hashed(tmp_path: Path) -> None:
    data = WIRE.format(1).encode() * 64
    bundle = tmp_path / "big.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        info = tarfile.TarInfo("var/log/waagent.log")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    options = AnalyzeOptions(limits=Limits(max_input_bytes=bundle.stat().st_size - 1))
    with pytest.raises(InputRejected):
        analyze_path(bundle, options)
    from analyzer.pipeline import _identity

    assert _identity(bundle, options.limits) == ""
    assert len(_identity(bundle, Limits())) == 64


@pytest.mark.parametrize("name", ["exthandler-crash.tgz", "snapshot-fsfreeze-121.tgz"])
def test_isolated_and_in_process_runs_agree(name: str) -> None:
    isolated = analyze_path(FIXTURES / name, AnalyzeOptions(timeline=True))
    inline = analyze_path(FIXTURES / name, AnalyzeOptions(timeline=True, isolate=False))
    assert isolated.report.to_dict() == inline.report.to_dict()
    assert isolated.report.findings, name
    assert [vars(r) for r in isolated.tables.snapshot_runs] == \
        [vars(r) for r in inline.tables.snapshot_runs]


@pytest.mark.parametrize("content", [b"", b"\n" * 5000, b" \n\t\r\n\n"])
def test_logs_holding_no_line_are_rejected_not_all_clear(content: bytes, tmp_path: Path) -> None:
    """A bundle whose only source is an empty or blank log checked nothing: exit 3 with the
    reason, never "OK"."""
    bundle = tmp_path / "blank.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        for name in ("var/log/waagent.log", "var/log/waagent.log.1"):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    for isolate in (False, True):
        with pytest.raises(InputRejected, match=r"nothing readable: no log in it holds a line "
                                                r"\(var/log/waagent\.log, var/log/waagent\.log\.1\)"):
            analyze_path(bundle, AnalyzeOptions(isolate=isolate))


def test_one_log_with_lines_beside_blank_ones_is_analysed(tmp_path: Path) -> None:
    bundle = tmp_path / "some.tgz"
    with tarfile.open(bundle, "w:gz") as archive:
        for name, content in (("var/log/waagent.log", b"\n\n"),
                              ("var/log/waagent.log.1", WIRE.format(1).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    report = analyze_path(bundle, AnalyzeOptions(isolate=True)).report
    assert report.findings


@pytest.mark.parametrize("isolate", [True, False])
def test_the_callers_preparation_and_the_identity_come_with_the_read(
        tmp_path: Path, isolate: bool) -> None:
    """The identity is hashed and the caller's own preparation runs once, beside the isolated
    child's read or before the in-process one: the report carries the bundle's SHA-256."""
    bundle = tmp_path / "case.tgz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = "".join(WIRE.format(i) for i in range(3)).encode()
        info = tarfile.TarInfo("var/log/waagent.log")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    bundle.write_bytes(buffer.getvalue())
    calls: list[str] = []
    options = AnalyzeOptions(isolate=isolate, while_reading=lambda: calls.append("ready"))
    analysis = analyze_path(bundle, options)
    assert calls == ["ready"]
    assert analysis.report.bundle.sha256 == fingerprint(BundleInput(str(bundle), False))
    assert {f.rule for f in analysis.report.findings} >= {"WAA-NET-001"}


def test_isolated_outcomes_are_those_of_the_evaluation_in_process() -> None:
    """The isolated evaluation sends its outcomes back without their rules, and the parent
    puts the pack's rules back in order: every outcome names its own rule, with the checks,
    finding and error the same evaluation gives in process."""
    bundle = Path(__file__).resolve().parents[1] / "fixtures" / "bundles" / "wireserver-down-g4.tgz"
    isolated = analyze_path(bundle, AnalyzeOptions(isolate=True))
    in_process = analyze_path(bundle, AnalyzeOptions(isolate=False))
    assert [o.rule for o in isolated.outcomes] == isolated.pack.rules
    assert any(o.fired for o in isolated.outcomes)

    def summary(outcome: object) -> tuple[object, ...]:
        return (outcome.rule.id, outcome.fired, sorted(outcome.checks),  # type: ignore[attr-defined]
                outcome.finding.message if outcome.finding else None,  # type: ignore[attr-defined]
                outcome.error)  # type: ignore[attr-defined]

    assert [summary(o) for o in isolated.outcomes] == [summary(o) for o in in_process.outcomes]
