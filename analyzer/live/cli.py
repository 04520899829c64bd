"""``self-check`` and ``collect``: thin typer wrappers over :mod:`analyzer.live.commands`."""

# No ``from __future__ import annotations`` here: typer would evaluate every command
# parameter's annotation string (``typing.get_type_hints``) at every start.

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from analyzer.bundle.model import Member, SourceKind
from analyzer.errors import Problem, UsageError


def live_members(
    root: Path, facts_json: bytes, limits: Any, problems: list[Problem]
) -> Iterator[Member]:
    """The live files under ``root`` as bundle members, plus the live facts as one member."""
    from analyzer.bundle.specs import LIVE_PATHS
    from analyzer.bundle.walker import walk_root

    yield from walk_root(root, LIVE_PATHS, limits, problems)
    yield Member(
        provenance="self-check.json",
        logical_path="self-check.json",
        kind=SourceKind.LIVE_FACTS,
        size=len(facts_json),
        opener=lambda: io.BytesIO(facts_json),
    )


def register(app: typer.Typer) -> None:
    app.command("self-check")(self_check)
    app.command("collect")(collect)


def _refuse_windows(root: Path, command: str) -> None:
    """self-check and collect read a Linux VM; a Windows system (or drive) gets the way to go
    instead of a report about missing Linux files."""
    windows_drive = (root / "WindowsAzure").is_dir() and not (root / "var/lib/waagent").exists()
    if sys.platform == "win32" or windows_drive:
        raise UsageError(
            f"{command} runs on Linux VMs only. For a Windows VM, zip C:\\WindowsAzure\\Logs and "
            "C:\\Packages\\Plugins (or run the guest agent's CollectGuestLogs.exe) and run "
            "`waagent-analyzer analyze` on the zip"
        )


def _one_core() -> None:
    """On the customer's running VM the analysis takes one core: no forked chunk planners
    beside the agent and the workload."""
    from analyzer.engine.bulk import set_plan_workers

    set_plan_workers(0)


def self_check(
    root: Annotated[Path, typer.Option("--root", help="Root of the VM's filesystem.")] = Path("/"),
    network: Annotated[
        bool,
        typer.Option(
            "--network", help="Also probe WireServer, IMDS and storage endpoints (opt-in)."
        ),
    ] = False,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target", help="Probe NAME=HOST:PORT instead of the default targets (repeatable)."
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy", help="HTTP proxy HOST:PORT for storage probes (default: waagent.conf)."
        ),
    ] = None,
    probe_timeout: Annotated[
        float, typer.Option("--probe-timeout", help="Seconds per probe.")
    ] = 3.0,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text, json, markdown or html.")
    ] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    fail_on: Annotated[str, typer.Option("--fail-on")] = "high",
    lang: Annotated[str | None, typer.Option("--lang")] = None,
) -> None:
    """Check this VM before opening a ticket: the same rules as `analyze`, on the live files."""
    from analyzer import cli
    from analyzer.live.commands import self_check_inputs
    from analyzer.live.probes import Proxy
    from analyzer.pipeline import AnalyzeOptions, analyze_members

    if not root.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    _refuse_windows(root, "self-check")
    if fmt not in ("text", "json", "markdown", "html"):
        raise UsageError(f"--format {fmt!r}: valid options: text, json, markdown, html")
    severity = cli.Severity(fail_on) if fail_on in cli.Severity.__members__ else None
    if severity is None:
        raise UsageError(
            f"--fail-on {fail_on!r}: valid options: {', '.join(cli.Severity.__members__)}"
        )
    language = cli._lang(lang)
    targets = [_parse_target(value) for value in target or []] or None
    proxy_override = Proxy(*_host_port(proxy)) if proxy else None
    from analyzer.cli_common import check_output_path
    from analyzer.engine.cache import restrict_writes
    from analyzer.live.coverage import missing_sources, passed_rules

    check_output_path(output)
    restrict_writes()  # self-check changes nothing on the VM, the user's cache included
    _one_core()
    facts = self_check_inputs(root, network, targets, proxy_override, timeout=probe_timeout)
    facts_json = facts.to_json().encode("utf-8")
    options = AnalyzeOptions(lang=language, timeline=fmt == "html")
    analysis = analyze_members(
        "self-check",
        lambda problems: live_members(root, facts_json, options.limits, problems),
        options,
    )
    report = analysis.report
    report.missing_sources = missing_sources(root)
    passed = passed_rules(analysis.outcomes, analysis.tables)
    report.passed = [rule.id for rule in passed]
    summary = _live_summary(facts, language, report.missing_sources, passed)
    if summary:
        # Before the report, so the text report still ends with its next-step sentence;
        # on stderr for machine formats, so their stdout stays a clean document.
        stream = sys.stdout if fmt == "text" and output is None else sys.stderr
        stream.write(summary + "\n\n")
    cli._render(analysis.report, fmt, language, output)
    raise typer.Exit(cli._exit_for(analysis.report, severity))


