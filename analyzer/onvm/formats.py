"""The one reading of waagent.conf and of DHCP lease files (Python 3.6+, stdlib only).

The bundle parsers (``analyzer/parse/conf.py``, ``analyzer/parse/dhcp.py``), the full tool's
``self-check`` and the on-VM zipapp all read these formats through this module, so a value
cannot mean one thing live and another in a bundle (issue #10: the octal form of option 245
used to give ``''`` live and ``168.63.129.16`` in the parser). Results are plain tuples
``(key, value, line)``; the callers make their own rows of them.

Only wicked's XML leases are read elsewhere (lxml in the full tool; a small pattern on the VM,
which has no safe XML parser): both hand the fields they find to :func:`lease_rows`.

>>> conf_assignments('# c\\nExtensions.Enabled=n\\nLogs.Verbose=y # why\\n')
[('Extensions.Enabled', 'n', 2), ('Logs.Verbose', 'y', 3)]
>>> option_245_to_ip('"\\\\250?\\\\201\\\\020"')
'168.63.129.16'
"""

import datetime
import re
from typing import Any  # noqa: F401  (type comments)

# -- text -------------------------------------------------------------------------------------


def decode_small_text(data):
    # type: (bytes) -> str
    """A small hand-edited text file as text: UTF-16 when it starts with a BOM, else UTF-8
    with undecodable bytes replaced (one stray Latin-1 byte must not hide the rest).
    ValueError (the reason) for gzip data or NUL bytes: not a text file."""
    if data[:2] == b"\x1f\x8b":
        raise ValueError("not text: gzip-compressed data")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")
        if text.startswith("\ufeff"):
            text = text[1:]
    if "\x00" in text:
        raise ValueError("not text: contains NUL bytes")
    return text


# -- waagent.conf -----------------------------------------------------------------------------

_KEY = re.compile(r"^[A-Za-z][\w.\-]{0,127}$")
MAX_VALUE = 1024
"""Characters of a setting's value kept."""


