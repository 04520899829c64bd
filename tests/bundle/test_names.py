"""Member-name validation, escaping and logical paths."""

from __future__ import annotations

import pytest

from analyzer.bundle.names import display_name, escape_text, normalise_path, parse_name
from analyzer.settings import Limits

LIMITS = Limits()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("var/log/waagent.log", "var/log/waagent.log"),
        ("caf\udce9.log", "caf\\xe9.log"),  # undecodable byte 0xe9 (surrogateescape)
        ("a\x1b]0;pwned\x07b", "a\\x1b]0;pwned\\x07b"),
        ("a\x1b[2Jb\r\n", "a\\x1b[2Jb\\x0d\\x0a"),
        ("x\x9by\x7f", "x\\x9by\\x7f"),  # C1 CSI and DEL
        ("evil\u202etxt.log", "evil\\u202etxt.log"),  # bidi override
        ("a\u2028b", "a\\u2028b"),  # line separator
        ("tab\there", "tab\\x09here"),
        ("café.log", "café.log"),  # printable non-ASCII stays readable
        ("a\uffefb\u00a0c", "a\\uffefb\\u00a0c"),  # unassigned, non-ASCII space
        ("x\U000e0001", "x\\U000e0001"),  # tag character (format, astral)
    ],
)
def test_escape_text(raw: str, shown: str) -> None:
    assert escape_text(raw) == shown


def test_display_name_escapes_the_provenance_separator_and_shortens() -> None:
    assert display_name("logs.zip!var/log/waagent.log") == "logs.zip\\x21var/log/waagent.log"
    long = display_name("a" * 5000)
    assert long.startswith("a" * 256) and long.endswith("...(5000 bytes)")


@pytest.mark.parametrize(
    ("raw", "logical", "warnings"),
    [
        ("var/log/waagent.log", "var/log/waagent.log", ()),
        ("./var/log/waagent.log", "var/log/waagent.log", ()),
        ("/var/log/waagent.log", "var/log/waagent.log", ("unsafe path (absolute path)",)),
        ("//moo", "moo", ("unsafe path (absolute path)",)),
        ("/etc/passwd", "etc/passwd", ("unsafe path (absolute path)",)),
        ("C:/x", "x", ("unsafe path (absolute path)",)),
        ("C:x", "x", ("unsafe path (absolute path)",)),
        ("../x", "x", ("unsafe path (parent reference)",)),
        ("tmp/../../moo", "tmp/moo", ("unsafe path (parent reference)",)),
        ("case-1234/var/log/waagent.log", "var/log/waagent.log", ()),
        ("./case-1234/etc/waagent.conf", "etc/waagent.conf", ()),
        # only a single top folder is removed, and only in front of a VM root
        ("a/b/var/log/waagent.log", "a/b/var/log/waagent.log", ()),
        ("case-1234/waagent.log", "case-1234/waagent.log", ()),
        ("waagent.log", "waagent.log", ()),
        ("GoalState.3.xml", "GoalState.3.xml", ()),
        ("logs/results.txt", "results.txt", ()),
    ],
)
def test_normalise_path(raw: str, logical: str, warnings: tuple[str, ...]) -> None:
    got_logical, _rooted, _truncated, got_warnings = normalise_path(raw)
    assert (got_logical, got_warnings) == (logical, warnings)


def test_backslashes_are_separators_only_for_zip_names() -> None:
    zip_name = parse_name("..\\..\\evil.bat", LIMITS, backslash_separator=True)
    assert zip_name.logical_path == "evil.bat"
    assert zip_name.warnings == ("unsafe path (parent reference)",)
    tar_name = parse_name("..\\..\\evil.bat", LIMITS)
    assert tar_name.logical_path == "..\\..\\evil.bat" and tar_name.warnings == ()


@pytest.mark.parametrize(
    ("raw", "logical"),
    [
        ("truncated_var_log_waagent.log", "var/log/waagent.log"),
        ("truncated_var_log_syslog.1", "var/log/syslog.1"),
        (
            "truncated_var_log_azure_Microsoft.Azure.RecoveryServices.VMSnapshotLinux_extension.log",
            "var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log",
        ),
        (
            "truncated_var_log_azure_Microsoft.OSTCExtensions.LinuxDiagnostic_2.3.9029_extension.log",
            "var/log/azure/Microsoft.OSTCExtensions.LinuxDiagnostic/2.3.9029/extension.log",
        ),
        (
            "truncated_var_lib_waagent_Microsoft.CPlat.Core.RunCommandLinux-1.0.5_status_0.status",
            "var/lib/waagent/Microsoft.CPlat.Core.RunCommandLinux-1.0.5/status/0.status",
        ),
        ("truncated_etc_waagent.conf", "etc/waagent.conf"),
    ],
)
def test_collector_truncated_names(raw: str, logical: str) -> None:
    name = parse_name(raw, LIMITS)
    assert name.logical_path == logical
    assert name.collector_truncated and name.rooted


def test_truncated_prefix_only_maps_at_the_archive_root() -> None:
    name = parse_name("var/lib/waagent/logcollector/truncated/truncated_var_log_x", LIMITS)
    assert name.logical_path == "var/lib/waagent/logcollector/truncated/truncated_var_log_x"
    assert not name.collector_truncated


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("var/log/a\x00b", "skipped: member name contains NUL"),
        ("a" * 5000, "skipped: member name too long (5000 bytes, limit 4096)"),
        ("/".join(["d"] * 70), "skipped: member name has too many components (70, limit 64)"),
        ("./", "skipped: empty member name"),
        ("..", "skipped: empty member name"),
    ],
)
def test_rejected_names(raw: str, reason: str) -> None:
    assert parse_name(raw, LIMITS).reject == reason


def test_logical_path_is_escaped_and_printable() -> None:
    name = parse_name("var/log/azure/x/\x1b]0;t\x07\udcff.log", LIMITS)
    assert name.logical_path == "var/log/azure/x/\\x1b]0;t\\x07\\xff.log"
    assert name.logical_path.isprintable()
    assert name.display.isprintable()


def test_name_limits_come_from_limits() -> None:
    tiny = Limits().with_overrides(max_name_bytes=10, max_name_components=2)
    assert parse_name("a/b/c", tiny).reject is not None
    assert parse_name("abcdefghijk", tiny).reject is not None
    assert parse_name("a/b", tiny).reject is None