def _live_summary(facts: Any, lang: str, missing: list[str] | None = None,
                  passed: list[Any] | None = None) -> str:
    """Pass/fail per probed endpoint, the sources not found, the rules that passed and what
    could not be read, in the user's language."""
    from analyzer.report.i18n import t
    from analyzer.report.sanitize import for_terminal

    lines: list[str] = []
    if missing:
        lines.append(t("selfcheck.missing_heading", lang))
        lines.extend("  " + for_terminal(label) for label in missing)
    if passed:
        lines.append(t("selfcheck.passed_heading", lang, count=len(passed)))
        lines.extend("  " + for_terminal(f"PASS  {rule.id}  {_title(rule, lang)}")
                     for rule in passed)
    if facts.network_probed:
        lines.append(t("selfcheck.network_heading", lang))
        for result in facts.network:
            endpoint = f"{result.host}:{result.port}"
            if result.status == "ok":
                line = t("selfcheck.probe_ok", lang, target=result.name, endpoint=endpoint,
                         elapsed=f"{result.elapsed_ms:.0f}")
            else:
                line = t("selfcheck.probe_failed", lang, target=result.name, endpoint=endpoint,
                         status=result.status, error=result.error)
            if result.via_proxy:
                line += " " + t("selfcheck.via_proxy", lang, proxy=result.via_proxy)
            lines.append("  " + for_terminal(line))
    if facts.unreadable:
        lines.append(t("selfcheck.unreadable_heading", lang))
        lines.extend("  " + for_terminal(f"{path}: {reason}") for path, reason in facts.unreadable)
    return "\n".join(lines)


def _title(rule: Any, lang: str) -> str:
    translated = getattr(rule, "translations", {}).get(lang, {})
    return str(translated.get("title") or rule.title)


def collect(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Bundle to write: .tar.gz, .tgz or .zip "
                           "(a folder gets bundle.tar.gz).")
    ],
    root: Annotated[Path, typer.Option("--root", help="Root of the VM's filesystem.")] = Path("/"),
    since: Annotated[
        int | None, typer.Option("--since", help="Only rotated logs of the last N days.")
    ] = None,
    network: Annotated[
        bool, typer.Option("--network", help="Include network probes in self-check.json.")
    ] = False,
) -> None:
    """Build the bundle support needs, secrets removed, with the self-check facts inside."""
    from analyzer.live.commands import collect_bundle, format_collect_summary

    if not root.is_dir():
        raise UsageError(f"--root {root}: not a directory")
    _refuse_windows(root, "collect")
    if since is not None and since < 0:
        raise UsageError("--since must be a positive number of days")
    from analyzer.cli_common import check_output_path
    from analyzer.engine.cache import restrict_writes
    from analyzer.live.collect import archive_format

    try:
        archive_format(output)  # a name we cannot write is refused before any work
    except ValueError as error:
        raise UsageError(f"--output {error}") from None
    if not output.is_dir():
        check_output_path(output)
    restrict_writes()
    _one_core()
    summary, _ = collect_bundle(root, output, since_days=since, network=network)
    sys.stdout.write(format_collect_summary(summary) + "\n")


def _host_port(value: str) -> tuple[str, int]:
    from analyzer.onvm.probes import parse_host_port  # the zipapp's --target/--proxy reading

    parsed: tuple[str, int] | None = parse_host_port(value)
    if parsed is None:
        raise UsageError(f"{value!r}: expected HOST:PORT")
    return parsed


_TARGET_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")


def _parse_target(value: str) -> Any:
    from analyzer.live.probes import Target

    name, sep, address = value.partition("=")
    if not sep or not name:
        raise UsageError(f"--target {value!r}: expected NAME=HOST:PORT")
    if not _TARGET_NAME.fullmatch(name):
        raise UsageError(f"--target {value!r}: NAME is letters, digits and _ (at most 40)")
    host, port = _host_port(address)
    return Target(name, host, port, use_proxy=name.startswith("storage"))
