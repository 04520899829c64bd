"""``batch`` and ``summary`` commands; ``analyzer.cli`` finds this module and calls ``register``.

Exit codes of ``batch`` (the project's, applied to a whole results folder):

* 0 - done, and no finding (bundle or fleet) at or above ``--fail-on`` in the results folder;
* 1 - some finding at or above ``--fail-on`` (default ``high``; ``never`` turns this off);
* 2 - usage: bad option, missing input, no bundle found, folder already used without
  ``--resume``, Dask not installed or scheduler unreachable;
* 3 - not one bundle of the results folder could be analysed (all rejected/failed/timed out);
* 4 - internal error.

Failed, rejected and timed-out bundles do not change the exit code on their own (they are rows
of the results, listed on stderr and by ``summary``), unless all of them failed.
"""

# No ``from __future__ import annotations`` here: typer would evaluate every command
# parameter's annotation string (``typing.get_type_hints``) at every start.

import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from analyzer.cli import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_REJECTED,
    FailOnOption,
    LangOption,
    ParamOption,
    RulesOption,
    Severity,
    _err,
    _lang,
    _parse_params,
    _write_output,
)

MAX_FAILURES_SHOWN = 10


class GroupBy(str, Enum):
    category = "category"
    rule = "rule"
    agent_version = "agent_version"
    extension_version = "extension_version"
    deployment = "deployment"


class SummaryFormat(str, Enum):
    text = "text"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def batch(
    inputs: Annotated[list[str], typer.Argument(
        help="Bundles, folders of bundles, or @LIST (a file with one path per line; @- = stdin).",
        show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results folder (Parquet tables).")],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-j", min=1, help="Worker processes (default: CPU count).")] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler",
        help="Run on a Dask cluster: tcp://HOST:PORT (needs the optional dask extra).")
    ] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue a batch: skip bundles already in the results folder.")] = False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="With --resume: run failed and timed-out bundles again.")] = False,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=1, help="Per-bundle wall-clock (and CPU) limit in seconds [300].")
    ] = None,
    memory_mb: Annotated[int | None, typer.Option(
        "--memory-mb", min=64, help="Per-bundle worker memory (address space) limit [2048].")
    ] = None,
    fail_on: FailOnOption = Severity.high,
    rules: RulesOption = None,
    param: ParamOption = None,
    lang: LangOption = None,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="Progress bar (default: when stderr is a terminal).",
        show_default=False)] = None,
) -> None:
    """Analyse many bundles into a results folder, one isolated process per bundle."""
    from analyzer.settings import DEFAULT_LIMITS

    if retry_failed and not resume:
        raise typer.BadParameter("--retry-failed needs --resume")
    limits = DEFAULT_LIMITS
    if timeout is not None:
        limits = limits.with_overrides(wall_seconds=timeout, worker_cpu_seconds=math.ceil(timeout))
    if memory_mb is not None:
        limits = limits.with_overrides(worker_memory_bytes=memory_mb * 1024 * 1024)
    rule_dirs, params, language = list(rules or []), _parse_params(param), _lang(lang)
    if scheduler is None:
        _start_forkserver(rule_dirs, params, language, limits)
    from analyzer.export import require_pyarrow

    require_pyarrow("batch (Parquet results)")
    from analyzer.batch.run import run_batch
    from analyzer.pipeline import AnalyzeOptions

    options = AnalyzeOptions(rule_dirs=rule_dirs, params=params, lang=language, limits=limits)
    result = run_batch(inputs, out, workers=workers, scheduler=scheduler, resume=resume,
                       limits=limits, options=options, progress=progress,
                       retry_failed=retry_failed)
    _report(result)
    raise typer.Exit(exit_code(result, fail_on))


def _start_forkserver(rule_dirs: list[Path], params: dict[str, Any], lang: str,
                      limits: Any) -> None:
    """The forkserver starts now, with the options the runner will give its children (the
    worker is the sandbox: no isolated children of its own): its imports and warm-up run
    while this process imports the runner and pyarrow."""
    import importlib.util

    from analyzer.batch import forkserver

    # Without pyarrow the command ends in a usage error right after: nothing starts for it.
    if importlib.util.find_spec("pyarrow") is not None and forkserver.main_is_reloadable():
        forkserver.start(forkserver.options_json(rule_dirs, True, params, lang, limits,
                                                 timeline=False, isolate=False))


def _report(result: Any) -> None:
    from analyzer.cli_common import safe_line

    for error in result.rule_errors:
        _err(f"rule error: {safe_line(error)}")
    for dropped in result.dropped:
        _err(f"unreadable result file removed, its bundles run again: {safe_line(dropped)}")
    _err(f"{result.inputs} entries, {result.analysed} bundles analysed in "
         f"{result.elapsed_seconds:.1f} s ({result.rate:.1f}/s): {result.ok} ok, "
         f"{result.failed} failed, {result.rejected} rejected, {result.timeout} timed out, "
         f"{result.not_bundles} skipped (not a bundle); {result.skipped} already done, "
         f"{result.duplicates} duplicates; {result.fleet_findings} fleet findings; "
         f"{result.rows} rows in {safe_line(str(result.results_dir))}")
    for path, status, error in result.failures[:MAX_FAILURES_SHOWN]:
        # One line per entry whatever its name holds: a newline in a file name is shown
        # as \n, never obeyed (it could forge lines of this report).
        _err(f"  {status}: {safe_line(path)}: {safe_line(error)}")
    if len(result.failures) > MAX_FAILURES_SHOWN:
        _err(f"  ... {len(result.failures) - MAX_FAILURES_SHOWN} more: see 'summary'")


def exit_code(result: Any, fail_on: Severity) -> int:
    from analyzer.report.model import SEVERITY_RANK

    if result.all_failed:
        return EXIT_REJECTED
    if fail_on == Severity.never or result.worst_severity is None:
        return EXIT_CLEAN
    worst = SEVERITY_RANK[result.worst_severity]
    return EXIT_FINDINGS if worst >= SEVERITY_RANK[fail_on.value] else EXIT_CLEAN


def summary(
    results_dir: Annotated[Path, typer.Argument(help="Results folder written by 'batch'.")],
    by: Annotated[GroupBy, typer.Option("--by", help="Group the fleet view by.")
                  ] = GroupBy.category,
    fmt: Annotated[SummaryFormat, typer.Option("--format", "-f")] = SummaryFormat.text,
    output: Annotated[Path | None, typer.Option("--output", help="Write here (default stdout).")
                      ] = None,
    min_severity: Annotated[Severity, typer.Option(
        "--min-severity", help="Rank categories and rules by findings at or above this "
        "severity; the others are listed apart as hints.")] = Severity.medium,
) -> None:
    """Fleet view of a results folder: problems by category/rule/version/deployment, failures."""
    from analyzer.export import require_pyarrow

    require_pyarrow("summary (Parquet results)")
    from analyzer.batch.view import summary as render_summary

    if min_severity == Severity.never:
        raise typer.BadParameter("--min-severity never: choose a severity")
    _write_output(render_summary(results_dir, by=by.value, fmt=fmt.value,
                                 min_severity=min_severity.value), output)
    if output is not None:
        _err(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
    app.command("summary")(summary)
