"""DHCP lease files: does any lease carry option 245 (the WireServer address)?

The agent finds the WireServer through DHCP option 245 (normally ``a8:3f:81:10`` =
168.63.129.16). Formats read here (waagent-formats.md 2.7):

* dhclient (``/var/lib/dhcp/dhclient.eth0.leases``, also NetworkManager's ``dhclient-*.lease``):
  ``lease { interface "eth0"; option unknown-245 a8:3f:81:10; expire 4 2015/06/16 16:58:54; }``
* systemd-networkd (``/run/systemd/netif/leases/<ifindex>``) and NetworkManager's internal
  client (``internal-*.lease``): ``KEY=VALUE`` lines, ``OPTION_245=a83f8110``
* wicked (``/var/lib/wicked/lease-eth0-dhcp-ipv4.xml``): best effort, see :func:`_wicked`.

Every lease yields a ``key="lease"`` row (value = interface), so "leases exist but none has
245" is detectable, plus ``option_245``, ``lease_expire`` and ``dhcp_server`` rows when known.
All rows of one lease share ``line`` (the line where the lease starts).

>>> text = b'lease {\\n  interface "eth0";\\n  option unknown-245 a8:3f:81:10;\\n}\\n'
>>> rows = parse_dhcp_lease(text, "l")
>>> [(r.key, r.value, r.line) for r in rows]
[('lease', 'eth0', 1), ('option_245', '168.63.129.16', 1)]
"""

from __future__ import annotations

import re
from typing import Any

from analyzer.bundle.model import PROVENANCE_SEPARATOR, SourceKind
from analyzer.onvm import formats
from analyzer.onvm.formats import UNKNOWN_INTERFACE, option_245_to_ip
from analyzer.parse.errors import ParseError
from analyzer.parse.rows import ConfigRow
from analyzer.parse.text import decode_text
from analyzer.settings import DEFAULT_LIMITS

__all__ = ["UNKNOWN_INTERFACE", "option_245_to_ip", "parse_dhcp_lease"]

_MAX = DEFAULT_LIMITS.max_xml_bytes


def parse_dhcp_lease(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ConfigRow]:
    """Any supported lease file -> ConfigRows (format detected from the content). dhclient
    and networkd text is read by ``analyzer/onvm/formats.py``, as the live self-check and the
    on-VM zipapp read it."""
    if data.lstrip()[:1] == b"<":
        return _wicked(data, member, max_bytes)
    text = decode_text(data, member, max_bytes)
    name = member.rsplit(PROVENANCE_SEPARATOR, 1)[-1].rsplit("/", 1)[-1]
    try:
        found = formats.lease_text_rows(text, name)
    except formats.NotALease as exc:
        raise ParseError(str(exc), member) from None
    return _rows(found, member)


def _rows(found: list[tuple[str, str, int]], member: str) -> list[ConfigRow]:
    return [
        ConfigRow(source_kind=SourceKind.DHCP_LEASE, key=key, value=value, member=member,
                  line=line)
        for key, value, line in found
    ]


# --- wicked -------------------------------------------------------------------------------


def _wicked(data: bytes, member: str, max_bytes: int) -> list[ConfigRow]:
    """Best effort: wicked keeps unknown options as ``<option><code>245</code><data>..</data>``
    in some versions; any element named like ``unknown-245``/``option-245`` is accepted too.
    The interface comes from ``<interface>`` or the ``lease-<if>-dhcp-ipv4.xml`` file name.
    """
    # lxml only here: the other formats are parsed by the stdlib-only live self-check too.
    from analyzer.parse.xmlsafe import attr, child_text, local_name, parse_xml

    root = parse_xml(data, member, max_bytes)
    name = member.rsplit("/", 1)[-1]
    from_name = re.match(r"^lease-(.+?)-dhcp-ipv[46]\.xml$", name)
    interface = (
        child_text(root, "interface")
        or attr(root, "interface")
        or (from_name.group(1) if from_name else UNKNOWN_INTERFACE)
    )
    lease: dict[str, str] = {"interface": interface}
    for node in root.iter():
        tag = local_name(node)
        if tag in ("unknown-245", "option-245"):
            lease["option_245"] = (node.text or "").strip()
        elif tag == "option" and _wicked_code(node) == "245":
            lease["option_245"] = _wicked_data(node)
        elif tag == "server-id" and node.text:
            lease["dhcp_server"] = node.text.strip()
    return _rows(formats.lease_rows(lease, 1), member)


def _wicked_code(node: Any) -> str:
    from analyzer.parse.xmlsafe import attr, local_name

    for sub in node:
        if local_name(sub) == "code":
            return (sub.text or "").strip()
    return attr(node, "code")


def _wicked_data(node: Any) -> str:
    from analyzer.parse.xmlsafe import local_name

    for sub in node:
        if local_name(sub) in ("data", "value"):
            return (sub.text or "").strip()
    return (node.text or "").strip()
