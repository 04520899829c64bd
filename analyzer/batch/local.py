"""The local runner: every bundle in its own process, ``workers`` of them at a time.

Isolation method (measured, see ``bench/results.md``):

* ``forkserver`` (default): a clean single-threaded server process imports the analyze path
  once (``analyzer.batch.worker``); each bundle is a fresh ``fork`` of it, so a bundle costs
  milliseconds of process start instead of an interpreter start plus ~0.2 s of imports.
* ``subprocess``: ``python -m analyzer.batch.worker`` per bundle, the same thing the Dask tasks
  run; kept for comparison and for platforms without forkserver.

One thread per slot drives one child at a time: it fingerprints the bundle, starts the child,
waits for its outcome with the wall-clock limit and kills it when the limit is hit. The
threads mostly sleep in ``poll``/``select``, so the parent stays off the CPU the workers need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.batch import forkserver
from analyzer.batch.inputs import fingerprint
from analyzer.batch.model import (
    DUPLICATE,
    FAILED,
    REJECTED,
    SKIPPED,
    BundleInput,
    IsolationLimits,
    Outcome,
    path_key,
    skip_outcome,
)
from analyzer.pipeline import AnalyzeOptions

METHODS = ("forkserver", "subprocess")
TICK_SECONDS = 1.0
_REAP_SECONDS = 5.0
"""How long a child that sent its outcome may take to exit before it is killed."""


@dataclass
class Plan:
    """Everything a slot thread needs; shared by all of them."""

    options: AnalyzeOptions
    isolation: IsolationLimits
    done: frozenset[str] = frozenset()
    method: str = "forkserver"
    claimed: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: set[Any] = field(default_factory=set)
    """Running children, so an interrupted batch can kill them at once."""
    cancelled: bool = False

    def process(self, bundle: BundleInput) -> Outcome:
        sha256, early = claim(bundle, self.done, self.claimed, self.lock)
        if early is not None or self.cancelled:
            return early or skip_outcome(bundle.path, sha256, SKIPPED)
        started = time.perf_counter()
        if self.method == "subprocess":
            outcome = run_subprocess(bundle.path, sha256, self.options, self.isolation)
        else:
            outcome = run_forked(bundle.path, sha256, self.options, self.isolation, self)
        # One meaning for every runner: wall time of the bundle, process start included.
        outcome["duration_s"] = time.perf_counter() - started
        return outcome

    def kill_all(self) -> None:
        self.cancelled = True
        with self.lock:
            children = list(self.active)
        for child in children:
            _kill(child)


def claim(bundle: BundleInput, done: frozenset[str], claimed: set[str] | None = None,
          lock: threading.Lock | None = None) -> tuple[str, Outcome | None]:
    """Fingerprint a bundle; say whether it is to be skipped (done before, or a duplicate)."""
    try:
        sha256 = fingerprint(bundle)
    except (OSError, ValueError) as error:
        if path_key(bundle.path) in done:
            return "", skip_outcome(bundle.path, "", SKIPPED)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        rejected = skip_outcome(bundle.path, "", REJECTED)
        return "", {**rejected, "error": f"cannot read input: {reason}"}
    if sha256 in done:
        return sha256, skip_outcome(bundle.path, sha256, SKIPPED)
    if claimed is not None and lock is not None:
        with lock:
            if sha256 in claimed:
                return sha256, skip_outcome(bundle.path, sha256, DUPLICATE)
            claimed.add(sha256)
    return sha256, None


def local_outcomes(bundles: Iterable[BundleInput], plan: Plan,
                   workers: int) -> Iterator[Outcome | None]:
    """Outcomes in completion order; ``None`` every ``TICK_SECONDS`` while nothing finishes
    (so the consumer can write what is waiting). At most ``workers`` children run at once."""
    workers = max(1, workers)
    if plan.method == "forkserver" and not forkserver.main_is_reloadable():
        plan.method = "subprocess"
    if plan.method == "forkserver":
        start_forkserver(plan.options)
    queue = iter(bundles)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="waagent-batch")
    pending: set[Future[Outcome]] = set()
    try:
        _fill(pool, pending, queue, plan, workers)
        while pending:
            finished, pending = wait(pending, timeout=TICK_SECONDS, return_when=FIRST_COMPLETED)
            if not finished:
                yield None
                continue
            # Refill before handing results out: the next children run while the consumer
            # writes Parquet.
            _fill(pool, pending, queue, plan, workers)
            for future in finished:
                yield future.result()
    finally:
        if pending:  # interrupted (Ctrl-C, or the consumer stopped): stop the children now
            plan.kill_all()
        pool.shutdown(wait=True, cancel_futures=True)


def _fill(pool: ThreadPoolExecutor, pending: set[Future[Outcome]], queue: Iterator[BundleInput],
          plan: Plan, workers: int) -> None:
    # Only a few jobs are queued ahead: fingerprints are taken when a slot frees up, so a
    # stopped batch has not hashed (or claimed) bundles it never started.
    while len(pending) < workers:
        bundle = next(queue, None)
        if bundle is None:
            return
        pending.add(pool.submit(plan.process, bundle))


# -- forkserver children ----------------------------------------------------------------------

def start_forkserver(options: AnalyzeOptions | None = None) -> None:
    """Start the forkserver with the analyze path preloaded and ``options``'s rule pack
    loaded (no-op when it runs already; see :mod:`analyzer.batch.forkserver`)."""
    from analyzer.batch.worker import options_to_json

    forkserver.start(options_to_json(options) if options is not None else None)


def run_forked(path: str, sha256: str, options: AnalyzeOptions, isolation: IsolationLimits,
               plan: Plan | None = None) -> Outcome:
    from analyzer.batch.worker import child_main, death_outcome, failure

    context = forkserver.context()
    handle, stderr_path = tempfile.mkstemp(prefix="waagent-batch-", suffix=".stderr")
    os.close(handle)
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=child_main, daemon=True, name="waagent-batch-bundle",
                            args=(sender, path, sha256, options, isolation, stderr_path))
    try:
        try:
            child.start()
        except (OSError, EOFError, ValueError) as error:  # the forkserver itself is gone
            return failure(path, sha256, FAILED, f"cannot start the worker: {error}")
        _track(plan, child, add=True)
        sender.close()
        outcome, timed_out = _receive(receiver, isolation.wall_seconds)
        if outcome is None or timed_out:
            if timed_out:
                _kill(child)
            child.join()
            return death_outcome(path, sha256, child.exitcode, isolation, timed_out,
                                 _tail(stderr_path))
        child.join(_REAP_SECONDS)
        if child.is_alive():  # sent its outcome but hangs on exit: the outcome stands
            _kill(child)
        return outcome
    finally:
        _track(plan, child, add=False)
        receiver.close()
        sender.close()
        _unlink(stderr_path)


def _receive(receiver: Any, wall_seconds: float) -> tuple[Outcome | None, bool]:
    """(outcome or None when the child died first, whether the wall-clock limit was hit)."""
    if not receiver.poll(wall_seconds if wall_seconds > 0 else None):
        return None, True
    try:
        outcome: Outcome = receiver.recv()
    except (EOFError, OSError, ValueError, MemoryError):
        return None, False  # died before (or while) sending
    except Exception:  # a truncated pickle from a child killed mid-send
        return None, False
    return outcome, False


def _track(plan: Plan | None, child: Any, add: bool) -> None:
    if plan is None:
        return
    with plan.lock:
        if add:
            plan.active.add(child)
        else:
            plan.active.discard(child)


def _kill(child: Any) -> None:
    try:
        child.kill()
    except (OSError, ValueError, AttributeError):
        pass  # already gone


def _tail(path: str, size: int = 2000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- interpreter-per-bundle children (also what a Dask task runs) -----------------------------


def run_subprocess(path: str, sha256: str, options: AnalyzeOptions | dict[str, Any],
                   isolation: IsolationLimits) -> Outcome:
    """Analyse one bundle in ``python -m analyzer.batch.worker``; kill it at the wall limit."""
    from dataclasses import asdict

    from analyzer.batch.worker import death_outcome, failure, options_to_json

    payload = options if isinstance(options, dict) else options_to_json(options)
    job = {"path": path, "sha256": sha256, "options": payload, "isolation": asdict(isolation)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "analyzer.batch.worker"],
            input=json.dumps(job).encode(), capture_output=True, env=child_environment(),
            timeout=isolation.wall_seconds if isolation.wall_seconds > 0 else None, check=False)
    except subprocess.TimeoutExpired:
        return death_outcome(path, sha256, None, isolation, timed_out=True)
    except OSError as error:
        return failure(path, sha256, FAILED, f"cannot start the worker: {error}")
    if done.returncode != 0:
        tail = done.stderr[-2000:].decode("utf-8", "replace")
        return death_outcome(path, sha256, done.returncode, isolation, False, tail)
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        outcome: Outcome = json.loads(lines[-1])
    except (IndexError, ValueError):
        return failure(path, sha256, FAILED, "worker printed no outcome")
    return outcome


def child_environment() -> dict[str, str]:
    """The caller's environment, with this copy of ``analyzer`` first on the import path (a
    Dask worker may have found it through its own ``sys.path`` rather than the environment)."""
    import analyzer

    root = str(Path(analyzer.__file__).resolve().parent.parent)
    environment = dict(os.environ)
    existing = environment.get("PYTHONPATH", "")
    environment["PYTHONPATH"] = root + (os.pathsep + existing if existing else "")
    return environment
