"""Command line: parse arguments, call the pipeline, pick a renderer. Nothing else lives here.

Exit codes (every command): 0 clean, 1 findings at/above --fail-on, 2 usage error,
3 input rejected, 4 internal error.
"""

# No ``from __future__ import annotations`` here: typer would evaluate every command
# parameter's annotation string (``typing.get_type_hints``) at every start.

import atexit
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from analyzer import __version__
from analyzer.errors import AnalyzerError, InputRejected, UsageError

app = typer.Typer(
    name="waagent-analyzer",
    help="Reads Azure Linux VM agent (waagent) log bundles and says what is wrong.",
    epilog="Exit codes: 0 nothing at/above --fail-on, 1 findings at/above it, 2 usage error, "
    "3 input rejected, 4 internal error.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Rule pack tools for rule authors.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_REJECTED, EXIT_INTERNAL = 0, 1, 2, 3, 4


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"
    sarif = "sarif"


class TableFormat(str, Enum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"
    never = "never"


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


ColorOption = Annotated[
    Color,
    typer.Option("--color", help="Colour the text report: auto (a terminal, unless NO_COLOR or "
                 "TERM=dumb; FORCE_COLOR forces it), always or never."),
]


class Table(str, Enum):
    files = "files"
    records = "records"
    extensions = "extensions"
    goal_states = "goal_states"
    agent = "agent"
    config = "config"


RulesOption = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="Extra rule folder (repeatable); added to the built-in pack."),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", help="Override a rule parameter: RULE-ID.name=value (repeatable)."),
]
LangOption = Annotated[
    str | None,
    typer.Option("--lang", help="Report language: en or pt-BR (default: from the locale)."),
]
FailOnOption = Annotated[
    Severity, typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity.")
]


FailOnOptionalOption = Annotated[
    Severity | None,
    typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity "
                 "[default: high, or the config file's fail-on]."),
]
ColorOptionalOption = Annotated[
    Color | None,
    typer.Option("--color", help="Colour the text report: auto (a terminal, unless NO_COLOR or "
                 "TERM=dumb; FORCE_COLOR forces it), always or never [default: auto]."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Read settings from this file instead of the nearest "
                 ".waagent-analyzer.toml or pyproject.toml [tool.waagent-analyzer]."),
]
NoConfigOption = Annotated[
    bool, typer.Option("--no-config", help="Ignore every config file."),
]


