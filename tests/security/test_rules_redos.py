"""Rules cannot stall a run.

* Catastrophic-backtracking constructs RE2 cannot run in linear time (backreferences,
  lookaround, atomic groups, possessive quantifiers) are rejected when the rule file is
  loaded: ``rules validate`` exits 2 with ``path:line:col: message``.
* Nested quantifiers RE2 *does* accept stay linear: measured on hostile input.
* Every built-in rule pattern, searched alone on long hostile lines, finishes fast, and so does
  the whole scanner (the combined prefilter) on a long line made of near-misses.
* A user rule folder with a broken rule is reported on stderr; the others still run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sec_harness import MiB, Workspace
from secbuild import BENIGN_LOG, failing_log, gzip_bytes, log_line, tar_file, tar_of
from test_checklist import custom_rule, findings, rules_dir

from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.engine.regex import PatternError, compile_pattern

REJECTED = {
    "backreference": r"(\w+) \1",
    "lookahead": r"Error(?= in)",
    "negative lookahead": r"Error(?!: none)",
    "lookbehind": r"(?<=\[)Error",
    "atomic group": r"(?>a+)+b",
    "possessive": r"a++b",
    "recursion": r"(?R)",
}

ACCEPTED_LINEAR = {
    r"^(\w+\s?)*$": "a" * 30_000 + "!",
    r"^(a+)+$": "a" * 100_000 + "!",
    r"(.*a){12}x": "a" * 50_000,
    r"^(a|aa)+$": "a" * 100_000 + "!",
    r"(\d+\.?)+z": "1." * 50_000,
    r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|"
    r"([a-z]{2,3}[.]{1}[a-z]{2,3}))$": "a" * 50_000 + "!",
}


@pytest.mark.parametrize("construct", sorted(REJECTED))
def test_rules_validate_rejects_what_re2_cannot_run_linearly(
    ws: Workspace, construct: str
) -> None:
    directory = rules_dir(ws, {"CUST-100": custom_rule("CUST-100", REJECTED[construct])})
    run = ws.run_cli("rules", "validate", directory)
    run.assert_bounded(wall=20)
    assert run.rc == 2, run
    assert re.search(r"custom/CUST-100\.toml:\d+:\d+: pattern not accepted by the linear-time "
                     r"regex engine", run.stderr), run
    with pytest.raises(PatternError):
        compile_pattern(REJECTED[construct])


@pytest.mark.parametrize("pattern", sorted(ACCEPTED_LINEAR))
def test_nested_quantifiers_accepted_by_re2_stay_linear(pattern: str) -> None:
    compiled = compile_pattern(pattern)
    text = ACCEPTED_LINEAR[pattern]
    start = time.perf_counter()
    for _ in range(3):
        compiled.search(text)
    assert time.perf_counter() - start < 1.0, pattern


def builtin_patterns() -> Iterator[tuple[str, str]]:
    pack = load_rules([default_rules_dir()])
    assert not pack.errors, pack.errors
    for rule in pack.rules:
        for name, check in rule.checks.items():
            for attribute in ("pattern", "then"):
                pattern = getattr(check, attribute, None)
                if pattern:
                    yield f"{rule.id}.{name}.{attribute}", pattern


BUILTIN = dict(builtin_patterns())


def _near_misses(pattern: str) -> list[str]:
    """Long hostile lines for one pattern: its own literal pieces repeated without the rest,
    runs of word/space/digit characters, and brackets that never close."""
    pieces = [p for p in re.split(r"\\.|[()\[\]{}|?*+^$.]", pattern) if len(p) >= 3][:4]
    size = 256 * 1024
    lines = ["a" * size + "!", " " * size + "x", "1." * (size // 2), "[" * size,
             "a " * (size // 2), "\\x" * (size // 2)]
    for piece in pieces:
        lines.append((piece + " ") * (size // (len(piece) + 1)))
        lines.append((piece[:-1] + " OS: ") * (size // (len(piece) + 5)))
    return lines


@pytest.mark.parametrize("where", sorted(BUILTIN))
def test_every_builtin_pattern_is_fast_on_long_hostile_lines(where: str) -> None:
    compiled = compile_pattern(BUILTIN[where])
    for line in _near_misses(BUILTIN[where]):
        start = time.perf_counter()
        compiled.search(line)
        elapsed = time.perf_counter() - start
        assert elapsed < 0.5, (where, line[:40], elapsed)


@pytest.mark.parametrize("unit", ["Daemon OS: ", "MemoryError OS: ", "timed-out Python: 3 ",
                                  "goal state ", "a" * 64])
def test_scanner_is_linear_on_one_long_line_of_near_misses(ws: Workspace, unit: str) -> None:
    """Regression test for the quadratic prefilter (a 1.4 KB upload took 40 s before
    f89d8f5): a 1 MiB line of hits and near-misses for the combined prefilter."""
    line = (b"2024-01-31T10:30:00.000000Z INFO ExtHandler ExtHandler "
            + unit.encode() * (MiB // len(unit)) + b"\n")
    path = ws.write("case.tgz", gzip_bytes(tar_of(tar_file("var/log/waagent.log",
                                                           failing_log() + line))))
    assert path.stat().st_size < 64 * 1024
    run = ws.analyze(path, timeout=60)
    run.assert_bounded(wall=8)
    assert run.rc == 1 and "WAA-NET-001" in findings(run)


def test_broken_user_rule_is_reported_and_the_others_still_run(ws: Workspace) -> None:
    directory = rules_dir(ws, {
        "CUST-101": custom_rule("CUST-101", r"(a)\1"),
        "CUST-102": custom_rule("CUST-102", r"custom marker \w+"),
        "CUST-103": "this is = not [valid toml",
    })
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log",
                                                failing_log() + log_line("custom marker x", 50))))
    run = ws.analyze(path, "--rules", directory)
    run.assert_bounded(wall=20)
    assert run.rc == 1, run
    assert re.search(r"rule error: .*CUST-101\.toml:\d+:\d+: pattern not accepted", run.stderr)
    assert re.search(r"rule error: .*CUST-103\.toml:\d+:\d+: invalid TOML", run.stderr)
    assert {"WAA-NET-001", "CUST-102"} <= set(findings(run))


@pytest.mark.parametrize("pattern", [r"x*", r"^(\w+\s?)*$", r"(?:timeout)?"])
def test_a_rule_that_matches_the_empty_string_cannot_hang_the_scan(
    ws: Workspace, pattern: str
) -> None:
    """Regression test: such a pattern made the scanner loop forever at the end of a region
    (f89d8f5); since ec267a7 it is refused when the rule is loaded."""
    directory = rules_dir(ws, {"CUST-104": custom_rule("CUST-104", pattern)})
    path = ws.write("case.tar", tar_of(tar_file("var/log/waagent.log", BENIGN_LOG)))
    run = ws.run_api(path, rule_dirs=(Path(directory),), wall_seconds=3, timeout=30)
    assert run.rc in (0, 1), run
    run.assert_bounded(wall=8)
    check = ws.run_cli("rules", "validate", directory)
    assert check.rc == 2 and "matches the empty string" in check.stderr, check