def conf_assignments(text):
    # type: (str) -> list
    """``(key, value, line)`` per ``Key=Value`` line, as the agent reads them: ``#`` lines are
    comments, the value is cut at the first ``#`` and stripped of spaces and double quotes.
    Lines that are not assignments, or whose key is not a plain identifier, are ignored.
    Duplicates are kept (the last one wins, :func:`effective_conf`)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, raw = stripped.partition("=")
        key = key.strip()
        if not _KEY.match(key):
            continue
        out.append((key, raw.split("#", 1)[0].strip('" ').strip(), number))
    return out


def redact_setting(key, value, redactor):
    # type: (str, str, Any) -> str
    """A setting whose name says secret loses its value (yes/no switches stay), others are
    redacted as text; cut to :data:`MAX_VALUE`. ``redactor`` has ``redact_obj`` and
    ``redact_text`` (``analyzer.redact`` or the zipapp's ``analyzer.onvm.redact``)."""
    masked = redactor.redact_obj({key: value})[key]
    cleaned = redactor.redact_text(masked) if isinstance(masked, str) else value
    return cleaned[:MAX_VALUE]


# Switch defaults of the agent (a switch reads only y/n, case-insensitive; anything else,
# including "yes"/"true", falls back to the default). Code defaults, not the shipped file:
# distro packages ship OS.EnableFirewall=y, the agent's own default is n.
SWITCH_DEFAULTS = {
    "Extensions.Enabled": "y",
    "Logs.Verbose": "n",
    "Logs.Collect": "y",
    "AutoUpdate.Enabled": "y",
    "OS.EnableFirewall": "n",
    "EnableOverProvisioning": "y",
}
STRING_DEFAULTS = {
    "HttpProxy.Host": None,
    "HttpProxy.Port": None,
    "Protocol.EndpointDiscovery": "dhcp",
    "AutoUpdate.GAFamily": "Prod",
    "Lib.Dir": "/var/lib/waagent",
    "Extension.LogDir": "/var/log/azure",
}  # type: dict
UPDATE_TO_LATEST = "AutoUpdate.UpdateToLatestVersion"

REPORTED_KEYS = (
    "Logs.Verbose",
    "Extensions.Enabled",
    "AutoUpdate.Enabled",
    UPDATE_TO_LATEST,
    "HttpProxy.Host",
    "HttpProxy.Port",
    "OS.EnableFirewall",
    "Logs.Collect",
    "Protocol.EndpointDiscovery",
)
"""waagent.conf settings the self-check's ``conf.*`` rows report: as written when the file
sets them, else the agent's default (:func:`effective_conf`; ``None``: no default, no row)."""


def effective_conf(pairs):
    # type: (Any) -> dict
    """The configuration the agent runs with, from ``(key, value)`` pairs as written: every
    key set (last assignment wins, ``"None"`` means unset) plus defaults for the keys the
    rules look at. Switch values are normalised to ``"y"``/``"n"``;
    ``AutoUpdate.UpdateToLatestVersion`` defaults to the effective ``AutoUpdate.Enabled``."""
    values = {}  # type: dict
    for key, value in pairs:
        values[key] = None if value == "None" else value
    effective = dict(values)
    for key, default in SWITCH_DEFAULTS.items():
        effective[key] = _switch(values.get(key), default)
    for key, fallback in STRING_DEFAULTS.items():
        if values.get(key) is None:
            effective[key] = fallback
    effective[UPDATE_TO_LATEST] = _switch(
        values.get(UPDATE_TO_LATEST), effective["AutoUpdate.Enabled"] or "y")
    return effective


def _switch(value, default):
    # type: (Any, str) -> str
    if value is not None and value.lower() in ("y", "n"):
        return value.lower()
    return default


# -- DHCP leases ------------------------------------------------------------------------------

UNKNOWN_INTERFACE = "?"


class NotALease(ValueError):
    """The text is none of the lease formats read here."""


def lease_text_rows(text, name):
    # type: (str, str) -> list
    """dhclient or networkd/NetworkManager-internal lease text -> ``(key, value, line)``:
    a ``lease`` row per lease (value = interface) and ``option_245`` (the IP, or
    ``invalid:<raw>``), ``lease_expire`` and ``dhcp_server`` rows when known; all rows of one
    lease share the line where it starts. ``name`` is the file's name (networkd names the
    file after the interface index, NetworkManager after the device). Raises NotALease."""
    # [ \t] and not \s: with MULTILINE, "^\s*" would rescan every following blank line.
    if re.search(r"(?m)^[ \t]*lease[ \t]*\{", text):
        return _dhclient(text)
    if re.search(r"(?m)^[A-Z][A-Z0-9_]*=", text):
        return _networkd(text, name)
    if not text.strip() or all(line.lstrip().startswith("#") for line in text.splitlines()):
        return []
    raise NotALease("not a recognised DHCP lease file")


def option_245_to_ip(value):
    # type: (str) -> Any
    """Decode option 245 as dhclient or networkd write it; None if it is not 4 bytes.

    >>> [option_245_to_ip(v) for v in ("a8:3f:81:10", "a83f8110", "a8:3f:81:a", "a8:3f")]
    ['168.63.129.16', '168.63.129.16', '168.63.129.10', None]
    """
    value = value.strip().rstrip(";").strip()
    if len(value) > 64:  # four bytes in any notation fit easily
        return None
    raw = _octets(value)
    if raw is None or len(raw) != 4:
        return None
    return ".".join(str(b) for b in raw)


def _octets(value):
    # type: (str) -> Any
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return _c_string(value[1:-1])
    if ":" in value:  # dhclient prints each byte with %x: "a8:3f:81:10", leading zeros dropped
        try:
            return bytearray(int(part, 16) for part in value.split(":"))
        except ValueError:
            return None
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", value):
        return bytearray.fromhex(value)
    return None


_OCTAL = re.compile(r"[0-7]{1,3}")


def _c_string(body):
    # type: (str) -> Any
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
    return out


def lease_rows(lease, line):
    # type: (dict, int) -> list
    """The rows of one lease from its fields (``interface``, raw ``option_245``,
    ``lease_expire``, ``dhcp_server``)."""
    rows = [("lease", lease.get("interface") or UNKNOWN_INTERFACE, line)]
    if "option_245" in lease:
        raw = lease["option_245"]
        rows.append(("option_245", option_245_to_ip(raw) or "invalid:" + raw[:64], line))
    for key in ("lease_expire", "dhcp_server"):
        if key in lease:
            rows.append((key, lease[key][:64], line))
    return rows


# "expire <weekday> <yyyy/mm/dd hh:mm:ss>;", "expire <weekday> never;", "expire epoch <n>; # .."
_EXPIRE = re.compile(
    r"^expire\s+(?:epoch\s+(?P<epoch>\d{1,12})|(?:\d\s+)?(?:(?P<never>never)"
    r"|(?P<date>\d{4}/\d{1,2}/\d{1,2}\s+\d{1,2}:\d{2}:\d{2})))"
)


def _dhclient(text):
    # type: (str) -> list
    rows = []  # type: list
    start = 0
    lease = {}  # type: dict
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if re.match(r"^lease\s*\{", stripped):
            start, lease = number, {}
        elif stripped.startswith("}") and start:
            rows.extend(lease_rows(lease, start))
            start = 0
        elif start:
            _dhclient_statement(stripped, lease)
    if start:  # file cut inside a lease: keep what was read
        rows.extend(lease_rows(lease, start))
    return rows


def _dhclient_statement(stripped, lease):
    # type: (str, dict) -> None
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


def _dhclient_expiry(statement):
    # type: (str) -> str
    """ISO expiry (UTC, as dhclient writes it unless told to use local time), or "never"."""
    m = _EXPIRE.match(statement)
    raw = statement[len("expire"):].strip()
    if not m:
        return raw
    if m.group("never"):
        return "never"
    utc = datetime.timezone.utc
    try:
        if m.group("epoch"):
            stamp = datetime.datetime.fromtimestamp(int(m.group("epoch")), tz=utc)
        else:
            stamp = datetime.datetime.strptime(m.group("date"), "%Y/%m/%d %H:%M:%S")
            stamp = stamp.replace(tzinfo=utc)
    except (ValueError, OverflowError, OSError):
        return raw
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if stamp.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return stamp.strftime(fmt)


def _networkd(text, name):
    # type: (str, str) -> list
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            values[key] = value.strip()
    interface = "ifindex " + name if name.isdigit() else _nm_interface(name)
    lease = {"interface": interface}
    if "OPTION_245" in values:
        lease["option_245"] = values["OPTION_245"]
    if "SERVER_ADDRESS" in values:
        lease["dhcp_server"] = values["SERVER_ADDRESS"]
    return lease_rows(lease, 1)


def _nm_interface(name):
    # type: (str) -> str
    # internal-<uuid>-eth0.lease / dhclient-<uuid>-eth0.lease
    m = re.match(r"^(?:internal|dhclient)-[0-9a-fA-F-]{36}-(.+?)\.lease$", name)
    return m.group(1) if m else UNKNOWN_INTERFACE


def lease_summary(vm_path, rows):
    # type: (str, list) -> dict
    """What the self-check keeps of one lease file: its kind, the number of leases and the
    WireServer address from option 245 of the current (last) lease, empty when absent."""
    if vm_path.startswith("/run/systemd/netif/leases/"):
        kind = "networkd"
    elif vm_path.endswith(".xml"):
        kind = "wicked"
    else:
        kind = "dhclient"
    starts = [line or 0 for key, _value, line in rows if key == "lease"]
    current = max(starts) if starts else None
    option = next((value for key, value, line in rows
                   if key == "option_245" and (line or 0) == current
                   and not value.startswith("invalid:")), "")
    return {"path": vm_path, "kind": kind, "leases": len(starts), "option_245": option}
