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

from analyzer.live.vm_state import LiveFacts
from analyzer.onvm import rows as onvm_rows
from analyzer.parse.rows import ConfigRow

SOURCE_KIND = onvm_rows.SOURCE_KIND


def _typed(rows: list[dict[str, object]]) -> list[ConfigRow]:
    return [ConfigRow(**row) for row in rows]  # type: ignore[arg-type]


def live_rows(facts: LiveFacts, member: str) -> list[ConfigRow]:
    """The rows above, made by ``onvm/rows.py`` (the zipapp's own rows, the one
    implementation) from the same facts."""
    return _typed(onvm_rows.live_rows(facts.as_plain(), member))


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
    rows = onvm_rows.file_rows(facts.as_plain(), member)
    return _typed([row for row in rows if row["source_kind"] in kinds])
