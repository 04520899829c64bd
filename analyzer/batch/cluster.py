"""The Dask runner: the same per-bundle work as tasks on a ``distributed`` cluster.

Workers open bundle paths themselves (they must see them: a shared file system, or the same
machine). Each task fingerprints its bundle, skips it when it is already in the results, and
otherwise runs it in ``python -m analyzer.batch.worker`` with the same limits as the local
runner: the subprocess lowers its own rlimits and the task kills it at the wall-clock limit,
so one bad bundle costs one subprocess, never a Dask worker. Outcomes come back to the client,
which writes them with the same atomic writes as a local batch.

``distributed`` is an optional dependency (``pip install 'waagent-analyzer[dask]'``), imported
only here and only when ``--scheduler`` is used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from analyzer.batch.model import FAILED, BundleInput, IsolationLimits, Outcome
from analyzer.errors import UsageError
from analyzer.pipeline import AnalyzeOptions

CONNECT_TIMEOUT = "20s"
MISSING = ("--scheduler needs the optional Dask dependency: "
           "pip install 'waagent-analyzer[dask]'")


def process_remote(path: str, is_dir: bool, done: frozenset[str], options: dict[str, Any],
                   isolation: dict[str, Any]) -> Outcome:
    """A Dask task: one bundle, isolated in a subprocess. Module-level so it pickles by name."""
    from analyzer.batch.local import claim, run_subprocess

    started = time.perf_counter()
    sha256, early = claim(BundleInput(path, is_dir), done)
    if early is not None:
        return early
    outcome = run_subprocess(path, sha256, options, IsolationLimits(**isolation))
    outcome["duration_s"] = time.perf_counter() - started
    return outcome


def dask_outcomes(address: str, bundles: list[BundleInput], done: frozenset[str],
                  options: AnalyzeOptions, isolation: IsolationLimits) -> Iterator[Outcome]:
    """Outcomes in completion order, from tasks submitted to the scheduler at ``address``."""
    from analyzer.batch.worker import options_to_json

    distributed = _import_distributed()
    client = _connect(distributed, address)
    try:
        # In a list: scatter() would otherwise spread a set's items as separate pieces of data.
        [done_on_cluster] = client.scatter([done], broadcast=True, hash=False)
        futures = client.map(
            process_remote, [b.path for b in bundles], [b.is_dir for b in bundles],
            done=done_on_cluster, options=options_to_json(options),
            isolation=asdict(isolation), pure=False, retries=0)
        owner = {future.key: bundle for future, bundle in zip(futures, bundles, strict=True)}
        for future in distributed.as_completed(futures, loop=client.loop):
            yield _result(future, owner[future.key])
            future.release()
    finally:
        client.close()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING) from None
    return distributed


def _connect(distributed: Any, address: str) -> Any:
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise UsageError(f"--scheduler {address}: cannot connect ({error})") from None
    except ValueError as error:  # a malformed address
        raise UsageError(f"--scheduler {address}: {error}") from None


def _result(future: Any, bundle: BundleInput) -> Outcome:
    """The task's outcome; a task that itself failed (its worker died) becomes a failed row."""
    from analyzer.batch.worker import failure

    if future.status == "finished":
        outcome: Outcome = future.result()
        return outcome
    try:
        error = future.exception()
    except Exception as problem:  # cancelled, or the scheduler went away
        error = problem
    return failure(bundle.path, "", FAILED, f"dask task failed: {type(error).__name__}: {error}")
