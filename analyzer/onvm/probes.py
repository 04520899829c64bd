"""Opt-in TCP probes (Python 3.6+, stdlib): a connect with a short timeout, nothing sent.

Storage targets go through the HTTP proxy the agent would use (``CONNECT host:port``);
WireServer, HostGAPlugin and IMDS never do, because the agent never proxies them. Results are
dicts in the ``network`` shape of ``self-check.json`` (``analyzer.live.probes.ProbeResult``).
"""

import re
import socket
import threading
import time
from typing import Any  # noqa: F401  (type comments)

WIRESERVER_IP = "168.63.129.16"
IMDS_IP = "169.254.169.254"
NAMED_TARGETS = ("wireserver_80", "wireserver_32526", "imds_80", "storage_443", "storage_8443")
"""Names of the targets :func:`default_targets` probes; any other name is the user's own
(``--target NAME=HOST:PORT``) and also gets a ``network.custom.<name>.status`` row."""
_MAX_PROXY_REPLY = 8 * 1024

_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})+$")
_STATUS_BLOB_RE = re.compile(r"<StatusUploadBlob\b[^>]*>\s*https?://([^/\s<?:#]+)", re.I)
_LOCATION_RE = re.compile(r"""\blocation\s*=\s*["']https?://([^/\s"'?:#]+)""", re.I)
_LOCATION_ELEMENT_RE = re.compile(r"<(?:Location|FailoverLocation)>\s*https?://([^/\s<?:#]+)")
_STATUS_JSON_RE = re.compile(
    r'"statusUploadBlob"\s*:\s*\{[^{}]*?"value"\s*:\s*"https?://([^/"?:#]+)')
_DOC_CAP = 4 * 1024 * 1024


def target(name, host, port, use_proxy=False):
    # type: (str, str, int, bool) -> dict
    return {"name": name, "host": host, "port": int(port), "use_proxy": bool(use_proxy)}


def default_targets(storage_host=None, managed_disks=False):
    # type: (Any, bool) -> list
    """The endpoints of cause 1 of the guide; storage only when the goal state names a host."""
    targets = [target("wireserver_80", WIRESERVER_IP, 80),
               target("wireserver_32526", WIRESERVER_IP, 32526),
               target("imds_80", IMDS_IP, 80)]
    if storage_host:
        targets.append(target("storage_443", str(storage_host), 443, True))
        if managed_disks:
            targets.append(target("storage_8443", str(storage_host), 8443, True))
    return targets


def discover_storage_host(reader):
    # type: (Any) -> Any
    """Blob host of the current goal state (status blob, else an extension location); only the
    host name is kept, never the SAS token of those URLs."""
    lib = "var/lib/waagent"
    docs = sorted(reader.glob(lib + "/ExtensionsConfig.*.xml"), key=_incarnation, reverse=True)
    folders = sorted((n for n, kind in reader.listdir(lib + "/history") if kind == "dir"),
                     reverse=True)
    for folder in folders[:3]:
        docs += [lib + "/history/" + folder + "/ExtensionsConfig.xml",
                 lib + "/history/" + folder + "/VmSettings.json"]
    docs += sorted(reader.glob(lib + "/VmSettings.*.json"), key=_incarnation, reverse=True)
    for path in docs:
        text = reader.text(path, _DOC_CAP, quiet=True)
        if not text:
            continue
        for pattern in (_STATUS_BLOB_RE, _STATUS_JSON_RE, _LOCATION_RE, _LOCATION_ELEMENT_RE):
            match = pattern.search(text)
            if match and _HOST_RE.match(match.group(1)):
                return match.group(1).lower()
    return None


def _incarnation(path):
    # type: (str) -> int
    name = path.rsplit("/", 1)[-1]
    number = name.split(".")[1] if name.count(".") >= 2 else ""
    return int(number) if number.isdigit() else -1


def plan(root, conf, environ, targets=None, proxy=None, storage_host=None, managed_disks=None):
    # type: (str, Any, Any, Any, Any, Any, Any) -> tuple
    """``(targets, proxy, shown)`` of a ``--network`` run: the given targets, else the defaults
    for the storage host of the current goal state under ``root`` (``storage_host`` wins;
    port 8443 when the host looks like managed disks, unless ``managed_disks`` says); the given
    proxy, else the one the agent would use (:func:`proxy_from_settings`); ``shown`` is the
    proxy's ``host:port`` when a target goes through it, else empty."""
    if targets is None:
        from analyzer.onvm.facts import Reader

        host = storage_host or discover_storage_host(Reader(root))
        disks = looks_managed(host) if managed_disks is None else managed_disks
        targets = default_targets(host, managed_disks=disks)
    if proxy is None:
        proxy = proxy_from_settings(conf, environ)
    used = proxy is not None and any(t["use_proxy"] for t in targets)
    return targets, proxy, "%s:%s" % proxy if used else ""


