"""The Windows guest agent's own status file: ``WindowsAzure/Logs/AggregateStatus/
aggregatestatus*.json``.

It holds the status blob the agent reports to the host (``aggregateStatus`` with
``guestAgentStatus`` and ``handlerAggregateStatus``), the same document the Linux agent keeps
as ``waagent_status.json`` from 2.8 on, so :func:`analyzer.parse.status.parse_waagent_status`
reads it. The agent version found there is the Windows guest agent's: its row is relabelled
``windows_guest_agent`` so Linux agent rules never compare it with Linux versions.

>>> doc = (b'{"timestampUTC": "2024-01-31T10:00:00Z", "aggregateStatus": {'
...        b'"guestAgentStatus": {"version": "2.7.41491.1102", "status": "Ready"},'
...        b'"handlerAggregateStatus": []}}')
>>> rows = parse_aggregate_status(doc, "x!WindowsAzure/Logs/AggregateStatus/aggregatestatus.json")
>>> [(r.role, r.value) for r in rows.agents]
[('windows_guest_agent', '2.7.41491.1102'), ('agent_status', 'Ready')]
"""

from __future__ import annotations

from analyzer.parse.status import StatusResult, parse_waagent_status
from analyzer.settings import DEFAULT_LIMITS


def parse_aggregate_status(
    data: bytes, member: str, *, max_bytes: int = DEFAULT_LIMITS.max_xml_bytes
) -> StatusResult:
    result = parse_waagent_status(data, member, max_bytes=max_bytes)
    for row in result.agents:
        if row.role == "goal_state_agent":
            row.role = "windows_guest_agent"
    return result