def _err(message: str) -> None:
    from analyzer.report.sanitize import for_terminal

    sys.stderr.write(for_terminal(message, multiline=True) + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _parse_params(values: list[str] | None) -> dict[str, dict[str, Any]]:
    from analyzer.cli_common import parse_params

    return parse_params(values)


def _lang(option: str | None) -> str:
    from analyzer.report.i18n import normalize_lang, pick_lang

    if option is not None and normalize_lang(option) is None:
        raise UsageError(f"--lang {option!r}: valid options: en, pt-BR")
    return pick_lang(option)


def _write_output(text: str, output: Path | None) -> None:
    from analyzer.cli_common import write_text

    write_text(text, output)


def _exit_for(report: Any, fail_on: Severity) -> int:
    from analyzer.report.model import SEVERITY_RANK

    if fail_on == Severity.never:
        return EXIT_CLEAN
    threshold = SEVERITY_RANK[fail_on.value]
    worst = report.worst_severity
    return EXIT_FINDINGS if worst is not None and SEVERITY_RANK[worst] >= threshold else EXIT_CLEAN


def _is_stdin(path: Path) -> bool:
    return str(path) == "-"


def _check_input(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{path}: no such file or directory")


@app.command()
def analyze(
    path: Annotated[
        Path, typer.Argument(help="Bundle: .tar/.tgz/.tar.xz/.zip, folder, one log file, "
                             "or - for standard input.")
    ],
    fmt: Annotated[
        Format | None, typer.Option("--format", "-f", help="Report format [default: text].")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    rules: RulesOption = None,
    param: ParamOption = None,
    fail_on: FailOnOptionalOption = None,
    lang: LangOption = None,
    explain: Annotated[
        str | None,
        typer.Option("--explain", help="Say why RULE did or did not fire (checks, near misses)."),
    ] = None,
    vm_timezone: Annotated[
        str | None,
        typer.Option(
            "--vm-timezone",
            help="IANA zone of the VM for old local-time log formats (default UTC).",
        ),
    ] = None,
    no_builtin_rules: Annotated[
        bool,
        typer.Option("--no-builtin-rules", help="Use only the rule folders given with --rules."),
    ] = False,
    color: ColorOptionalOption = None,
    config_path: ConfigOption = None,
    no_config: NoConfigOption = False,
) -> None:
    """Analyse a bundle: verdict, findings with evidence, and the fix.

    PATH '-' reads the bundle from standard input (held in memory, never written to disk).
    """
    from analyzer.cli_common import check_output_path, check_params, check_rule_dirs
    from analyzer.config import check_file_params, load_config, merge
    from analyzer.engine.loader import default_rules_dir
    from analyzer.pipeline import AnalyzeOptions, analyze_path

    config = load_config(config_path, no_config)
    settings = merge(config, fail_on=fail_on.value if fail_on else None,
                     fmt=fmt.value if fmt else None, color=color.value if color else None,
                     lang=lang, rules=rules, param=param)
    fmt, fail_on, color = Format(settings.format), Severity(settings.fail_on), Color(settings.color)
    rules = settings.rules
    if not _is_stdin(path):
        _check_input(path)
    language = _lang(settings.lang)
    _set_vm_timezone(vm_timezone)
    check_rule_dirs(rules or [])
    check_output_path(output)
    params = settings.param
    directories = ([default_rules_dir()] if not no_builtin_rules else []) + list(rules or [])
    check_file_params(config, directories)
    check_params(params, directories)
    if explain:
        _check_explain_id(explain, directories, params)
    options = AnalyzeOptions(
        rule_dirs=list(rules or []),
        builtin_rules=not no_builtin_rules,
        params=params,
        lang=language,
        timeline=fmt == Format.html,
        while_reading=lambda: _renderer(fmt.value, language),
    )
    if _is_stdin(path):
        from analyzer.stdin_input import analyze_stdin

        analysis = analyze_stdin(options)
    else:
        from analyzer import progress

        progress.enable(path.name, path.stat().st_size if path.is_file() else 0)
        try:
            analysis = analyze_path(path, options)
        finally:
            progress.finish()
    report = analysis.report
    for problem in analysis.pack.errors:
        _err(f"rule error: {problem}")
    if explain:
        _write_output(_explain(analysis, explain), None)
        raise typer.Exit(_exit_for(report, fail_on))
    _render(report, fmt.value, language, output, color.value)
    raise typer.Exit(_exit_for(report, fail_on))


def _set_vm_timezone(name: str | None) -> None:
    if not name:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from analyzer.parse.timeutil import set_local_zone

    try:
        set_local_zone(ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--vm-timezone {name!r}: unknown time zone") from None


def _render(
    report: Any, fmt: str, lang: str, output: Path | None, color: str = "auto"
) -> None:
    from analyzer.cli_common import color_enabled, text_width

    renderer = _renderer(fmt, lang)
    if fmt == "text":
        to_stdout = output is None or str(output) == "-"
        colored = color_enabled(color) if to_stdout else color == "always"
        width = (text_width() if to_stdout else None) or 0  # 0: pipes and files are not wrapped
        text = renderer.render(report, color=colored, width=width)  # type: ignore[call-arg]
    else:
        text = renderer.render(report)
    _write_output(text, output)


def _renderer(fmt: str, lang: str) -> Any:
    from analyzer.report import get_renderer

    return get_renderer(fmt, lang)


def _check_explain_id(rule_id: str, directories: list[Path], params: dict[str, Any]) -> None:
    from analyzer.engine.cache import load_rules_cached

    if rule_id not in {rule.id for rule in load_rules_cached(directories, params).rules}:
        raise UsageError(f"--explain {rule_id!r}: unknown rule id; see 'rules list'")


def _explain(analysis: Any, rule_id: str) -> str:
    """Why a rule fired or not, in words: its checks, the sources it reads, the windows."""
    from analyzer.checkable import SOURCE_GROUPS, present_kinds, rule_sources
    from analyzer.report.i18n import t
    from analyzer.report.sanitize import for_terminal

    outcome = next((o for o in analysis.outcomes if o.rule.id == rule_id), None)
    if outcome is None:
        raise UsageError(f"--explain {rule_id!r}: unknown rule id; see 'rules list'")
    rule = outcome.rule
    lines = [
        f"{rule.id}: {rule.title}",
        f"condition: {rule.condition_text}",
        f"result: {'FIRED' if outcome.fired else 'did not fire'}",
    ]
    kinds = rule_sources(rule)
    if kinds:
        present = present_kinds(analysis.facts)
        said = []
        for group, members in SOURCE_GROUPS.items():
            if members & kinds:
                state = "present" if members & kinds & present else "missing from this bundle"
                said.append(f"{t(f'coverage.{group}', 'en').removeprefix('no ')} ({state})")
        lines.append("reads: " + "; ".join(said))
    if outcome.error:
        lines.append(f"error: {outcome.error}")
    for name, result in outcome.checks.items():
        lines.append(f"  check {name}: {'true' if result.value else 'false'} - {result.detail}")
        for item in result.evidence[:2]:
            where = item.member + (f":{item.line}" if item.line is not None else "")
            lines.append(f"      {where} {item.text.splitlines()[0][:160] if item.text else ''}")
    if outcome.finding is not None:
        finding = outcome.finding
        lines.append(f"finding: [{finding.severity}] {finding.message} (count {finding.count})")
        if finding.downranked:
            lines.append(f"down-ranked: {finding.downranked}")
    return "\n".join(for_terminal(line) for line in lines)


@app.command()
def parse(
    path: Annotated[Path, typer.Argument(help="Bundle to read (- for standard input).")],
    table: Annotated[Table, typer.Option("--table", "-t", help="Which table to export.")],
    fmt: Annotated[TableFormat, typer.Option("--format", "-f")] = TableFormat.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file (default stdout).")
    ] = None,
    vm_timezone: Annotated[str | None, typer.Option("--vm-timezone")] = None,
) -> None:
    """Export a table: files, records, extensions, goal_states, agent or config."""
    from analyzer.export import RECORD_COLUMNS, rows_as_dicts, write_table
    from analyzer.pipeline import AnalyzeOptions, analyze_path, export_records
    from analyzer.tables import table_columns

    stdin = _is_stdin(path)
    if not stdin:
        _check_input(path)
    _set_vm_timezone(vm_timezone)
    if fmt == TableFormat.parquet and output is None:
        raise UsageError("--format parquet needs --output FILE")
    if fmt == TableFormat.parquet:
        from analyzer.export import require_pyarrow

        require_pyarrow("--format parquet")
    options = AnalyzeOptions()
    target = output if output is not None else sys.stdout.buffer
    source: Any = path
    if stdin:
        from analyzer.stdin_input import StdinBundle, read_stdin

        source = StdinBundle(read_stdin(options.limits))
    if table == Table.records:
        count, problems = export_records(source, RECORD_COLUMNS, fmt.value, target, options)
    else:
        if stdin:
            from analyzer.stdin_input import analyze_bytes

            analysis = analyze_bytes(source, options)
        else:
            analysis = analyze_path(path, options)
        problems = analysis.facts.problems
        count = write_table(rows_as_dicts(analysis.facts.rows(table.value)),
                            table_columns(table.value), fmt.value, target)
    for problem in problems:
        _err(f"problem: {problem}")
    if output is not None:
        _info(f"wrote {count} {table.value} rows to {output}")


class CatalogueFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


@rules_app.command("list")
def rules_list(
    rules: RulesOption = None,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the catalogue as a Markdown table (docs/rules.md)."),
    ] = False,
    fmt: Annotated[
        CatalogueFormat,
        typer.Option("--format", "-f", help="text, markdown (docs/rules.md) or json (the "
                     "machine-readable catalogue)."),
    ] = CatalogueFormat.text,
) -> None:
    """List the rules: id, severity, category, title."""
    from analyzer.report.sanitize import for_terminal

    pack = _load_pack(rules)
    ordered = sorted(pack.rules, key=lambda r: (r.category, r.id))
    if markdown or fmt == CatalogueFormat.markdown:
        typer.echo(_catalogue(ordered))
    elif fmt == CatalogueFormat.json:
        from analyzer.rule_catalogue import catalogue_json

        typer.echo(catalogue_json(sorted(pack.rules, key=lambda r: r.id)))
    else:
        for rule in sorted(pack.rules, key=lambda r: r.id):
            typer.echo(for_terminal(
                f"{rule.id:<16} {rule.severity:<9} {rule.category:<19} {rule.title}"))
    _report_pack_errors(pack)


def _catalogue(rules: list[Any]) -> str:
    from analyzer.report.markdown import md_cell

    lines = [
        "# Rule catalogue",
        "",
        "Generated by `waagent-analyzer rules list --markdown`; a test keeps it current.",
        "",
        "| id | severity | category | guide cause | title | parameters |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules:
        params = ", ".join(f"`{k}={v}`" for k, v in rule.params.items())
        cause = str(rule.guide_cause or "")
        lines.append(
            f"| {md_cell(rule.id)} | {rule.severity} | {rule.category} | {cause} | "
            f"{md_cell(rule.title)} | {params} |"
        )
    return "\n".join(lines)


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="Rule id")],
    rules: RulesOption = None,
    lang: LangOption = None,
    param: ParamOption = None,
) -> None:
    """Show one rule as TOML: its file, with the parameters in effect on top."""
    from analyzer.rule_catalogue import rule_as_toml

    language = _lang(lang)
    pack = _load_pack(rules, _parse_params(param))
    rule = pack.by_id().get(rule_id)
    if rule is None:
        raise UsageError(f"unknown rule id {rule_id!r}; see 'rules list'")
    typer.echo(rule_as_toml(rule, language))


