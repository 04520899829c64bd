"""Live self-check of a VM (facts, network probes) and a safe bundle collector.

Everything here only reads: nothing changes files, services or network settings on the VM.
``facts`` gathers process/service/resource/config facts, ``rows`` turns them into
``ConfigRow``s for the rule engine, ``probes`` runs opt-in TCP probes, ``collect`` builds a
redacted ``bundle.tar.gz`` and ``commands`` holds the functions the CLI wraps.
"""

from __future__ import annotations
