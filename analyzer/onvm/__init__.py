"""The on-VM self-check: one zipapp, run by the VM's own ``python3`` (3.6+), stdlib only.

Everything in this package must stay importable by Python 3.6 with nothing but the standard
library: no dataclasses, no walrus, no ``from __future__ import annotations``, no ``f"{x=}"``,
no positional-only parameters, no ``capture_output=``/``text=`` in subprocess. Type hints are
comments.

These modules are also the full tool's one implementation of the running VM's facts:
``analyzer/live`` imports them and adds only typed dataclasses and pipeline integration, and
``analyzer/parse/conf.py``, ``parse/dhcp.py`` and ``bundle/specs.py`` read through them
(``tests/onvm/test_one_source.py`` fails when a fact is written twice again).

Modules:

* ``specs``   where the VM's files live and which are secrets (the one list and predicate);
* ``formats`` the one reading of waagent.conf and of DHCP lease text;
* ``facts``   live facts under a root (processes, service, versions, resources, waagent.conf,
              DHCP option 245), written as ``self-check.json`` in the schema the full tool's
              ``analyzer.live.vm_state.LiveFacts`` reads;
* ``rows``    those facts as config rows (``source_kind = "live"``), for the zipapp and for
              ``analyzer/live/rows.py``;
* ``checks``  the evaluator of ``spec.json``: the live table checks, conditions, thresholds,
              messages and remediation compiled from the rule pack at build time;
* ``probes``  opt-in TCP probes (WireServer 80/32526, IMDS, storage through the proxy);
* ``redact``  secret removal driven by the patterns of ``analyzer/redact.py`` (generated);
* ``collect`` the redacted bundle, run by the zipapp and by ``waagent-analyzer collect``;
* ``main``    the command line;
* ``build``   (full tool only, never shipped) generates ``spec.json`` and writes the zipapp.
"""

SPEC_NAME = "spec.json"
ZIPAPP_NAME = "waagent-selfcheck.pyz"