@rules_app.command("validate")
def rules_validate(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or folders.")],
) -> None:
    """Validate rule files; every error as path:line:col: message. Exit 2 when any is broken."""
    from analyzer.engine.loader import load_rules

    for path in paths:
        _check_input(path)
    pack = load_rules(paths)
    for warning in pack.warnings:
        _err(f"{warning} (warning)")
    for error in pack.errors:
        _err(str(error))
    if pack.errors:
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{len(pack.rules)} rules valid")


@rules_app.command("test")
def rules_test(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Rule files or folders (default: built-in pack).")
    ] = None,
) -> None:
    """Run the test cases kept inside rule files."""
    from analyzer.engine.loader import default_rules_dir, load_rules
    from analyzer.testing.rules import run_rule_tests

    pack = load_rules(paths or [default_rules_dir()])
    for error in pack.errors:
        _err(str(error))
    results = run_rule_tests(pack)
    failed = [r for r in results if not r.passed]
    for result in results:
        mark = "ok  " if result.passed else "FAIL"
        typer.echo(
            f"{mark} {result.rule_id} :: {result.name}"
            + ("" if result.passed else f"\n      {result.reason}")
        )
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if pack.errors:
        raise typer.Exit(EXIT_USAGE)
    if failed:
        raise typer.Exit(EXIT_FINDINGS)


