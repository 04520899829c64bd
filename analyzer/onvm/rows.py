"""Live facts as config rows, key for key like ``analyzer/live/rows.py`` (Python 3.6+).

A row is a dict ``{source_kind, key, value, member, line}``; values are strings (``true`` /
``false`` / ``unknown`` for flags). A numeric row is omitted when the number is unknown, so a
threshold never compares against a placeholder. A test compares these rows with the full
tool's for the same facts: the rules see the same table on the VM and in ``analyze``.
"""

from typing import Any  # noqa: F401  (type comments)

from analyzer.onvm import facts as F
from analyzer.onvm.probes import NAMED_TARGETS

SOURCE_KIND = "live"
MEMBER = "self-check.json"


def _flag(value):
    # type: (Any) -> str
    if value is None:
        return "unknown"
    return "true" if value else "false"


def live_rows(facts, member=MEMBER):
    # type: (dict, str) -> list
    rows = []  # type: list

    def add(key, value, line=None):
        # type: (str, Any, Any) -> None
        rows.append({"source_kind": SOURCE_KIND, "key": key, "value": str(value),
                     "member": member, "line": line})

    procs = facts["processes"]
    daemons = [p["pid"] for p in procs if p["role"] == "daemon"]
    handlers = [p["pid"] for p in procs if p["role"] == "exthandler"]
    add("agent.running", _flag(bool(daemons or handlers)))
    add("agent.daemon_running", _flag(bool(daemons)))
    add("agent.daemon_pid", ",".join(str(p) for p in daemons))
    add("agent.daemon_version", _version_of(procs, "daemon"))
    add("agent.exthandler_running", _flag(bool(handlers)))
    add("agent.exthandler_pid", ",".join(str(p) for p in handlers))
    add("agent.exthandler_version", _version_of(procs, "exthandler"))
    add("agent.installed_version", facts["installed_version"])

    svc = F.service(facts)
    add("agent.service_unit", svc["unit"] if svc else "")
    add("agent.service_found", _flag(svc is not None))
    active = None
    state = ""
    if svc is not None and svc["active_state"]:
        active = svc["active_state"] == "active"
        state = svc["active_state"]
        if svc["sub_state"]:
            state = "%s/%s" % (svc["active_state"], svc["sub_state"])
    add("agent.service_active", _flag(active))
    add("agent.service_state", state)
    add("agent.service_enabled", (svc["unit_file_state"] if svc else "") or "unknown")
    add("agent.service_restart", F.restart_policy(facts))
    add("agent.auto_restart", _flag(F.auto_restart(facts)))
    add("python.version", facts["python_version"])
    add("python.source", facts["python_source"])

    for mount, label in (("/", "root"), ("/var", "var")):
        disk = next((d for d in facts["disks"] if d["mount"] == mount), None)
        if disk is not None:
            add("disk.%s_free_bytes" % label, disk["free_bytes"])
            add("disk.%s_free_percent" % label, "%.1f" % _free_percent(disk))
    total, available = facts["mem_total_bytes"], facts["mem_available_bytes"]
    if total is not None:
        add("memory.total_bytes", total)
    if available is not None:
        add("memory.available_bytes", available)
        if total:
            add("memory.available_percent", "%.1f" % (100.0 * available / total))
    if facts["cpu_busy_percent"] is not None:
        add("cpu.busy_percent", "%.1f" % facts["cpu_busy_percent"])
    if facts["cpu_count"] is not None:
        add("cpu.count", facts["cpu_count"])
    if facts["load1"] is not None:
        add("cpu.load1", "%.2f" % facts["load1"])

    add("conf.found", _flag(facts["conf_found"]))
    for key in F.CONF_KEYS:
        value, line = F.conf_value(facts, key)
        if value is not None:
            add("conf." + key, value, line)

    option = F.option_245(facts)
    add("dhcp.lease_files", len(facts["leases"]))
    add("dhcp.option_245", option)
    add("dhcp.option_245_present", _flag(bool(option)))

    add("network.probed", _flag(facts["network_probed"]))
    add("network.proxy", facts["proxy"])
    for result in facts["network"]:
        prefix = "network." + result["name"]
        add(prefix + ".ok", _flag(result["status"] == "ok"))
        add(prefix + ".status", result["status"])
        add(prefix + ".error", result["error"])
        add(prefix + ".elapsed_ms", "%.0f" % result["elapsed_ms"])
        add(prefix + ".endpoint", "%s:%s" % (result["host"], result["port"]))
        add(prefix + ".via_proxy", result["via_proxy"])
        if result["name"] not in NAMED_TARGETS:  # the user's own --target: WAA-NET-006 reads it
            add("network.custom." + result["name"] + ".status", result["status"])
    add("live.unreadable_count", len(facts["unreadable"]))
    return rows




def _version_of(procs, role):
    # type: (list, str) -> str
    versions = [p["version"] for p in procs if p["role"] == role and p["version"]]
    return versions[0] if versions else ""


def _free_percent(disk):
    # type: (dict) -> float
    total = disk["total_bytes"]
    return round(100.0 * disk["free_bytes"] / total, 1) if total else 0.0


def file_rows(facts, member=MEMBER):
    # type: (dict, str) -> list
    """waagent.conf and the lease files as the bundle parsers give them (``source_kind``
    ``waagent_conf`` / ``dhcp_lease``), like ``analyzer/live/rows.py``'s ``file_rows``: the
    rules read one check for a bundle and a VM."""
    rows = []  # type: list
    if facts["conf_found"]:
        for key, value in facts["conf"].items():
            rows.append({"source_kind": "waagent_conf", "key": key, "value": value,
                         "member": member, "line": facts["conf_lines"].get(key)})
    for lease in facts["leases"]:
        if lease["leases"] <= 0:
            continue
        rows.append({"source_kind": "dhcp_lease", "key": "lease", "value": lease["kind"],
                     "member": member, "line": None})
        if lease["option_245"]:
            rows.append({"source_kind": "dhcp_lease", "key": "option_245",
                         "value": lease["option_245"], "member": member, "line": None})
    return rows
