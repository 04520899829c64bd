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
from datetime import UTC, datetime
from typing import Any

from analyzer.bundle.model import PROVENANCE_SEPARATOR, SourceKind
from analyzer.parse.errors import ParseError
from analyzer.parse.rows import ConfigRow
from analyzer.parse.text import decode_text
from analyzer.parse.timeutil import iso_utc
from analyzer.settings import DEFAULT_LIMITS

_MAX = DEFAULT_LIMITS.max_xml_bytes
UNKNOWN_INTERFACE = "?"


def parse_dhcp_lease(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[ConfigRow]:
    """Any supported lease file -> ConfigRows (format detected from the content)."""
    if data.lstrip()[:1] == b"<":
        return _wicked(data, member, max_bytes)
    text = decode_text(data, member, max_bytes)
    # [ \t] and not \s: with MULTILINE, "^\s*" would rescan every following blank line.
    if re.search(r"(?m)^[ \t]*lease[ \t]*\{", text):
        return _dhclient(text, member)
    if re.search(r"(?m)^[A-Z][A-Z0-9_]*=", text):
        return _networkd(text, member)
    if not text.strip() or all(line.lstrip().startswith("#") for line in text.splitlines()):
        return []
    raise ParseError("not a recognised DHCP lease file", member)


def option_245_to_ip(value: str) -> str | None:
    """Decode option 245 as dhclient or networkd write it; None if it is not 4 bytes.

    >>> [option_245_to_ip(v) for v in ("a8:3f:81:10", "a83f8110", "a8:3f:81:a", "a8:3f")]
    ['168.63.129.16', '168.63.129.16', '168.63.129.10', None]
    >>> option_245_to_ip('"\\\\250?\\\\201\\\\020"')
    '168.63.129.16'
    """
    value = value.strip().rstrip(";").strip()
    if len(value) > 64:  # four bytes in any notation fit easily
        return None
    raw = _octets(value)
    if raw is None or len(raw) != 4:
        return None
    return ".".join(str(b) for b in raw)


def _octets(value: str) -> bytes | None:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return _c_string(value[1:-1])
    if ":" in value:  # dhclient prints each byte with %x: "a8:3f:81:10", leading zeros dropped
        try:
            return bytes(int(part, 16) for part in value.split(":"))
        except ValueError:
            return None
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", value):
        return bytes.fromhex(value)
    return None


_OCTAL = re.compile(r"[0-7]{1,3}")


def _c_string(body: str) -> bytes | None:
    """dhclient prints printable option bytes as a quoted string with octal escapes."""
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            octal = _OCTAL.match(body, i + 1)
            if octal:
                out.append(int(octal.group(0), 8) & 0xFF)
                i += 1 + len(octal.group(0))
                continue
            out.append(ord(body[i + 1]) & 0xFF)
            i += 2
            continue
        if ord(ch) > 0xFF:
            return None
        out.append(ord(ch))
        i += 1
    return bytes(out)


def _row(key: str, value: str, member: str, line: int) -> ConfigRow:
    return ConfigRow(
        source_kind=SourceKind.DHCP_LEASE, key=key, value=value, member=member, line=line
    )


# --- dhclient -----------------------------------------------------------------------------

# "expire <weekday> <yyyy/mm/dd hh:mm:ss>;", "expire <weekday> never;", "expire epoch <n>; # .."
_EXPIRE = re.compile(
    r"^expire\s+(?:epoch\s+(?P<epoch>\d{1,12})|(?:\d\s+)?(?:(?P<never>never)"
    r"|(?P<date>\d{4}/\d{1,2}/\d{1,2}\s+\d{1,2}:\d{2}:\d{2})))"
)


def _dhclient(text: str, member: str) -> list[ConfigRow]:
    rows: list[ConfigRow] = []
    start = 0
    lease: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if re.match(r"^lease\s*\{", stripped):
            start, lease = number, {}
        elif stripped.startswith("}") and start:
            rows.extend(_lease_rows(lease, member, start))
            start = 0
        elif start:
            _dhclient_statement(stripped, lease)
    if start:  # file cut inside a lease: keep what was read
        rows.extend(_lease_rows(lease, member, start))
    return rows


def _dhclient_statement(stripped: str, lease: dict[str, str]) -> None:
    """One ``name args;`` line (a trailing ``# comment`` allowed), read with str methods."""
    code = stripped.split("#", 1)[0].rstrip() if "#" in stripped else stripped
    if not code.endswith(";") or "{" in code or "}" in code:
        return
    statement = code[:-1].strip()
    if statement.startswith("interface "):
        lease["interface"] = statement.split(None, 1)[1].strip('"')
    elif statement.startswith("option unknown-245 "):
        lease["option_245"] = statement.split(None, 2)[2]
    elif statement.startswith("option dhcp-server-identifier "):
        lease["dhcp_server"] = statement.split(None, 2)[2]
    elif statement.startswith("expire "):
        lease["lease_expire"] = _dhclient_expiry(statement)


def _dhclient_expiry(statement: str) -> str:
    """ISO expiry (UTC, as dhclient writes it unless told to use local time), or "never"."""
    m = _EXPIRE.match(statement)
    raw = statement.removeprefix("expire").strip()
    if not m:
        return raw
    if m.group("never"):
        return "never"
    try:
        if m.group("epoch"):
            return iso_utc(datetime.fromtimestamp(int(m.group("epoch")), tz=UTC))
        parsed = datetime.strptime(m.group("date"), "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return raw
    return iso_utc(parsed)


def _lease_rows(lease: dict[str, str], member: str, line: int) -> list[ConfigRow]:
    rows = [_row("lease", lease.get("interface") or UNKNOWN_INTERFACE, member, line)]
    if "option_245" in lease:
        raw = lease["option_245"]
        rows.append(
            _row("option_245", option_245_to_ip(raw) or f"invalid:{raw[:64]}", member, line)
        )
    for key in ("lease_expire", "dhcp_server"):
        if key in lease:
            rows.append(_row(key, lease[key][:64], member, line))
    return rows


# --- systemd-networkd / NetworkManager internal -------------------------------------------


def _networkd(text: str, member: str) -> list[ConfigRow]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            values[key] = value.strip()
    # networkd names the file after the interface index; NetworkManager after the device.
    name = member.rsplit(PROVENANCE_SEPARATOR, 1)[-1].rsplit("/", 1)[-1]
    interface = f"ifindex {name}" if name.isdigit() else _nm_interface(name)
    lease: dict[str, str] = {"interface": interface}
    if "OPTION_245" in values:
        lease["option_245"] = values["OPTION_245"]
    if "SERVER_ADDRESS" in values:
        lease["dhcp_server"] = values["SERVER_ADDRESS"]
    return _lease_rows(lease, member, 1)


def _nm_interface(name: str) -> str:
    # internal-<uuid>-eth0.lease / dhclient-<uuid>-eth0.lease
    m = re.match(r"^(?:internal|dhclient)-[0-9a-fA-F-]{36}-(.+?)\.lease$", name)
    return m.group(1) if m else UNKNOWN_INTERFACE


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
    return _lease_rows(lease, member, 1)


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