def _load_pack(extra: list[Path] | None, params: dict[str, dict[str, Any]] | None = None) -> Any:
    from analyzer.cli_common import check_params, check_rule_dirs
    from analyzer.engine.loader import default_rules_dir, load_rules

    check_rule_dirs(extra or [])
    directories = [default_rules_dir(), *(extra or [])]
    check_params(params or {}, directories)
    return load_rules(directories, params)


def _report_pack_errors(pack: Any) -> None:
    for error in pack.errors:
        _err(str(error))
    if pack.errors:
        raise typer.Exit(EXIT_USAGE)


@app.command("version")
def version() -> None:
    """Print the version."""
    typer.echo(f"waagent-analyzer {__version__}")


def _register_optional_commands() -> None:
    """Commands whose modules live in batch/ and live/ register themselves here."""
    for module_name in ("analyzer.live.cli", "analyzer.batch.cli"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(app)


VERBOSITY = {"level": 0}
"""-1 with --quiet (errors only), 1 with --verbose; read by :func:`_info`."""


def _info(message: str, level: int = 0) -> None:
    """A progress or informational line on stderr, shown unless -q (or only with -v)."""
    if VERBOSITY["level"] >= level:
        _err(message)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"waagent-analyzer {__version__}")
        raise typer.Exit(EXIT_CLEAN)


