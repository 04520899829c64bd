"""The fleet view of a results folder: which problems, how many bundles, which ones failed.

``by``:

* ``category`` / ``rule``: one row per category (rule) found, with the bundles it affects and
  their share of the analysed bundles. Fleet findings count for the bundles they name.
* ``agent_version`` (goal-state agent), ``extension_version`` (VMSnapshotLinux),
  ``deployment``: one row per value, with its share of the fleet and how many of its bundles
  have a finding above ``info``.

Every string that came from a bundle passes through the sink's sanitizer: ``for_terminal`` for
text, ``md_cell`` (which builds on it) for Markdown, ``for_csv`` for CSV; JSON is written with
``ensure_ascii`` so no raw control or bidi character reaches a terminal that prints it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.batch.model import NOT_A_BUNDLE, OK
from analyzer.batch.store import ResultStore
from analyzer.errors import UsageError
from analyzer.report.model import SEVERITY_RANK

if TYPE_CHECKING:
    import pandas as pd

GROUPINGS = ("category", "rule", "agent_version", "extension_version", "deployment")
FORMATS = ("text", "csv", "json", "markdown")
SCHEMA = "waagent-analyzer/batch-summary/v1"
UNKNOWN = "(unknown)"
_ATTRIBUTE_COLUMNS = {
    "agent_version": "goal_state_agent_version",
    "extension_version": "vmsnapshot_version",
    "deployment": "deployment",
}
MAX_FAILED_SHOWN = 50
"""Text and Markdown list this many failed bundles (CSV and JSON list them all)."""


@dataclass
class FleetView:
    by: str
    totals: dict[str, int]
    columns: list[str]
    groups: list[dict[str, Any]]
    fleet: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    hints: list[dict[str, Any]] = field(default_factory=list)
    """Groups of findings below ``min_severity`` (e.g. "verbose logging off"): listed apart
    so they never rank a category above real problems."""
    min_severity: str = "medium"
    unreadable: list[str] = field(default_factory=list)
    """Result files that could not be read (the view covers the others)."""


def summary(results_dir: str | Path, by: str = "category", fmt: str = "text",
            min_severity: str = "medium") -> str:
    """Render the fleet view of ``results_dir`` (see module doc)."""
    if min_severity not in SEVERITY_RANK:
        raise UsageError(f"--min-severity {min_severity!r}: valid options: "
                         f"{', '.join(SEVERITY_RANK)}")
    if by not in GROUPINGS:
        raise UsageError(f"--by {by!r}: valid options: {', '.join(GROUPINGS)}")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: valid options: {', '.join(FORMATS)}")
    view = build_view(results_dir, by, min_severity)
    renderers: dict[str, Callable[[FleetView], str]] = {
        "text": render_text, "csv": render_csv, "json": render_json, "markdown": render_markdown,
    }
    return renderers[fmt](view)


def build_view(results_dir: str | Path, by: str, min_severity: str = "medium") -> FleetView:
    store = ResultStore(Path(results_dir))
    if not (store.root / "bundles").is_dir():
        raise UsageError(f"{results_dir}: not a batch results folder (no bundles/ table)")
    bundles = store.read("bundles").to_pandas()
    findings = store.read("findings").to_pandas()
    fleet = store.read("fleet_findings").to_pandas()
    analysed = bundles[bundles["status"] == OK]
    totals = {"bundles": len(bundles), "analysed": len(analysed),
              **{s: int((bundles["status"] == s).sum())
                 for s in ("failed", "rejected", "timeout", NOT_A_BUNDLE)},
              "findings": len(findings), "fleet_findings": len(fleet),
              "unreadable_files": len(store.unreadable)}
    hints: list[dict[str, Any]] = []
    if by in ("category", "rule"):
        floor = SEVERITY_RANK[min_severity]
        ranked = findings["severity"].map(lambda s: SEVERITY_RANK.get(s, -1)) >= floor
        columns, groups = _finding_groups(findings[ranked], fleet, by, len(analysed))
        _, hints = _finding_groups(findings[~ranked], fleet.iloc[0:0], by, len(analysed))
    else:
        columns, groups = _attribute_groups(analysed, findings, _ATTRIBUTE_COLUMNS[by])
    failed = bundles[bundles["status"] != OK].sort_values(["status", "path"])
    return FleetView(by, totals, columns, groups, _fleet_rows(fleet),
                     [{"path": str(r["path"]), "status": str(r["status"]),
                       "error": str(r["error"] or "")} for r in failed.to_dict("records")],
                     hints=hints, min_severity=min_severity, unreadable=list(store.unreadable))


def _totals_line(totals: dict[str, int]) -> str:
    return (f"{totals['bundles']} entries: {totals['analysed']} analysed (ok), "
            f"{totals['failed']} failed, {totals['rejected']} rejected, {totals['timeout']} "
            f"timed out, {totals[NOT_A_BUNDLE]} skipped (not a bundle); {totals['findings']} "
            f"findings, {totals['fleet_findings']} fleet findings")


def _finding_groups(findings: pd.DataFrame, fleet: pd.DataFrame, by: str,
                    analysed: int) -> tuple[list[str], list[dict[str, Any]]]:
    import pandas as pd

    rows = findings[["sha256", "rule", "category", "severity", "title", "count"]]
    if len(fleet):
        # A fleet finding affects every bundle it names: one row per (finding, bundle).
        exploded = fleet.explode("bundles").rename(columns={"bundles": "sha256"})
        exploded["count"] = exploded["overlaps"]
        rows = pd.concat([rows, exploded[rows.columns]], ignore_index=True)
    groups: list[dict[str, Any]] = []
    for key, group in rows.groupby(by, sort=False):
        affected = int(group["sha256"].nunique())
        row: dict[str, Any] = {"key": str(key), "bundles": affected,
               "share": affected / analysed if analysed else 0.0,
               "occurrences": int(group["count"].sum()),
               "worst_severity": _worst(group["severity"])}
        if by == "rule":
            row["category"] = str(group["category"].iloc[0])
            row["title"] = str(group["title"].iloc[0])
        groups.append(row)
    groups.sort(key=lambda g: (-SEVERITY_RANK.get(g["worst_severity"], -1), -g["bundles"],
                               str(g["key"])))
    columns = ["key", "bundles", "share", "occurrences", "worst_severity"]
    if by == "rule":
        columns += ["category", "title"]
    return columns, groups


def _attribute_groups(analysed: pd.DataFrame, findings: pd.DataFrame,
                      column: str) -> tuple[list[str], list[dict[str, Any]]]:
    relevant = findings[findings["severity"] != "info"]
    groups: list[dict[str, Any]] = []
    for key, group in analysed.groupby(analysed[column].fillna("").replace("", UNKNOWN)):
        shas = set(group["sha256"])
        mine = relevant[relevant["sha256"].isin(shas)]
        affected = int(mine["sha256"].nunique())
        top = mine["rule"].value_counts().head(3)
        groups.append({"key": str(key), "bundles": len(group),
                       "share": len(group) / len(analysed) if len(analysed) else 0.0,
                       "affected": affected, "affected_share": affected / len(group),
                       "worst_severity": _worst(mine["severity"]),
                       "top_rules": ", ".join(f"{rule} ({n})" for rule, n in top.items())})
    groups.sort(key=lambda g: (-g["bundles"], str(g["key"])))
    return ["key", "bundles", "share", "affected", "affected_share", "worst_severity",
            "top_rules"], groups


def _worst(severities: pd.Series) -> str:
    present = [s for s in severities.dropna().unique() if s in SEVERITY_RANK]
    return max(present, key=SEVERITY_RANK.__getitem__) if present else ""


def _fleet_rows(fleet: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for item in fleet.sort_values(["rule", "deployment"]).to_dict("records"):
        rows.append({"rule": item["rule"], "category": item["category"],
                     "severity": item["severity"], "deployment": item["deployment"],
                     "vms": int(item["vms"]), "overlaps": int(item["overlaps"]),
                     "first_seen": _stamp(item["first_seen"]),
                     "last_seen": _stamp(item["last_seen"]),
                     "bundles": [str(sha) for sha in item["bundles"]],
                     "message": item["message"], "remediation": item["remediation"]})
    return rows


def _stamp(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None and value == value else ""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1%}"
    return "" if value is None else str(value)


# -- renderers --------------------------------------------------------------------------------


def render_text(view: FleetView) -> str:
    from analyzer.report.sanitize import for_terminal

    lines = [_totals_line(view.totals), ""]
    if view.unreadable:
        lines += [f"Unreadable result files ({len(view.unreadable)}), left out of this view:"]
        lines += [for_terminal("  " + item) for item in view.unreadable] + [""]
    ranked = f" ({view.min_severity} and above)" if view.by in ("category", "rule") else ""
    lines.append(f"By {view.by.replace('_', ' ')}{ranked}:")
    table = [[c.replace("_", " ") for c in view.columns]]
    table += [[for_terminal(_cell(g.get(c))) for c in view.columns] for g in view.groups]
    lines += _aligned(table) if view.groups else ["  (no findings)"]
    if view.hints:
        lines += ["", f"Hints and low-severity findings (below {view.min_severity}):"]
        hint_table = [[c.replace("_", " ") for c in view.columns]]
        hint_table += [[for_terminal(_cell(g.get(c))) for c in view.columns] for g in view.hints]
        lines += _aligned(hint_table)
    if view.fleet:
        lines += ["", "Fleet findings:"]
        for item in view.fleet:
            lines.append(for_terminal(f"  [{item['severity']}] {item['rule']} "
                                      f"{item['deployment']}: {item['message']}"))
            lines.append("    bundles: " + ", ".join(sha[:12] for sha in item["bundles"]))
    if view.failed:
        lines += ["", f"Not analysed ({len(view.failed)}):"]
        for item in view.failed[:MAX_FAILED_SHOWN]:
            lines.append(for_terminal(f"  {item['status']:<8} {item['path']}: {item['error']}"))
        if len(view.failed) > MAX_FAILED_SHOWN:
            lines.append(f"  ... {len(view.failed) - MAX_FAILED_SHOWN} more (see --format csv)")
    return "\n".join(lines) + "\n"


def _aligned(table: list[list[str]]) -> list[str]:
    widths = [min(60, max(len(row[i]) for row in table)) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = (cell[:60].ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def render_markdown(view: FleetView) -> str:
    from analyzer.report.markdown import md_cell, md_inline

    lines = ["# Batch summary", "", md_inline(_totals_line(view.totals)) + ".", ""]
    if view.unreadable:
        lines += [f"Unreadable result files ({len(view.unreadable)}), left out of this view:", ""]
        lines += [f"- {md_inline(item, line_start=False)}" for item in view.unreadable] + [""]
    lines += [f"## By {view.by.replace('_', ' ')}", ""]
    if view.groups:
        lines.append("| " + " | ".join(c.replace("_", " ") for c in view.columns) + " |")
        lines.append("|" + "---|" * len(view.columns))
        for group in view.groups:
            lines.append("| " + " | ".join(md_cell(_cell(group.get(c))) for c in view.columns)
                         + " |")
    else:
        lines.append("No findings.")
    if view.hints:
        lines += ["", f"## Hints and low-severity findings (below {view.min_severity})", ""]
        lines.append("| " + " | ".join(c.replace("_", " ") for c in view.columns) + " |")
        lines.append("|" + "---|" * len(view.columns))
        for group in view.hints:
            lines.append("| " + " | ".join(md_cell(_cell(group.get(c))) for c in view.columns)
                         + " |")
    if view.fleet:
        lines += ["", "## Fleet findings", ""]
        for item in view.fleet:
            lines.append(f"- **{md_inline(item['rule'], line_start=False)}** "
                         f"({md_inline(item['severity'], line_start=False)}): "
                         f"{md_inline(item['message'], line_start=False)}")
    if view.failed:
        lines += ["", "## Not analysed", "", "| status | path | error |", "|---|---|---|"]
        for item in view.failed[:MAX_FAILED_SHOWN]:
            lines.append(f"| {md_cell(item['status'])} | {md_cell(item['path'])} | "
                         f"{md_cell(item['error'])} |")
        if len(view.failed) > MAX_FAILED_SHOWN:
            lines += ["", f"... and {len(view.failed) - MAX_FAILED_SHOWN} more."]
    return "\n".join(lines) + "\n"


def render_json(view: FleetView) -> str:
    document = {"schema": SCHEMA, "by": view.by, "totals": view.totals,
                "min_severity": view.min_severity,
                "groups": [{c: _plain(g.get(c)) for c in view.columns} for g in view.groups],
                "hints": [{c: _plain(g.get(c)) for c in view.columns} for g in view.hints],
                "fleet_findings": view.fleet, "failed": view.failed,
                "unreadable_files": view.unreadable}
    return json.dumps(document, indent=2, ensure_ascii=True, default=str) + "\n"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so ``json`` writes them as numbers."""
    return value.item() if hasattr(value, "item") else value


