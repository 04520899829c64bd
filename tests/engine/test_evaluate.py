"""Check kinds, windows, grouping, tables and down-ranking, through the real pipeline."""

from __future__ import annotations

from pathlib import Path

from analyzer.engine.benign import BenignEntry, BenignList
from analyzer.engine.loader import load_rules
from analyzer.pipeline import AnalyzeOptions, analyze_files

HEADER = """\
id = "T-1"
title = "test rule"
category = "network"
severity = "high"
description = "d"
message = "{count} hits, last {error}"
condition = "%s"

[remediation]
en = "fix"
pt-BR = "corrigir"
"""


def run(
    tmp_path: Path,
    condition: str,
    checks: str,
    files: dict[str, str],
    benign: BenignList | None = None,
):  # type: ignore[no-untyped-def]
    (tmp_path / "T-1.toml").write_text(HEADER % condition + checks, encoding="utf-8")
    pack = load_rules([tmp_path])
    assert pack.errors == []
    analysis = analyze_files(files, AnalyzeOptions(), pack=pack, benign=benign or BenignList([]))
    outcome = analysis.outcomes[0]
    return outcome.finding, outcome


def g4(minute: int, level: str, text: str, hour: int = 10) -> str:
    return f"2024-02-01T{hour:02d}:{minute:02d}:00.000000Z {level} ExtHandler ExtHandler {text}\n"


FAIL = "[HTTP Failed] GET http://168.63.129.16/machine/ -- IOError timed out"
LOG_CHECK = """
[checks.a]
kind = "log"
pattern = 'IOError (?P<error>.*)'
min_count = 2
"""


def test_log_check_count_message_and_evidence(tmp_path: Path) -> None:
    log = g4(0, "INFO", "hello") + g4(1, "WARNING", FAIL) + g4(2, "WARNING", FAIL + " again")
    finding, _ = run(tmp_path, "a", LOG_CHECK, {"var/log/waagent.log": log})
    assert finding is not None
    assert finding.count == 2
    assert finding.message == "2 hits, last timed out again"
    assert [(e.member, e.line) for e in finding.evidence] == [
        ("inline!var/log/waagent.log", 2),
        ("inline!var/log/waagent.log", 3),
    ]
    assert finding.first_seen is not None and finding.first_seen.minute == 1
    assert finding.remediation == "fix"


def test_min_count_not_reached_explains_itself(tmp_path: Path) -> None:
    finding, outcome = run(
        tmp_path, "a", LOG_CHECK, {"var/log/waagent.log": g4(1, "WARNING", FAIL)}
    )
    assert finding is None
    assert outcome.checks["a"].detail == "1 matching records, needed 2"


def test_window_is_measured_back_from_collection(tmp_path: Path) -> None:
    checks = LOG_CHECK + "within_hours = 1\n"
    old = g4(0, "WARNING", FAIL, hour=1) + g4(1, "WARNING", FAIL, hour=1)
    recent = g4(0, "INFO", "still alive", hour=10)
    finding, outcome = run(tmp_path, "a", checks, {"var/log/waagent.log": old + recent})
    assert finding is None
    assert "none in the last 1h" in outcome.checks["a"].detail


def test_filters_and_group_by(tmp_path: Path) -> None:
    checks = """
[checks.a]
kind = "log"
pattern = 'Non-zero exit code'
levels = ["ERROR"]
where = { event_op = "~^(Enable|Install)$" }
group_by = "event_name"
min_count = 2
"""
    lines = [
        g4(i, "ERROR", f"Event: name={n}, op=Enable, message=Non-zero exit code: 1, duration=0")
        for i, n in enumerate(["A", "B", "A"])
    ]
    lines.append(
        g4(5, "ERROR", "Event: name=B, op=Disable, message=Non-zero exit code: 1, duration=0")
    )
    finding, _ = run(tmp_path, "a", checks, {"var/log/waagent.log": "".join(lines)})
    assert finding is not None
    # Lines 1 and 3 say the same thing (group A): one evidence item standing for both.
    assert [(e.line, e.repeats) for e in finding.evidence] == [(1, 2)]


