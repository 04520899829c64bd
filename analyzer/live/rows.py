"""Live facts as ``ConfigRow``s, so the rule engine queries a self-check like a bundle.

The ``conf.*`` and ``dhcp.*`` rows below describe the facts for people (self-check output);
rules read waagent.conf and the leases as ``waagent_conf`` / ``dhcp_lease`` rows, from the
files themselves or, when only ``self-check.json`` is there, from :func:`file_rows`.

Every row has ``source_kind="live"`` and ``member`` = the name the caller gives (normally
``self-check.json``). Values are plain strings: booleans are ``true``/``false`` (``unknown``
when the fact could not be determined), numbers are decimal strings, percentages have one
decimal. A numeric row is *omitted* when the number is unknown, so threshold rules never
compare against a placeholder. Keys are stable; rules refer to them.

==================================  ===========================================================
key                                 value
==================================  ===========================================================
``agent.running``                   ``true`` if a daemon or an ExtHandler process runs
``agent.daemon_running``            ``true``/``false`` (``waagent -daemon``)
``agent.daemon_pid``                PIDs, comma separated (empty when not running)
``agent.daemon_version``            version from the egg/agent directory, else empty
``agent.exthandler_running``        ``true``/``false`` (``-run-exthandlers``)
``agent.exthandler_pid``            PIDs, comma separated
``agent.exthandler_version``        goal-state agent version (egg name, e.g. ``2.9.1.1``)
``agent.installed_version``         ``AGENT_VERSION`` of the distro package, else empty
``agent.service_unit``              ``walinuxagent.service`` / ``waagent.service`` / empty
``agent.service_found``             ``true`` when systemd knows the unit or a unit file exists
``agent.service_active``            ``true``/``false``/``unknown`` (systemd ``ActiveState``)
``agent.service_state``             ``ActiveState/SubState`` (e.g. ``active/running``), or empty
``agent.service_enabled``           ``UnitFileState`` (``enabled``, ``disabled``, ``masked``…)
``agent.service_restart``           ``always``/``on-failure``/``no``/… or ``respawn`` (upstart)
                                    or ``unknown``
``agent.auto_restart``              ``true`` when that policy restarts a crashed agent
``python.version``                  ``3.10`` (agent interpreter) or ``3.11.7`` (this tool)
``python.source``                   ``agent`` or ``self``: whose interpreter ``python.version`` is
``disk.root_free_bytes``            free bytes for unprivileged users on ``/``
``disk.root_free_percent``          …as a percentage of the filesystem size
``disk.var_free_bytes``             same for ``/var`` (equal to ``/`` when not separate)
``disk.var_free_percent``
``memory.total_bytes``              ``MemTotal``
``memory.available_bytes``          ``MemAvailable`` (or free + cache on old kernels)
``memory.available_percent``
``cpu.busy_percent``                non-idle CPU share over the sampling interval
``cpu.count``                       logical CPUs
``cpu.load1``                       1-minute load average
``conf.found``                      ``true`` when ``/etc/waagent.conf`` was read
``conf.<Key>``                      effective value of ``Logs.Verbose``, ``Extensions.Enabled``,
                                    ``AutoUpdate.Enabled``, ``AutoUpdate.UpdateToLatestVersion``,
                                    ``HttpProxy.Host``, ``HttpProxy.Port``, ``OS.EnableFirewall``,
                                    ``Logs.Collect``, ``Protocol.EndpointDiscovery`` (as written;
                                    ``line`` is None when the agent default applies; keys with
                                    no known default appear only when set)
``dhcp.lease_files``                number of lease files found
``dhcp.option_245``                 WireServer IP from option 245 of a current lease, or empty
``dhcp.option_245_present``         ``true``/``false`` (``false`` also when no lease file)
``network.probed``                  ``true`` when the opt-in probes ran
``network.proxy``                   ``host:port`` used for storage probes, or empty
``network.<target>.ok``             ``true``/``false`` (targets: ``wireserver_80``,
                                    ``wireserver_32526``, ``imds_80``, ``storage_443``,
                                    ``storage_8443`` or caller-defined names)
``network.<target>.status``         ``ok``/``refused``/``timeout``/``error``
``network.<target>.error``          error text (empty when ok)
``network.<target>.elapsed_ms``     time to the verdict
``network.<target>.endpoint``       ``host:port`` probed
``network.<target>.via_proxy``      proxy ``host:port`` or empty
``network.custom.<target>.status``  the status again for a ``--target`` of the user's own
``live.unreadable_count``           files/commands that exist but could not be read
==================================  ===========================================================
"""

from __future__ import annotations

from analyzer.live.probes import NAMED_TARGETS
from analyzer.live.vm_state import CONF_KEYS, LiveFacts
from analyzer.parse.rows import ConfigRow

SOURCE_KIND = "live"


def _flag(value: bool | None) -> str:
    if value is None:
        return "unknown"
    return "true" if value else "false"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}" if whole else "0.0"


class _Rows:
    def __init__(self, member: str) -> None:
        self.member = member
        self.rows: list[ConfigRow] = []

    def add(self, key: str, value: object, line: int | None = None) -> None:
        self.rows.append(ConfigRow(SOURCE_KIND, key, str(value), self.member, line))


def live_rows(facts: LiveFacts, member: str) -> list[ConfigRow]:
    out = _Rows(member)
    _agent_rows(out, facts)
    _service_rows(out, facts)
    out.add("python.version", facts.python_version)
    out.add("python.source", facts.python_source)
    _resource_rows(out, facts)
    _conf_rows(out, facts)
    _dhcp_rows(out, facts)
    _network_rows(out, facts)
    out.add("live.unreadable_count", len(facts.unreadable))
    return out.rows


