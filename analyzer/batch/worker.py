"""Analyse one bundle inside its own, resource-limited process and describe the result.

Two ways in, one code path:

* :func:`child_main` is the target of a process forked by the local runner's forkserver
  (which imported this module, and with it the whole analyze path, once);
* ``python -m analyzer.batch.worker`` reads one JSON job on stdin and prints the outcome as
  one JSON line (used inside Dask tasks, where a fresh interpreter per bundle is the price of
  isolation on a machine we do not control).

Either way the process first lowers its own limits (address space, CPU seconds), so a hostile
bundle can exhaust only itself. The parent adds the wall-clock limit and interprets deaths.
This module never imports pandas or pyarrow: it is what every bundle pays for.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import analyzer.pipeline
from analyzer.batch.forkserver import WARM_ENVIRONMENT, options_json
from analyzer.batch.model import FAILED, OK, REJECTED, TIMEOUT, IsolationLimits, Outcome
from analyzer.bundle.walker import walk  # noqa: F401  (preloaded into the forkserver)
from analyzer.engine.bulk import set_plan_workers
from analyzer.errors import AnalyzerError, InputRejected
from analyzer.heap import collect_garbage_rarely
from analyzer.parse.timeutil import UNIX_EPOCH
from analyzer.pipeline import Analysis, AnalyzeOptions, analyze_path
from analyzer.report.model import SEVERITIES
from analyzer.sandbox import reap_finished_children
from analyzer.settings import Limits

VMSNAPSHOT = "microsoft.azure.recoveryservices.vmsnapshotlinux"
EXIT_NO_MEMORY = 70
"""Exit status of a worker that ran out of memory even for reporting its failure."""
MAX_ERROR_CHARS = 2000
WATCHDOG_GRACE_SECONDS = 3


# -- the rule pack, loaded once per forkserver ------------------------------------------------
#
# The engine's rule-pack cache keeps every pack a process loaded in memory; the forkserver
# loads the batch's pack before it forks, so every child inherits it instead of unpickling it.


def _warm_from_environment() -> None:
    """In the forkserver: load the pack of the batch that started it, run one tiny bundle
    through the whole analyze path, then freeze the heap.

    The sample run fills every lazy import and cache of the path (``_strptime``, tarfile,
    gzip, compiled patterns) once, instead of once per child. ``gc.freeze`` keeps each
    child's collector away from the inherited objects, so they stay shared pages instead of
    being copied on the child's first collection.
    """
    text = os.environ.get(WARM_ENVIRONMENT)
    if not text:
        return
    collect_garbage_rarely()
    try:
        options = options_from_json(json.loads(text))
        analyzer.pipeline.load_pack(options)  # kept in memory by the rule-pack cache
        _sample_run(options)
    except Exception:  # a child that needs the pack reports the problem itself
        pass
    import gc

    gc.freeze()


_SAMPLE_LOG = (b"2024-01-31T10:00:00.000000Z INFO Daemon Daemon Azure Linux Agent Version: "
               b"2.9.1.1\n2024-01-31T10:00:01.000000Z INFO ExtHandler ExtHandler "
               b"ProcessExtensionsGoalState completed [incarnation_1 12 ms]\n")


def _sample_run(options: AnalyzeOptions) -> None:
    import gzip
    import io
    import tarfile
    import tempfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("var/log/waagent.log", _SAMPLE_LOG),
                           ("var/log/waagent.log.1.gz", gzip.compress(_SAMPLE_LOG, mtime=0))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with tempfile.TemporaryDirectory(prefix="waagent-batch-warm-") as folder:
        sample = Path(folder) / "sample.tgz"
        sample.write_bytes(buffer.getvalue())
        analyze_path(sample, options)
    reap_finished_children()  # the children forked from here start with none to reap


# -- limits ---------------------------------------------------------------------------------


def apply_limits(isolation: IsolationLimits) -> None:
    """Lower this process's own limits; the kernel enforces them from here on."""
    import resource

    if isolation.memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (isolation.memory_bytes, isolation.memory_bytes))
    if isolation.cpu_seconds > 0:
        # Soft limit -> SIGXCPU (reported as a timeout); the hard limit a little later is the
        # kernel's SIGKILL in case the signal is ignored.
        resource.setrlimit(resource.RLIMIT_CPU, (isolation.cpu_seconds, isolation.cpu_seconds + 5))


def arm_watchdog(isolation: IsolationLimits) -> None:
    """A wall-clock limit the process enforces on itself (SIGALRM), a little after the parent's:
    it still holds when the parent was killed and can no longer kill us."""
    if isolation.wall_seconds > 0:
        signal.alarm(int(isolation.wall_seconds) + WATCHDOG_GRACE_SECONDS)