def looks_managed(host):
    # type: (Any) -> bool
    return bool(host) and str(host).lower().startswith("md-")


def proxy_from_settings(conf, environ):
    # type: (Any, Any) -> Any
    """(host, port) the agent would use for storage: waagent.conf first, then the environment."""
    host = (conf.get("HttpProxy.Host") or "").strip()
    port = (conf.get("HttpProxy.Port") or "").strip()
    if host and host.lower() != "none" and port.isdigit():
        return host, int(port)
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        value = (environ.get(name) or "").strip()
        if value:
            return parse_host_port(value.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1],
                                   80)
    return None


def parse_host_port(value, default_port=None):
    # type: (str, Any) -> Any
    """``host:port`` / ``[v6]:port`` to (host, port); None when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or "]" in port:
        host, port = value, ""
    host = host.strip("[]")
    if not port:
        if default_port is None:
            return None
        return (host, int(default_port)) if host else None
    if not port.isdigit() or not host or int(port) > 65535:
        return None
    return host, int(port)


def probe_targets(targets, proxy, timeout):
    # type: (list, Any, float) -> list
    """Probe every target at once (total time ~ one timeout); results in input order."""
    results = [None] * len(targets)  # type: list

    def run(index, tgt):
        # type: (int, dict) -> None
        results[index] = probe_one(tgt, proxy, timeout)

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join(timeout + 5)
    return [r if r is not None else _result(t, "timeout", timeout * 1000, "timed out", "")
            for r, t in zip(results, targets)]


class _ProxyRefused(OSError):
    """The proxy answered CONNECT with something other than 2xx."""


def probe_one(tgt, proxy, timeout):
    # type: (dict, Any, float) -> dict
    start = time.monotonic()
    use_proxy = proxy if (proxy is not None and tgt["use_proxy"]) else None
    shown = "%s:%s" % use_proxy if use_proxy else ""
    try:
        if use_proxy is None:
            socket.create_connection((tgt["host"], tgt["port"]), timeout=timeout).close()
        else:
            _connect_via_proxy(tgt, use_proxy, start + timeout)
        status, error = "ok", ""
    except _ProxyRefused as exc:
        status, error = "error", str(exc)
    except ConnectionRefusedError as exc:
        status, error = "refused", _describe(exc, shown)
    except socket.timeout as exc:
        status, error = "timeout", _describe(exc, shown) or "timed out"
    except OSError as exc:
        timed_out = type(exc).__name__ == "TimeoutError"
        status, error = ("timeout" if timed_out else "error"), _describe(exc, shown)
    elapsed = round((time.monotonic() - start) * 1000.0, 1)
    return _result(tgt, status, elapsed, error, shown)


def _result(tgt, status, elapsed, error, via):
    # type: (dict, str, float, str, str) -> dict
    return {"name": tgt["name"], "host": tgt["host"], "port": tgt["port"], "status": status,
            "elapsed_ms": elapsed, "error": error, "via_proxy": via}


def _describe(exc, proxy):
    # type: (BaseException, str) -> str
    name = type(exc).__name__
    if name == "timeout":
        name = "TimeoutError"  # socket.timeout before 3.10
    text = "%s: %s" % (name, exc) if str(exc) else name
    return "via proxy %s: %s" % (proxy, text) if proxy else text


def _connect_via_proxy(tgt, proxy, deadline):
    # type: (dict, tuple, float) -> None
    sock = socket.create_connection(proxy, timeout=_remaining(deadline))
    try:
        host, port = tgt["host"], tgt["port"]
        authority = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        request = "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)
        sock.settimeout(_remaining(deadline))
        sock.sendall(request.encode("ascii", "strict"))
        buffer = b""
        while b"\r\n" not in buffer:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(1024)
            if not chunk:
                raise ConnectionResetError("proxy closed the connection before answering CONNECT")
            buffer += chunk
            if len(buffer) > _MAX_PROXY_REPLY:
                raise _ProxyRefused("proxy reply line too long")
    finally:
        sock.close()
    status_line = buffer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(None, 2)
    shown = "%s:%s" % proxy
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise _ProxyRefused("proxy %s sent an invalid reply: %r" % (shown, status_line[:80]))
    if not parts[1].startswith("2"):
        raise _ProxyRefused("proxy %s answered CONNECT with %s" % (shown,
                                                                  " ".join(parts[1:])[:80]))


def _remaining(deadline):
    # type: (float) -> float
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    return left