def _agent_rows(out: _Rows, facts: LiveFacts) -> None:
    daemons, handlers = facts.pids("daemon"), facts.pids("exthandler")
    out.add("agent.running", _flag(bool(daemons or handlers)))
    out.add("agent.daemon_running", _flag(bool(daemons)))
    out.add("agent.daemon_pid", ",".join(map(str, daemons)))
    out.add("agent.daemon_version", facts.version_of("daemon"))
    out.add("agent.exthandler_running", _flag(bool(handlers)))
    out.add("agent.exthandler_pid", ",".join(map(str, handlers)))
    out.add("agent.exthandler_version", facts.version_of("exthandler"))
    out.add("agent.installed_version", facts.installed_version)


def _service_rows(out: _Rows, facts: LiveFacts) -> None:
    svc = facts.service()
    out.add("agent.service_unit", svc.unit if svc else "")
    out.add("agent.service_found", _flag(svc is not None))
    active: bool | None = None
    state = ""
    if svc is not None and svc.active_state:
        active = svc.active_state == "active"
        state = f"{svc.active_state}/{svc.sub_state}" if svc.sub_state else svc.active_state
    out.add("agent.service_active", _flag(active))
    out.add("agent.service_state", state)
    out.add("agent.service_enabled", (svc.unit_file_state if svc else "") or "unknown")
    out.add("agent.service_restart", facts.restart_policy())
    out.add("agent.auto_restart", _flag(facts.auto_restart()))


def _resource_rows(out: _Rows, facts: LiveFacts) -> None:
    for mount, label in (("/", "root"), ("/var", "var")):
        disk = facts.disk(mount)
        if disk is not None:
            out.add(f"disk.{label}_free_bytes", disk.free_bytes)
            out.add(f"disk.{label}_free_percent", f"{disk.free_percent:.1f}")
    if facts.mem_total_bytes is not None:
        out.add("memory.total_bytes", facts.mem_total_bytes)
    if facts.mem_available_bytes is not None:
        out.add("memory.available_bytes", facts.mem_available_bytes)
        if facts.mem_total_bytes:
            out.add(
                "memory.available_percent",
                _percent(facts.mem_available_bytes, facts.mem_total_bytes),
            )
    if facts.cpu_busy_percent is not None:
        out.add("cpu.busy_percent", f"{facts.cpu_busy_percent:.1f}")
    if facts.cpu_count is not None:
        out.add("cpu.count", facts.cpu_count)
    if facts.load1 is not None:
        out.add("cpu.load1", f"{facts.load1:.2f}")


def _conf_rows(out: _Rows, facts: LiveFacts) -> None:
    out.add("conf.found", _flag(facts.conf_found))
    for key in CONF_KEYS:
        value, line = facts.conf_value(key)
        if value is not None:
            out.add(f"conf.{key}", value, line)


def _dhcp_rows(out: _Rows, facts: LiveFacts) -> None:
    option = facts.option_245()
    out.add("dhcp.lease_files", len(facts.leases))
    out.add("dhcp.option_245", option)
    out.add("dhcp.option_245_present", _flag(bool(option)))


def _network_rows(out: _Rows, facts: LiveFacts) -> None:
    out.add("network.probed", _flag(facts.network_probed))
    out.add("network.proxy", facts.proxy)
    for result in facts.network:
        prefix = f"network.{result.name}"
        out.add(f"{prefix}.ok", _flag(result.ok))
        out.add(f"{prefix}.status", result.status)
        out.add(f"{prefix}.error", result.error)
        out.add(f"{prefix}.elapsed_ms", f"{result.elapsed_ms:.0f}")
        out.add(f"{prefix}.endpoint", f"{result.host}:{result.port}")
        out.add(f"{prefix}.via_proxy", result.via_proxy)
        if result.name not in NAMED_TARGETS:  # the user's own target: WAA-NET-006 reads it
            out.add(f"network.custom.{result.name}.status", result.status)


# -- the files the facts were read from, as a bundle holding them would give them ---------------

FILE_KINDS = ("waagent_conf", "dhcp_lease")
"""Source kinds of the config rows :func:`file_rows` makes: the same kinds, keys and values
the bundle parsers give for /etc/waagent.conf and the DHCP lease files, so a rule reads one
check for a bundle and a live VM (no ``source_kind = "live"`` twin for file-derived facts)."""


def file_rows(facts: LiveFacts, member: str, kinds: tuple[str, ...] = FILE_KINDS
              ) -> list[ConfigRow]:
    """waagent.conf settings as written (the last assignment of each key, with its line) and,
    per lease file, a ``lease`` row and the current lease's ``option_245`` row: what
    ``parse.conf`` and ``parse.dhcp`` give for the same files (older leases aside)."""
    rows: list[ConfigRow] = []
    if "waagent_conf" in kinds and facts.conf_found:
        rows += [ConfigRow("waagent_conf", key, value, member, facts.conf_lines.get(key))
                 for key, value in facts.conf.items()]
    if "dhcp_lease" in kinds:
        for lease in facts.leases:
            if lease.leases <= 0:
                continue
            rows.append(ConfigRow("dhcp_lease", "lease", lease.kind, member))
            if lease.option_245:
                rows.append(ConfigRow("dhcp_lease", "option_245", lease.option_245, member))
    return rows