@app.callback()
def _common(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="More detail on stderr (timings, counts).")
    ] = False,
) -> None:
    """Reads Azure Linux VM agent (waagent) log bundles and says what is wrong."""
    if quiet and verbose:
        raise UsageError("--quiet and --verbose exclude each other")
    VERBOSITY["level"] = -1 if quiet else 1 if verbose else 0


def main(argv: list[str] | None = None) -> None:
    _register_optional_commands()
    try:
        code = app(args=argv, standalone_mode=False)
    except BrokenPipeError:
        from analyzer.cli_common import silence_stdout

        silence_stdout()  # `... | head`: the reader closed the pipe; nothing went wrong
        sys.exit(EXIT_CLEAN)
    except AnalyzerError as error:
        _err(f"error: {error}")
        sys.exit(error.exit_code)
    except Exception as error:  # click usage errors, or a bug
        sys.exit(_exit_for_exception(error))
    sys.exit(code if isinstance(code, int) else EXIT_CLEAN)


def run() -> NoReturn:
    """The command's entry point (``python -m analyzer``, ``waagent-analyzer``): :func:`main`,
    then the process ends at once. Tearing the interpreter down object by object took 45 to
    85 ms at the end of every run, small bundle or large, and changes nothing the user sees:
    the output streams are flushed and the exit handlers run first. While another thread
    still runs, the process ends the usual way, which waits for it."""
    from analyzer.heap import collect_garbage_rarely

    collect_garbage_rarely()
    status: str | int | None = None
    try:
        main()
    except SystemExit as end:
        status = end.code
    if _other_threads_alive():
        sys.exit(status)
    code = _exit_status(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away; a closed stream
            pass
    os._exit(code)


def _other_threads_alive() -> bool:
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` ends a process with (a message is printed, then 1)."""
    if code is None:
        return EXIT_CLEAN
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exit_for_exception(error: Exception) -> int:
    from typer._click import exceptions as click_exceptions  # typer ships its own click

    if isinstance(error, click_exceptions.UsageError):
        error.show()
        return EXIT_USAGE
    if isinstance(error, click_exceptions.ClickException):
        error.show()
        return EXIT_USAGE
    if os.environ.get("WAAGENT_ANALYZER_DEBUG"):
        raise error
    _err(
        f"internal error: {type(error).__name__}: {error} "
        "(set WAAGENT_ANALYZER_DEBUG=1 for a traceback)"
    )
    return EXIT_INTERNAL


__all__ = ["InputRejected", "app", "main", "run"]
