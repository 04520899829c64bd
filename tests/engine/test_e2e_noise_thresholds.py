"""Count thresholds of the agent team's own healthy-VM noise list, through the whole analysis.

The agent's end-to-end log check ignores a few kinds of error only below a count ("ignore
unless there are 6 or more instances"). The message texts below are the real lines it quotes
(https://github.com/Azure/WALinuxAgent/blob/02d790865381ba159beda28ad1a3be27c49116b6/tests_e2e/tests/lib/agent_log.py);
a support engineer reads a handful of them as noise and a run of them with nothing recovering
as a failure, so 5 must stay below medium and 6 must alarm.
"""

from __future__ import annotations

import pytest

from analyzer.pipeline import AnalyzeOptions, analyze_files
from analyzer.report.model import SEVERITY_RANK

GOAL_STATE_RESET = (
    "ERROR ExtHandler ExtHandler Error fetching the goal state: [ProtocolError] [Wireserver Exception] "
    "[HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ -- IOError [Errno 104] Connection reset "
    "by peer -- 6 attempts made"
)
GOAL_STATE_TIMEOUT = (
    "ERROR ExtHandler ExtHandler Error fetching the goal state: [ProtocolError] [Wireserver Exception] "
    "[HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ -- IOError timed out -- 6 attempts made"
)
VMSETTINGS_403 = (
    "ERROR ExtHandler ExtHandler Error fetching the goal state: [ProtocolError] GET vmSettings "
    "[correlation ID: 646b1f58-d57e-4ea1-9fc8-848d5a65fe65 eTag: 2142019640769130536]: [HTTP Failed] "
    "[403: Forbidden] b'{  \"errorCode\": \"AccessDenied\",  \"message\": \"Error during client "
    "validation.\",  \"details\": \"\"}'"
)
HEARTBEAT_GOAL_STATE_TIMEOUT = (
    "WARNING MonitorHandler ExtHandler Error in SendHostPluginHeartbeat: [ProtocolError] [Wireserver "
    "Exception] [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/ -- IOError timed out -- 6 "
    "attempts made --- [NOTE: Will not log the same error for the next hour]"
)
MEDIUM = SEVERITY_RANK["medium"]


def _alarms(line: str, times: int, minutes_apart: int) -> set[str]:
    log = "".join(
        f"2025-09-06T{8 + i * minutes_apart // 60:02d}:{i * minutes_apart % 60:02d}:16.941247Z {line}\n"
        for i in range(times)
    )
    analysis = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(), source="e2e-noise")
    return {f.rule for f in analysis.report.findings if SEVERITY_RANK[f.severity] >= MEDIUM}


@pytest.mark.parametrize(
    ("line", "minutes_apart", "rule"),
    [
        (GOAL_STATE_RESET, 1, "WAA-GS-001"),
        (GOAL_STATE_TIMEOUT, 1, "WAA-GS-001"),
        (VMSETTINGS_403, 1, "WAA-GS-001"),
        (HEARTBEAT_GOAL_STATE_TIMEOUT, 60, "WAA-NET-001"),
    ],
    ids=["goal-state-reset", "goal-state-timeout", "vmsettings-403", "heartbeat-goal-state"],
)
def test_five_are_noise_six_are_a_failure(line: str, minutes_apart: int, rule: str) -> None:
    assert _alarms(line, 5, minutes_apart) == set()
    assert rule in _alarms(line, 6, minutes_apart)


TELEMETRY_TIMEOUT = (
    "ERROR SendTelemetryHandler ExtHandler Event: name=WALinuxAgent, op=ReportEventErrors, "
    "message=DroppedEventsCount: 1\nReasons (first 5 errors): [ProtocolError] [Wireserver Exception] "
    "[HttpError] [HTTP Failed] POST http://168.63.129.16/machine -- IOError timed out -- 3 attempts made:"
)


def _log(*timed_lines: tuple[str, str]) -> set[str]:
    log = "".join(f"{when} {line}\n" for when, line in timed_lines)
    analysis = analyze_files({"var/log/waagent.log": log}, AnalyzeOptions(), source="e2e-noise")
    return {f.rule for f in analysis.report.findings if SEVERITY_RANK[f.severity] >= MEDIUM}


def test_one_of_each_kind_of_wireserver_noise_is_still_noise() -> None:
    # The four lines the agent team quotes from one test VM on 2025-09-06 (a WireServer blip):
    # each kind below its own count, so the check passed; together they are no outage either.
    assert _log(
        ("2025-09-06T08:46:51.298681Z", TELEMETRY_TIMEOUT),
        ("2025-09-06T08:47:16.941247Z", GOAL_STATE_TIMEOUT),
        ("2025-09-06T08:47:42.367645Z", HEARTBEAT_GOAL_STATE_TIMEOUT),
        ("2025-09-06T08:48:54.929425Z", VMSETTINGS_403),
    ) == set()


def test_a_kind_over_its_own_count_alarms_even_among_other_noise() -> None:
    # two dropped telemetry batches are over the telemetry count (1), the goal-state timeout is not
    assert "WAA-NET-001" in _log(
        ("2025-09-06T08:46:51.298681Z", TELEMETRY_TIMEOUT),
        ("2025-09-06T08:47:16.941247Z", GOAL_STATE_TIMEOUT),
        ("2025-09-06T08:49:51.298681Z", TELEMETRY_TIMEOUT),
    )


@pytest.mark.parametrize("failure", [GOAL_STATE_TIMEOUT, VMSETTINGS_403], ids=["wireserver", "vmsettings"])
def test_the_agent_saying_still_failing_is_an_outage(failure: str) -> None:
    # Agents 2.9+ log a goal-state error 3 times, then "is still failing" (every 6 h): the fourth
    # consecutive failure. Few lines, but the agent itself says the failure persists.
    still = failure.replace("Error fetching the goal state:", "Fetching the goal state is still failing:")
    assert "WAA-GS-001" in _log(
        ("2025-09-06T08:47:16.941247Z", failure),
        ("2025-09-06T08:47:22.941247Z", failure),
        ("2025-09-06T08:47:28.941247Z", failure),
        ("2025-09-06T08:47:34.941247Z", still),
    )
