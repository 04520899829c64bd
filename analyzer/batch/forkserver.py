"""The local runner's forkserver, startable before anything heavy is imported.

The server is a fresh interpreter that imports the analyze path (``analyzer.batch.worker``),
loads the batch's rule pack and runs a sample bundle before it forks the first child: about
0.3 s during which the first bundle waits. ``batch`` starts it as soon as its arguments name
the rule pack, so that time passes while the command itself imports pyarrow and the runner,
expands its inputs and checks the rules (a batch of one bundle, in the benchmark:
0.59 -> 0.50-0.53 s). This module imports only the standard library and the limits, for
that reason.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from analyzer.settings import Limits

WARM_ENVIRONMENT = "WAAGENT_ANALYZER_BATCH_WARM"
"""JSON options whose rule pack the forkserver loads once, before it forks any child."""
_context_lock = threading.Lock()


def options_json(rule_dirs: list[Path], builtin_rules: bool, params: dict[str, Any],
                 lang: str, limits: Limits, timeline: bool, isolate: bool) -> dict[str, Any]:
    """The analyze options a worker runs with, as JSON (a Dask job, the forkserver's warm-up)."""
    return {
        "rule_dirs": [str(p) for p in rule_dirs],
        "builtin_rules": builtin_rules,
        "params": params,
        "lang": lang,
        "limits": asdict(limits),
        "timeline": timeline,
        "isolate": isolate,
    }


def context() -> Any:
    import multiprocessing

    return multiprocessing.get_context("forkserver")


def main_is_reloadable() -> bool:
    """Whether multiprocessing can re-create ``__main__`` in a child: a module run with ``-m``
    or a script file. Code read from stdin or ``-c`` cannot be, so those callers get the
    ``subprocess`` method instead of a crash in every child."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return True
    path = getattr(main, "__file__", None)
    return path is None or os.path.isfile(path)


def start(warm: dict[str, Any] | None = None) -> None:
    """Start the forkserver with the analyze path preloaded (no-op when it runs already);
    ``warm``: the options (:func:`options_json`) whose rule pack it loads before forking.

    ``__main__`` is preloaded too: a child whose ``__main__`` is already the caller's script
    skips re-running it (the ``waagent-analyzer`` console script would otherwise import the
    CLI again for every bundle). The preload list is read only when the server starts; a
    forkserver someone else started still works, its children just import more themselves.
    """
    from multiprocessing import forkserver

    with _context_lock:
        context().set_forkserver_preload(["__main__", "analyzer.batch.worker"])
        # The server inherits the environment it is started with: this is how it learns
        # which rule pack to load before forking (see worker.py).
        previous = os.environ.get(WARM_ENVIRONMENT)
        if warm is not None:
            os.environ[WARM_ENVIRONMENT] = json.dumps(warm)
        try:
            forkserver.ensure_running()
        finally:
            if previous is None:
                os.environ.pop(WARM_ENVIRONMENT, None)
            else:
                os.environ[WARM_ENVIRONMENT] = previous