# -- analysing ------------------------------------------------------------------------------


def analyze_bundle(path: str, sha256: str, options: AnalyzeOptions,
                   isolation: IsolationLimits) -> Outcome:
    """Analyse one bundle; every failure becomes an outcome instead of an exception."""
    started = time.perf_counter()
    # One core per bundle: the batch's workers already share the cores out.
    set_plan_workers(0)
    try:
        analysis = analyze_path(Path(path), options)
        outcome = outcome_from_analysis(path, sha256, analysis)
    except InputRejected as error:
        outcome = failure(path, sha256, REJECTED, str(error))
    except MemoryError:
        outcome = failure(path, sha256, FAILED, out_of_memory(isolation))
    except RecursionError:
        outcome = failure(path, sha256, FAILED, "input nested too deeply (RecursionError)")
    except AnalyzerError as error:
        outcome = failure(path, sha256, FAILED, str(error))
    except Exception as error:  # a bug or a library failure on hostile input: one row, not a crash
        outcome = failure(path, sha256, FAILED, f"internal error: {type(error).__name__}: {error}")
    outcome["duration_s"] = time.perf_counter() - started
    outcome.update(own_usage())
    return outcome


def own_usage() -> dict[str, float]:
    """CPU seconds and peak RSS of this worker process (it ran exactly one bundle)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def out_of_memory(isolation: IsolationLimits) -> str:
    return f"out of memory (worker memory limit {isolation.memory_bytes // (1 << 20)} MiB)"


def failure(path: str, sha256: str, status: str, error: str) -> Outcome:
    """An outcome for a bundle that could not be analysed."""
    return {"path": path, "sha256": sha256, "status": status, "error": error[:MAX_ERROR_CHARS],
            "findings": [], "snapshot_runs": []}


def outcome_from_analysis(path: str, sha256: str, analysis: Analysis) -> Outcome:
    report, facts = analysis.report, analysis.facts
    identity = deployment_identity(facts.goal_states)
    counts = report.counts
    return {
        "path": path,
        "sha256": sha256,
        "status": OK,
        "error": "",
        "collected_at": iso(facts.collected_at),
        "daemon_version": current_version(facts.agent, "daemon"),
        "goal_state_agent_version": current_version(facts.agent, "goal_state_agent"),
        "vmsnapshot_version": vmsnapshot_version(report.bundle.extensions),
        **identity,
        **{f"findings_{severity}": counts[severity] for severity in SEVERITIES},
        "worst_severity": report.worst_severity,
        "problems": len(facts.problems),
        "problem_detail": "; ".join(str(p) for p in facts.problems[:3])[:MAX_ERROR_CHARS],
        "findings": [finding_dict(f) for f in report.sorted_findings()],
        "snapshot_runs": snapshot_runs(facts.snapshot_runs),
    }


def finding_dict(finding: Any) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "category": finding.category,
        "severity": finding.severity,
        "title": finding.title,
        "count": finding.count,
        "first_seen": iso(finding.first_seen),
        "last_seen": iso(finding.last_seen),
        "message": finding.message,
        "guide_cause": finding.guide_cause,
        "downranked": finding.downranked,
    }


def iso(stamp: datetime | None) -> str | None:
    """Aware UTC ISO text; naive stamps from the parsers are UTC already."""
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat()


def current_version(rows: list[Any], role: str) -> str:
    """The version the agent reported last (newest timestamp; highest version breaks ties)."""
    from analyzer.engine.versions import version_key

    candidates = [r for r in rows if r.role == role and r.value]
    if not candidates:
        return ""
    newest = max(candidates,
                 key=lambda r: (_aware(r.timestamp) or UNIX_EPOCH, version_key(r.value)))
    return str(newest.value)


def _aware(stamp: datetime | None) -> datetime | None:
    if stamp is not None and stamp.tzinfo is None:
        return stamp.replace(tzinfo=UTC)
    return stamp


def vmsnapshot_version(extensions: list[Any]) -> str:
    for extension in extensions:
        if extension.name.lower() == VMSNAPSHOT:
            return str(extension.version)
    return ""


def deployment_identity(goal_states: list[Any]) -> dict[str, str]:
    """Deployment, role and role instance from the newest SharedConfig/HostingEnvironmentConfig."""
    documents = [g for g in goal_states
                 if g.document in ("SharedConfig", "HostingEnvironmentConfig")
                 and (g.deployment or g.role_instance)]
    if not documents:
        return {"deployment": "", "role": "", "role_instance": ""}

    def newest(row: Any) -> tuple[datetime, int, bool]:
        incarnation = int(row.incarnation) if str(row.incarnation).isdigit() else -1
        # A document that names the deployment beats one that does not, at equal age.
        return (_aware(row.timestamp) or UNIX_EPOCH, incarnation, bool(row.deployment))

    best = max(documents, key=newest)
    deployment = best.deployment or next((d.deployment for d in documents if d.deployment), "")
    role = best.role or next((d.role for d in documents if d.role), "")
    return {"deployment": deployment, "role": role, "role_instance": best.role_instance}


def snapshot_runs(runs: list[Any]) -> list[dict[str, Any]]:
    """Backup runs of the VMSnapshot extension, from the bundle's ``snapshot_runs`` table
    (:mod:`analyzer.parse.snapshot_runs`). A run with no end has ``end = None``."""
    return [{"start": iso(run.start), "end": iso(run.end), "outcome": run.outcome}
            for run in runs]


# -- entry point of a forkserver child --------------------------------------------------------


def child_main(connection: Any, path: str, sha256: str, options: AnalyzeOptions,
               isolation: IsolationLimits, stderr_path: str) -> None:
    """Run one bundle and send its outcome through ``connection`` (local runner)."""
    _redirect_output(stderr_path)
    apply_limits(isolation)
    arm_watchdog(isolation)
    outcome = analyze_bundle(path, sha256, options, isolation)
    try:
        connection.send(outcome)
        connection.close()
    except MemoryError:
        os._exit(EXIT_NO_MEMORY)
    # The evaluation child ends while the runner takes the outcome; a forkserver child ends
    # without running exit functions, so it is reaped here.
    reap_finished_children()


def _redirect_output(stderr_path: str) -> None:
    """Keep the child off the user's terminal (and the progress bar); its stderr goes to a file
    the parent reads when the child dies without an outcome."""
    descriptor = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(descriptor, 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(descriptor)
    os.close(devnull)


# -- interpreting a dead worker ---------------------------------------------------------------


def death_outcome(path: str, sha256: str, returncode: int | None, isolation: IsolationLimits,
                  timed_out: bool, stderr_tail: str = "") -> Outcome:
    """The outcome of a worker that ended without sending one."""
    if timed_out:
        return failure(path, sha256, TIMEOUT,
                       f"wall-clock limit of {isolation.wall_seconds:g} s exceeded")
    if returncode is not None and returncode < 0:
        signum = -returncode
        if signum == signal.SIGALRM:
            return failure(path, sha256, TIMEOUT,
                           f"wall-clock limit of {isolation.wall_seconds:g} s exceeded")
        if signum == signal.SIGXCPU:
            return failure(path, sha256, TIMEOUT,
                           f"CPU time limit of {isolation.cpu_seconds} s exceeded")
        name = _signal_name(signum)
        hint = " (out of memory?)" if signum == signal.SIGKILL else ""
        return failure(path, sha256, FAILED, _with_tail(f"worker killed by {name}{hint}",
                                                        stderr_tail))
    if returncode == EXIT_NO_MEMORY:
        return failure(path, sha256, FAILED, out_of_memory(isolation))
    return failure(path, sha256, FAILED,
                   _with_tail(f"worker exited with status {returncode} without a result",
                              stderr_tail))


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _with_tail(message: str, tail: str) -> str:
    last = [line for line in tail.strip().splitlines() if line.strip()][-3:]
    return f"{message}: {' | '.join(last)}" if last else message


# -- JSON transport (subprocess / Dask) -------------------------------------------------------


def options_to_json(options: AnalyzeOptions) -> dict[str, Any]:
    return options_json(options.rule_dirs, options.builtin_rules, options.params, options.lang,
                        options.limits, options.timeline, options.isolate)


def options_from_json(data: dict[str, Any]) -> AnalyzeOptions:
    return AnalyzeOptions(
        rule_dirs=[Path(p) for p in data.get("rule_dirs", [])],
        builtin_rules=bool(data.get("builtin_rules", True)),
        params=data.get("params", {}),
        lang=str(data.get("lang", "en")),
        limits=Limits(**data.get("limits", {})),
        timeline=bool(data.get("timeline", True)),
        isolate=bool(data.get("isolate", False)),
    )


def main() -> int:
    """``python -m analyzer.batch.worker``: one JSON job on stdin, one JSON outcome on stdout."""
    job = json.loads(sys.stdin.read())
    isolation = IsolationLimits(**job["isolation"])
    apply_limits(isolation)
    arm_watchdog(isolation)
    options = options_from_json(job["options"])
    outcome = analyze_bundle(job["path"], job["sha256"], options, isolation)
    try:
        text = json.dumps(outcome, ensure_ascii=True)
    except MemoryError:
        return EXIT_NO_MEMORY
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
else:
    _warm_from_environment()
