"""analyzer.parse.dhcp: option 245 from dhclient, networkd, NetworkManager and wicked leases."""

from __future__ import annotations

import pytest

from analyzer.parse.dhcp import option_245_to_ip, parse_dhcp_lease
from analyzer.parse.errors import ParseError

WIRESERVER = "168.63.129.16"


def _pairs(rows) -> list[tuple[str, str, int | None]]:
    return [(r.key, r.value, r.line) for r in rows]


def test_upstream_dhclient_leases(data) -> None:
    rows = parse_dhcp_lease(
        data("walinuxagent/lease/dhcp.leases"), "var/lib/dhcp/dhclient.eth0.leases"
    )
    assert [r for r in _pairs(rows) if r[0] in ("lease", "option_245", "lease_expire")] == [
        ("lease", "eth0", 1),
        ("option_245", WIRESERVER, 1),
        ("lease_expire", "never", 1),
        ("lease", "eth0", 20),
        ("option_245", WIRESERVER, 20),
        ("lease_expire", "2015-06-16T16:58:54Z", 20),
        ("lease", "eth0", 38),
        ("option_245", WIRESERVER, 38),
        ("lease_expire", "2152-07-23T23:27:10Z", 38),
    ]
    assert {r.source_kind for r in rows} == {"dhcp_lease"}
    assert ("dhcp_server", WIRESERVER, 1) in _pairs(rows)


def test_upstream_networkd_lease(data) -> None:
    rows = parse_dhcp_lease(
        data("walinuxagent/lease/networkd-lease-2"), "run/systemd/netif/leases/2"
    )
    assert _pairs(rows) == [
        ("lease", "ifindex 2", 1),
        ("option_245", WIRESERVER, 1),
        ("dhcp_server", WIRESERVER, 1),
    ]


def test_leases_without_245_are_still_visible() -> None:
    text = b"""lease {
  interface "eth1";
  fixed-address 10.0.1.5;
  option dhcp-server-identifier 10.0.1.1;
  expire epoch 1706695200; # Wed Jan 31 10:00:00 2024
}
"""
    rows = parse_dhcp_lease(text, "var/lib/dhclient/dhclient-eth1.leases")
    assert _pairs(rows) == [
        ("lease", "eth1", 1),
        ("lease_expire", "2024-01-31T10:00:00Z", 1),
        ("dhcp_server", "10.0.1.1", 1),
    ]
    assert not [r for r in rows if r.key == "option_245"]


def test_network_manager_leases() -> None:
    internal = parse_dhcp_lease(
        b"ADDRESS=10.0.0.4\nOPTION_245=a83f8110\n",
        "var/lib/NetworkManager/internal-4a4f0e9c-1111-2222-3333-444455556666-eth0.lease",
    )
    assert _pairs(internal) == [("lease", "eth0", 1), ("option_245", WIRESERVER, 1)]
    dhclient_style = parse_dhcp_lease(
        b'lease {\n  interface "eth0";\n  option unknown-245 a8:3f:81:10;\n}\n',
        "var/lib/NetworkManager/dhclient-4a4f0e9c-1111-2222-3333-444455556666-eth0.lease",
    )
    assert ("option_245", WIRESERVER, 1) in _pairs(dhclient_style)


def test_truncated_lease_and_unknown_interface() -> None:
    rows = parse_dhcp_lease(b"lease {\n  option unknown-245 a8:3f:81:10;\n", "leases")
    assert _pairs(rows) == [("lease", "?", 1), ("option_245", WIRESERVER, 1)]


def test_invalid_245_is_kept_as_evidence() -> None:
    rows = parse_dhcp_lease(b"lease {\n  option unknown-245 zz:01;\n}\n", "leases")
    assert ("option_245", "invalid:zz:01", 1) in _pairs(rows)


@pytest.mark.parametrize(
    ("value", "ip"),
    [
        ("a8:3f:81:10", WIRESERVER),
        ("a8:3f:81:10;", WIRESERVER),
        ("A83F8110", WIRESERVER),
        ("a:0:0:1", "10.0.0.1"),
        ('"\\250?\\201\\020"', WIRESERVER),
        ("a8:3f:81", None),
        ("a8:3f:81:10:00", None),
        ("not-hex", None),
        ("a8:3f:81:1000", None),
    ],
)
def test_option_245_decoding(value: str, ip: str | None) -> None:
    assert option_245_to_ip(value) == ip


def test_wicked_lease_best_effort() -> None:
    xml = b"""<lease>
  <family>ipv4</family>
  <type>dhcp</type>
  <state>granted</state>
  <ipv4:dhcp xmlns:ipv4="urn:wicked">
    <server-id>168.63.129.16</server-id>
    <options><option><code>245</code><data>a8:3f:81:10</data></option></options>
  </ipv4:dhcp>
</lease>"""
    rows = parse_dhcp_lease(xml, "var/lib/wicked/lease-eth0-dhcp-ipv4.xml")
    assert _pairs(rows) == [
        ("lease", "eth0", 1),
        ("option_245", WIRESERVER, 1),
        ("dhcp_server", WIRESERVER, 1),
    ]
    plain = parse_dhcp_lease(b"<lease><interface>eth3</interface></lease>", "x.xml")
    assert _pairs(plain) == [("lease", "eth3", 1)]


def test_wicked_lease_is_hardened() -> None:
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse_dhcp_lease(
            b'<!DOCTYPE l [<!ENTITY x "1">]><lease>&x;</lease>', "lease-eth0-dhcp-ipv4.xml"
        )


def test_unrecognised_and_empty_files() -> None:
    assert parse_dhcp_lease(b"", "leases") == []
    assert parse_dhcp_lease(b"# This is private data. Do not parse.\n", "leases/2") == []
    with pytest.raises(ParseError, match="not a recognised DHCP lease"):
        parse_dhcp_lease(b"hello world\n", "leases")
    with pytest.raises(ParseError, match="NUL"):
        parse_dhcp_lease(b"lease {\x00}", "leases")
