"""Command line: parse arguments, call the pipeline, pick a renderer. Nothing else lives here.

Exit codes (every command): 0 clean, 1 findings at/above --fail-on, 2 usage error,
3 input rejected, 4 internal error.
"""

from __future__ import annotations

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
    add_completion=False,
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


def _err(message: str) -> None:
    from analyzer.report.sanitize import for_terminal

    sys.stderr.write(for_terminal(message, multiline=True) + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _parse_params(values: list[str] | None) -> dict[str, dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for value in values or []:
        target, sep, setting = value.partition("=")
        rule_id, dot, name = target.rpartition(".")
        if not sep or not dot or not rule_id or not name:
            raise UsageError(f"--param {value!r}: expected RULE-ID.name=value")
        params.setdefault(rule_id, {})[name] = setting
    return params


def _lang(option: str | None) -> str:
    from analyzer.report.i18n import normalize_lang, pick_lang

    if option is not None and normalize_lang(option) is None:
        raise UsageError(f"--lang {option!r}: valid options: en, pt-BR")
    return pick_lang(option)


def _write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.write_text(text, encoding="utf-8")


def _exit_for(report: Any, fail_on: Severity) -> int:
    from analyzer.report.model import SEVERITY_RANK

    if fail_on == Severity.never:
        return EXIT_CLEAN
    threshold = SEVERITY_RANK[fail_on.value]
    worst = report.worst_severity
    return EXIT_FINDINGS if worst is not None and SEVERITY_RANK[worst] >= threshold else EXIT_CLEAN


def _check_input(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{path}: no such file or directory")


@app.command()
def analyze(
    path: Annotated[
        Path, typer.Argument(help="Bundle: .tar/.tgz/.tar.xz/.zip, folder, or one log file.")
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    rules: RulesOption = None,
    param: ParamOption = None,
    fail_on: FailOnOption = Severity.high,
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
) -> None:
    """Analyse a bundle: verdict, findings with evidence, and the fix."""
    from analyzer.pipeline import AnalyzeOptions, analyze_path

    _check_input(path)
    language = _lang(lang)
    _set_vm_timezone(vm_timezone)
    options = AnalyzeOptions(
        rule_dirs=list(rules or []),
        builtin_rules=not no_builtin_rules,
        params=_parse_params(param),
        lang=language,
        timeline=fmt == Format.html,
    )
    analysis = analyze_path(path, options)
    report = analysis.report
    for problem in analysis.pack.errors:
        _err(f"rule error: {problem}")
    if explain:
        _write_output(_explain(analysis, explain), None)
        raise typer.Exit(_exit_for(report, fail_on))
    _render(report, fmt.value, language, output)
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


def _render(report: Any, fmt: str, lang: str, output: Path | None) -> None:
    from analyzer.report import get_renderer

    renderer = get_renderer(fmt, lang)
    if fmt == "text":
        color = output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        text = renderer.render(report, color=color)  # type: ignore[call-arg]
    else:
        text = renderer.render(report)
    _write_output(text, output)


def _explain(analysis: Any, rule_id: str) -> str:
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
    if outcome.error:
        lines.append(f"error: {outcome.error}")
    for name, result in outcome.checks.items():
        lines.append(f"  check {name}: {'true' if result.value else 'false'} - {result.detail}")
        for item in result.evidence[:2]:
            lines.append(f"      {item.member}:{item.line} {item.text.splitlines()[0][:160]}")
    if outcome.finding is not None:
        finding = outcome.finding
        lines.append(f"finding: [{finding.severity}] {finding.message} (count {finding.count})")
        if finding.downranked:
            lines.append(f"down-ranked: {finding.downranked}")
    return "\n".join(for_terminal(line) for line in lines)


@app.command()
def parse(
    path: Annotated[Path, typer.Argument(help="Bundle to read.")],
    table: Annotated[Table, typer.Option("--table", "-t", help="Which table to export.")],
    fmt: Annotated[TableFormat, typer.Option("--format", "-f")] = TableFormat.csv,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file (default stdout).")
    ] = None,
    vm_timezone: Annotated[str | None, typer.Option("--vm-timezone")] = None,
) -> None:
    """Export a table: files, records, extensions, goal_states, agent or config."""
    from analyzer.export import RECORD_COLUMNS, rows_as_dicts, write_table
    from analyzer.facts import table_columns
    from analyzer.pipeline import AnalyzeOptions, analyze_path, export_records

    _check_input(path)
    _set_vm_timezone(vm_timezone)
    if fmt == TableFormat.parquet and output is None:
        raise UsageError("--format parquet needs --output FILE")
    options = AnalyzeOptions()
    target = output if output is not None else sys.stdout.buffer
    if table == Table.records:
        count, problems = export_records(path, RECORD_COLUMNS, fmt.value, target, options)
    else:
        analysis = analyze_path(path, options)
        problems = analysis.facts.problems
        count = write_table(rows_as_dicts(analysis.facts.rows(table.value)),
                            table_columns(table.value), fmt.value, target)
    for problem in problems:
        _err(f"problem: {problem}")
    if output is not None:
        _err(f"wrote {count} {table.value} rows to {output}")


@rules_app.command("list")
def rules_list(
    rules: RulesOption = None,
    markdown: Annotated[
        bool,
        typer.Option("--markdown", help="Print the catalogue as a Markdown table (docs/rules.md)."),
    ] = False,
) -> None:
    """List the rules: id, severity, category, title."""
    pack = _load_pack(rules)
    ordered = sorted(pack.rules, key=lambda r: (r.category, r.id))
    if markdown:
        typer.echo(_catalogue(ordered))
    else:
        for rule in sorted(pack.rules, key=lambda r: r.id):
            typer.echo(f"{rule.id:<16} {rule.severity:<9} {rule.category:<19} {rule.title}")
    _report_pack_errors(pack)


def _catalogue(rules: list[Any]) -> str:
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
        cause = str(rule.seed_cause or "")
        lines.append(
            f"| {rule.id} | {rule.severity} | {rule.category} | {cause} | "
            f"{rule.title.replace('|', '/')} | {params} |"
        )
    return "\n".join(lines)


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="Rule id")],
    rules: RulesOption = None,
    lang: LangOption = None,
) -> None:
    """Show one rule: description, checks, condition, remediation."""
    pack = _load_pack(rules)
    rule = pack.by_id().get(rule_id)
    if rule is None:
        raise UsageError(f"unknown rule id {rule_id!r}; see 'rules list'")
    language = _lang(lang)
    typer.echo(f"{rule.id} [{rule.severity}] {rule.category}: {rule.title}\n")
    typer.echo(rule.description.strip() + "\n")
    typer.echo(f"condition: {rule.condition_text}")
    for name, check in rule.raw_checks.items():
        typer.echo(f"  {name}: {check}")
    if rule.params:
        typer.echo(f"params: {rule.params}")
    typer.echo(
        f"\nremediation ({language}):\n{rule.remediation.get(language, rule.remediation['en'])}"
    )
    for reference in rule.references:
        typer.echo(f"  - {reference}")
    typer.echo(f"\nfile: {rule.path}")


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
    from analyzer.engine.ruletest import run_rule_tests

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


def _load_pack(extra: list[Path] | None) -> Any:
    from analyzer.engine.loader import default_rules_dir, load_rules

    return load_rules([default_rules_dir(), *(extra or [])])


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


def main(argv: list[str] | None = None) -> None:
    _register_optional_commands()
    try:
        code = app(args=argv, standalone_mode=False)
    except AnalyzerError as error:
        _err(f"error: {error}")
        sys.exit(error.exit_code)
    except Exception as error:  # click usage errors, or a bug
        sys.exit(_exit_for_exception(error))
    sys.exit(code if isinstance(code, int) else EXIT_CLEAN)


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


__all__ = ["InputRejected", "app", "main"]
