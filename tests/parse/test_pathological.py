"""Crafted inputs that make careless regexes quadratic (ReDoS) must stay fast.

Every case measured a few milliseconds after the fix; the bound only catches a regression
to super-linear behaviour (several seconds on these sizes before the fix).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from analyzer.parse import conf, dhcp, events, status
from analyzer.redact import redact_text

N = 64 * 1024  # the longest evidence line the scanner keeps (Limits.max_line_bytes)
BOUND_SECONDS = 1.0

REDACT_CASES = {
    "long word of passwords": "password" * (N // 8),
    "quote then passwords": '"' + "password" * (N // 8),
    "dotted secrets": "secret." * (N // 7),
    "scheme-like run": "@ " + "a+" * (N // 2),
    "unclosed xml secrets": "<Password>" * (N // 10),
    "unclosed xml attributes": "<Password " * (N // 10),
    "unterminated pem blocks": "-----BEGIN X-----" * (N // 17),
    "escaped keys without end": '\\"protectedSettings\\": \\"' * (N // 26),
    "concatenated urls": "sv= " + "https://a/b" * (N // 11),
    "spaces after a key": "password" + " " * N,
    "spaces after bearer": "Bearer" + " " * N,
}


@pytest.mark.parametrize("name", sorted(REDACT_CASES))
def test_redact_text_is_linear(name: str) -> None:
    text = REDACT_CASES[name]
    start = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - start < BOUND_SECONDS


def _version_event() -> bytes:
    return json.dumps([{"Version": "a-1" * 200_000, "Message": "x"}]).encode()


PARSER_CASES: dict[str, tuple[Callable[[bytes, str], object], bytes, str]] = {
    "lease: blank lines": (dhcp.parse_dhcp_lease, b"\n" * 2_000_000 + b"X=1", "leases"),
    "lease: spaces inside a statement": (
        dhcp.parse_dhcp_lease,
        b"lease {\n a" + b" " * 2_000_000 + b"b\n}\n",
        "leases",
    ),
    "lease: long quoted 245": (
        dhcp.parse_dhcp_lease,
        b'lease {\n option unknown-245 "' + b"\\\\" * 1_000_000 + b'";\n}\n',
        "leases",
    ),
    "vmbackup.conf: spaces before the separator": (
        conf.parse_vmbackup_conf,
        b"[S]\na" + b" " * 2_000_000 + b"=1\n[" + b" " * 2_000_000 + b"]\n",
        "etc/azure/vmbackup.conf",
    ),
    "events: dashed version": (events.parse_extension_events, _version_event(), "e/events/1.json"),
}


@pytest.mark.parametrize("name", sorted(PARSER_CASES))
def test_parsers_are_linear(name: str) -> None:
    parser, data, member = PARSER_CASES[name]
    start = time.perf_counter()
    parser(data, member)
    assert time.perf_counter() - start < BOUND_SECONDS


def test_long_handler_directory_name() -> None:
    member = "var/lib/waagent/" + "a-1" * 100_000 + "/status/0.status"
    start = time.perf_counter()
    assert status.handler_from_path(member) == ("", "")
    assert time.perf_counter() - start < BOUND_SECONDS


def test_deeply_nested_json_inside_documents() -> None:
    """JSON nested in strings (RuntimeSettings, publicSettings, status messages) is parsed
    by the parsers themselves: a RecursionError there must not escape."""
    from analyzer.parse import goal_state

    deep = "[" * 100_000
    xml = (
        '<Extensions goalStateIncarnation="1"><Plugins><Plugin name="A" version="1"/></Plugins>'
        f'<PluginSettings><Plugin name="A" version="1"><RuntimeSettings seqNo="1">{deep}'
        "</RuntimeSettings></Plugin></PluginSettings></Extensions>"
    ).encode()
    [ext] = goal_state.parse_extensions_config(xml, "ExtensionsConfig.1.xml").extensions
    assert ext.message.startswith("runtime settings: not valid JSON")
    vm = json.dumps(
        {
            "extensionGoalStates": [
                {
                    "name": "A",
                    "settings": [{"publicSettings": deep}],
                    "version": "1",
                }
            ]
        }
    ).encode()
    [vm_ext] = goal_state.parse_vm_settings(vm, "VmSettings.json").extensions
    assert vm_ext.message == "public settings: not a JSON object"
    status_doc = json.dumps(
        [{"status": {"code": 1, "formattedMessage": {"message": "{" + deep}}}]
    ).encode()
    [row] = status.parse_extension_status(status_doc, "A-1.0/status/0.status")
    assert row.code == "1"
    custom = goal_state.backup_settings({"customSettings": deep})
    assert custom == {}