CSV_COLUMNS = ["section", "key", "bundles", "share", "occurrences", "affected", "affected_share",
               "worst_severity", "category", "title", "top_rules", "detail"]


def render_csv(view: FleetView) -> str:
    """One CSV; ``section`` says what a row is: ``group``, ``fleet`` or ``failed``."""
    from analyzer.report.sanitize import for_csv

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for group in view.groups:
        row = {"section": "group", **{c: _plain(group.get(c)) for c in view.columns}}
        writer.writerow({k: for_csv(v) for k, v in row.items()})
    for item in view.fleet:
        writer.writerow({k: for_csv(v) for k, v in {
            "section": "fleet", "key": item["deployment"], "bundles": len(item["bundles"]),
            "occurrences": item["overlaps"], "worst_severity": item["severity"],
            "category": item["category"], "title": item["rule"],
            "detail": item["message"]}.items()})
    for group in view.hints:
        row = {"section": "hint", **{c: _plain(group.get(c)) for c in view.columns}}
        writer.writerow({k: for_csv(v) for k, v in row.items()})
    for item in view.failed:
        writer.writerow({k: for_csv(v) for k, v in {
            "section": "failed", "key": item["path"], "worst_severity": "",
            "category": item["status"], "detail": item["error"]}.items()})
    return buffer.getvalue()
