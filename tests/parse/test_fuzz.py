"""Every parser either returns rows or raises ParseError, whatever shape the input has.

Documents are generated from the vocabulary of the real formats so the generator reaches
the parsers' inner branches (wrong types in the right places), not just their front door.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from analyzer.parse import conf, dhcp, events, goal_state, status
from analyzer.parse.errors import ParseError

JSON_KEYS = [
    "aggregateStatus", "guestAgentStatus", "handlerAggregateStatus", "runtimeSettingsStatus",
    "settingsStatus", "status", "code", "formattedMessage", "message", "substatus", "name",
    "telemetryData", "Key", "Value", "vmHealthInfo", "vmHealthStatusCode", "extensionGoalStates",
    "settings", "publicSettings", "protectedSettings", "runtimeSettings", "handlerSettings",
    "gaFamilies", "statusUploadBlob", "inVMMetadata", "extensions_status", "current_version",
    "timestampUTC", "handlerManifest", "last_failure", "failure_count", "was_fatal", "reason",
    "Timestamp", "EventLevel", "Message", "Version", "settingsSeqNo", "isMultiConfig",
    "extensionName", "seqNo", "customSettings", "commandStartTimeUTCTicks", "sequenceNumber",
    "extension_status", "handlerName", "handlerVersion", "version", "updateStatus",
    "_metadataNotSentToCRP", "daemonVersion", "guestOSInfo", "vmArtifactsAggregateStatus",
    "goalStateAggregateStatus", "extensionsLastModifiedTickCount", "operation", "messageStr",
]  # fmt: skip

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["2024-01-31T10:00:00Z", "/Date(1706695200000)/", "638422920000000000"]),
    st.sampled_from(['{"messageStr": "x=1"}', '[{"status": {"code": 1}}]', "{", "[]"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=6),
    ),
    max_leaves=25,
)

JSON_PARSERS: list[tuple[Callable[[bytes, str], Any], str]] = [
    (goal_state.parse_vm_settings, "history/2024-01-31T10-00-00__3-54/VmSettings.json"),
    (status.parse_waagent_status, "waagent_status.json"),
    (status.parse_extension_status, "var/lib/waagent/A.B-1.0/status/MCExt1.3.status"),
    (status.parse_handler_status, "var/lib/waagent/A.B-1.0/config/HandlerStatus"),
    (status.parse_handler_manifest, "var/lib/waagent/A.B-1.0/HandlerManifest.json"),
    (status.parse_extension_settings, "var/lib/waagent/A.B-1.0/config/3.settings"),
    (status.parse_agent_error, "var/lib/waagent/WALinuxAgent-2.9.1.1/error.json"),
    (events.parse_extension_events, "var/log/azure/A.B/events/1.json"),
]

TEXT_PARSERS: list[tuple[Callable[[bytes, str], Any], str]] = [
    (conf.parse_waagent_conf, "etc/waagent.conf"),
    (conf.parse_vmbackup_conf, "etc/azure/vmbackup.conf"),
    (dhcp.parse_dhcp_lease, "var/lib/dhcp/dhclient.eth0.leases"),
    (events.parse_collector_results, "results.txt"),
    (status.parse_handler_state, "var/lib/waagent/A.B-1.0/config/HandlerState"),
    (status.parse_crash_sentinel, "var/lib/waagent/current_version"),
]

XML_PARSERS: list[Callable[[bytes, str], Any]] = [
    goal_state.parse_goal_state,
    goal_state.parse_extensions_config,
    goal_state.parse_hosting_env,
    goal_state.parse_shared_config,
]

XML_TAGS = [
    "GoalState", "Extensions", "HostingEnvironmentConfig", "SharedConfig", "Incarnation",
    "Container", "ContainerId", "RoleInstanceList", "RoleInstance", "InstanceId",
    "Configuration", "ExtensionsConfig", "ConfigName", "Plugins", "Plugin", "PluginSettings",
    "RuntimeSettings", "ExtensionRuntimeSettings", "GuestAgentExtension", "GAFamilies",
    "GAFamily", "Name", "Version", "StatusUploadBlob", "InVMGoalStateMetaData", "Deployment",
    "Role", "Instances", "Instance", "StoredCertificates", "StoredCertificate", "RequiredFeatures",
]  # fmt: skip
XML_ATTRS = [
    "name", "version", "state", "seqNo", "goalStateIncarnation", "createdOnTicks", "number",
    "instance", "address", "id", "statusBlobType", "inSvdSeqNo",
]  # fmt: skip
_xml_text = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
    st.sampled_from(['{"runtimeSettings": [{"handlerSettings": {"publicSettings": {}}}]}', "{"]),
)


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    el = etree.Element(draw(st.sampled_from(XML_TAGS)))
    for key in draw(st.lists(st.sampled_from(XML_ATTRS), max_size=3, unique=True)):
        el.set(key, draw(st.text(alphabet="0123456789abcXY.-", max_size=20)))
    el.text = draw(_xml_text)
    if depth < 4:
        for child in draw(st.lists(_element(depth + 1), max_size=3)):
            el.append(child)
    return el


def _accepts(parser: Callable[[bytes, str], Any], data: bytes, member: str) -> None:
    with contextlib.suppress(ParseError):
        parser(data, member)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_json_parsers_only_raise_parse_error(doc: Any) -> None:
    data = json.dumps(doc).encode()
    for parser, member in JSON_PARSERS:
        _accepts(parser, data, member)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_element())
def test_xml_parsers_only_raise_parse_error(root: etree._Element) -> None:
    data = etree.tostring(root)
    for parser in XML_PARSERS:
        _accepts(parser, data, "history/2024-01-31T10-00-00__3/Doc.xml")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_every_parser_survives_random_bytes(data: bytes) -> None:
    for parser, member in [*JSON_PARSERS, *TEXT_PARSERS]:
        _accepts(parser, data, member)
    for parser in XML_PARSERS:
        _accepts(parser, data, "Doc.xml")