def test_absence_needs_coverage(tmp_path: Path) -> None:
    checks = """
[checks.a]
kind = "absence"
pattern = '\\[HEARTBEAT\\]'
within_hours = 2
"""
    beat = "[HEARTBEAT] Agent WALinuxAgent-2.9.1.1 is running as the goal state agent"
    silent = g4(0, "INFO", beat, hour=1) + g4(0, "INFO", "other", hour=6)
    finding, _ = run(tmp_path, "a", checks, {"var/log/waagent.log": silent})
    assert finding is not None and finding.evidence[0].line == 1
    short = g4(0, "INFO", "other", hour=5) + g4(30, "INFO", "other", hour=5)
    finding, outcome = run(tmp_path, "a", checks, {"var/log/waagent.log": short})
    assert finding is None and "cannot tell" in outcome.checks["a"].detail


def test_sequence_start_without_end(tmp_path: Path) -> None:
    checks = """
[checks.a]
kind = "sequence"
sources = ["vmsnapshot_extension_log"]
pattern = 'starting daemon initially'
then = 'Enable,\\w+,\\d+,'
within_minutes = 30
"""
    path = "var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"
    prefix = "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"
    log = (
        f"2024-01-14 22:00:00.000000 {prefix}starting daemon initially\n"
        f"2024-01-14 22:05:00.000000 {prefix}Enable,success,1,,False\n"
        f"2024-01-15 22:00:00.000000 {prefix}starting daemon initially\n"
        f"2024-01-15 22:01:00.000000 {prefix}T:S doing snapshot now...\n"
    )
    finding, _ = run(tmp_path, "a", checks, {path: log})
    assert finding is not None
    assert [e.line for e in finding.evidence] == [3]
    finding, _ = run(tmp_path, "a", checks, {path: "".join(log.splitlines(True)[:2])})
    assert finding is None


EXT_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="3"><Plugins>
<Plugin name="Microsoft.Azure.RecoveryServices.VMSnapshotLinux" version="%s" location="x" state="enabled" />
</Plugins></Extensions>
"""
TABLE_CHECK = """
[checks.a]
kind = "table"
table = "extensions"
where = { name = "microsoft.azure.recoveryservices.vmsnapshotlinux" }
latest_by = "name"
compare = { field = "version", op = "<", value = "1.0.91.0", type = "version" }
"""


def test_table_check_compares_versions_numerically(tmp_path: Path) -> None:
    old = {"var/lib/waagent/ExtensionsConfig.3.xml": EXT_CONFIG % "1.0.90.0"}
    finding, _ = run(tmp_path, "a", TABLE_CHECK, old)
    assert finding is not None
    assert "version=1.0.90.0" in finding.evidence[0].text
    new = {"var/lib/waagent/ExtensionsConfig.3.xml": EXT_CONFIG % "1.0.100.0"}
    assert run(tmp_path, "a", TABLE_CHECK, new)[0] is None


def test_table_none_mode(tmp_path: Path) -> None:
    checks = """
[checks.a]
kind = "table"
table = "config"
where = { key = "Extensions.Enabled", value = "y" }
mode = "none"
"""
    assert run(tmp_path, "a", checks, {"etc/waagent.conf": "Extensions.Enabled=n\n"})[0] is not None
    assert run(tmp_path, "a", checks, {"etc/waagent.conf": "Extensions.Enabled=y\n"})[0] is None


def test_benign_noise_is_downranked(tmp_path: Path) -> None:
    benign = BenignList([BenignEntry("t", "IOError timed out", "IOError timed out", 3, "noise")])
    log = g4(1, "WARNING", FAIL) + g4(2, "WARNING", FAIL)
    finding, _ = run(tmp_path, "a", LOG_CHECK, {"var/log/waagent.log": log}, benign)
    assert finding is not None and finding.severity == "info"
    assert finding.downranked.startswith("t: noise")
    many = log * 2
    finding, _ = run(tmp_path, "a", LOG_CHECK, {"var/log/waagent.log": many}, benign)
    assert finding is not None and finding.severity == "high"


def test_duplicated_rotated_content_is_counted_once(tmp_path: Path) -> None:
    log = g4(1, "WARNING", FAIL) + g4(2, "WARNING", FAIL + " x")
    files = {"var/log/waagent.log": log, "var/log/waagent.log.1": log}
    finding, _ = run(tmp_path, "a", LOG_CHECK, files)
    assert finding is not None and finding.count == 2


def test_secrets_are_redacted_in_evidence(tmp_path: Path) -> None:
    line = (
        FAIL + " https://md-x.blob.core.windows.net/c/abcd?sv=2018&sr=b&sig=FAKESECRET "
        "password=hunter2"
    )
    finding, _ = run(tmp_path, "a", LOG_CHECK, {"var/log/waagent.log": g4(1, "ERROR", line) * 2})
    assert finding is not None
    text = " ".join(e.text for e in finding.evidence) + finding.message
    assert "FAKESECRET" not in text and "hunter2" not in text


def test_regex_compare_on_the_newest_row(tmp_path: Path) -> None:
    checks = '''
[checks.a]
kind = "table"
table = "extensions"
where = { source_kind = "extension_status" }
latest_by = "name"
compare = { field = "code", op = "~", value = "^(?:76|761)$" }
'''
    status = '[{"version": "1.0", "timestampUTC": "%s", "status": {"name": "x", "operation": "Enable", "status": "success", "code": "%s"}}]'
    base = "var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0/status/"
    failed_then_ok = {base + "1.status": status % ("2024-01-01T00:00:00Z", "76"),
                      base + "2.status": status % ("2024-01-02T00:00:00Z", "1")}
    assert run(tmp_path, "a", checks, failed_then_ok)[0] is None
    ok_then_failed = {base + "1.status": status % ("2024-01-01T00:00:00Z", "1"),
                      base + "2.status": status % ("2024-01-02T00:00:00Z", "761")}
    finding, _ = run(tmp_path, "a", checks, ok_then_failed)
    assert finding is not None and "code=761" in finding.evidence[0].text


def test_exclude_extensions(tmp_path: Path) -> None:
    checks = '''
[checks.a]
kind = "log"
pattern = 'Non-zero exit code'
exclude_extensions = ["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"]
'''
    backup = g4(1, "ERROR", "Event: name=Microsoft.Azure.RecoveryServices.VMSnapshotLinux, op=Enable, message=Non-zero exit code: 1, duration=0")
    other = g4(2, "ERROR", "Event: name=Microsoft.Azure.Extensions.CustomScript, op=Enable, message=Non-zero exit code: 1, duration=0")
    assert run(tmp_path, "a", checks, {"var/log/waagent.log": backup})[0] is None
    finding, _ = run(tmp_path, "a", checks, {"var/log/waagent.log": backup + other})
    assert finding is not None and [e.line for e in finding.evidence] == [2]


def test_anchored_pattern_inside_an_alternation_still_matches(tmp_path: Path) -> None:
    checks = '''
[checks.a]
kind = "log"
pattern = '(?:^|\\s)Command: bin/x$'
min_count = 2
'''
    log = "".join(g4(i, "INFO", "Command: bin/x") for i in range(3))
    finding, _ = run(tmp_path, "a", checks, {"var/log/waagent.log": log})
    assert finding is not None and finding.count == 3


def test_lines_with_invalid_utf8_still_match(tmp_path: Path) -> None:
    line = b"2024-02-01T10:01:00.000000Z WARNING ExtHandler ExtHandler caf\xe9 " + FAIL.encode()
    data = (line + b"\n") * 2
    finding, _ = run(tmp_path, "a", LOG_CHECK, {"var/log/waagent.log": data})
    assert finding is not None and finding.count == 2
    assert "caf\udce9" in finding.evidence[0].text


def test_prefilter_literals_cover_every_builtin_pattern() -> None:
    """The bundle-wide prefilter only looks for literals every match must contain; each
    literal found for a rule pattern must really be in the text that pattern matches."""
    from analyzer.engine.loader import default_rules_dir, load_rules
    from analyzer.engine.regex import compile_pattern, required_literals

    for rule in load_rules([default_rules_dir()]).rules:
        for test in rule.tests:
            for text in test.files.values():
                for line in text.splitlines():
                    for check in rule.checks.values():
                        pattern = getattr(check, "pattern", "")
                        literals = required_literals(pattern) if pattern else None
                        if pattern and literals and compile_pattern(pattern).search(line):
                            assert any(_holds(line, lit) for lit in literals), (
                                rule.id, pattern, line)


def _holds(line: str, literal: str) -> bool:
    """Whether ``line`` holds a required literal: a compound one (``a\\0b``) holds its
    parts in order, on one line."""
    at = 0
    for part in literal.split("\0"):
        found = line.lower().find(part.lower(), at)
        if found < 0:
            return False
        at = found + len(part)
    return True
