"""Evaluate the live checks compiled from the rule pack (``spec.json``) on live rows.

Nothing here knows a threshold or a text: ``spec.json`` is generated from ``rules/`` by
``analyzer.onvm.build`` (the same TOML the full tool's engine reads), with each rule's live
``table`` checks, its condition, params, severity, title, message and remediation (en, pt-BR),
and the translated title and message.
The semantics mirror ``analyzer/engine/evaluate.py`` for ``table = "config"`` checks: ``where``
is case-insensitive equality or ``~regex`` search, ``latest_by`` keeps the last row per value,
``compare`` orders numbers, versions or strings, ``mode = "none"`` inverts. Checks of other
kinds (log lines, bundle files) cannot be seen on the VM and count as false here; the rules
included are those whose condition can fire from live facts alone.

Verdicts: ``FAIL`` when the rule fires, ``CANNOT CHECK`` when none of the facts its live checks
look at was gathered (e.g. network probes without ``--network``), else ``PASS``.
"""

import fnmatch
import json
import pkgutil
import re
import string
from typing import Any  # noqa: F401  (type comments)

from analyzer.onvm import SPEC_NAME

PASS, FAIL, CANNOT = "PASS", "FAIL", "CANNOT CHECK"
SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")


def load_spec():
    # type: () -> dict
    """``spec.json`` shipped next to this module in the zipapp; in a source tree, built now."""
    try:
        data = pkgutil.get_data("analyzer.onvm", SPEC_NAME)
    except OSError:
        data = None
    if data is not None:
        return json.loads(data.decode("utf-8"))
    from analyzer.onvm.build import build_spec  # full tool only (source tree, tests)

    return build_spec()


# -- conditions -------------------------------------------------------------------------------


def evaluate_condition(node, values):
    # type: (list, dict) -> bool
    op = node[0]
    if op == "name":
        return bool(values.get(node[1], False))
    if op == "not":
        return not evaluate_condition(node[1], values)
    if op == "and":
        return all(evaluate_condition(n, values) for n in node[1:])
    if op == "or":
        return any(evaluate_condition(n, values) for n in node[1:])
    if op == "of":
        names = _glob_names(node[2], values)
        true = sum(1 for n in names if values[n])
        if node[1] == "all":
            return bool(names) and true == len(names)
        return true >= (1 if node[1] == "any" else int(node[1]))
    raise ValueError("unknown condition node %r" % (op,))


def positive_names(node, values):
    # type: (list, dict) -> list
    """Names whose truth made the condition true (message variables come from these)."""
    op = node[0]
    if op == "name":
        return [node[1]] if values.get(node[1]) else []
    if op == "not":
        return []
    if op == "and":
        return [n for sub in node[1:] for n in positive_names(sub, values)]
    if op == "or":
        return [n for sub in node[1:] if evaluate_condition(sub, values)
                for n in positive_names(sub, values)]
    if op == "of":
        if not evaluate_condition(node, values):
            return []
        return [n for n in _glob_names(node[2], values) if values[n]]
    return []


def _glob_names(pattern, values):
    # type: (str, dict) -> list
    return sorted(n for n in values if fnmatch.fnmatchcase(n, pattern))


# -- table checks -----------------------------------------------------------------------------


def _where(row, where):
    # type: (dict, dict) -> bool
    for name, wanted in where.items():
        actual = "" if row.get(name) is None else str(row.get(name))
        if wanted.startswith("!~"):
            if re.search(wanted[2:], actual) is not None:
                return False
        elif wanted.startswith("~"):
            if re.search(wanted[1:], actual) is None:
                return False
        elif actual.lower() != wanted.lower():
            return False
    return True


def _latest(rows, key):
    # type: (list, str) -> list
    newest = {}  # type: dict
    order = []
    for row in rows:  # live rows carry no timestamp: the last one of a name wins
        name = str(row.get(key, "")).lower()
        if name not in newest:
            order.append(name)
        newest[name] = row
    return [newest[name] for name in order]


def _version_key(text):
    # type: (str) -> list
    return [int(part) for part in re.findall(r"\d+", text)]


def _compare(row, comparison):
    # type: (dict, dict) -> bool
    actual = row.get(comparison["field"])
    op, value = comparison["op"], comparison["value"]
    if op in ("~", "!~"):
        found = re.search(value, "" if actual is None else str(actual))
        return (found is not None) == (op == "~")
    if actual is None or actual == "":
        return False
    kind = comparison.get("type", "string")
    if kind == "number":
        try:
            left, right = float(actual), float(value)
        except ValueError:
            return False
        order = (left > right) - (left < right)
    elif kind == "version":
        a, b = _version_key(str(actual)), _version_key(value)
        order = (a > b) - (a < b)
    else:
        order = (str(actual) > value) - (str(actual) < value)
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0,
            "==": order == 0, "!=": order != 0}[op]


def table_check(check, rows):
    # type: (dict, list) -> tuple
    """(value, count, captures of the last matching row) of one config-table check."""
    selected = [r for r in rows if _where(r, check["where"])]
    if check.get("latest_by"):
        selected = _latest(selected, check["latest_by"])
    compare = check.get("compare")
    matching = [r for r in selected if compare is None or _compare(r, compare)]
    if check.get("mode") == "none":
        return (not matching), (0 if matching else 1), {}
    if not matching:
        return False, 0, {}
    captures = dict((k, str(v)) for k, v in matching[-1].items()
                    if isinstance(v, (str, int, float)) and v != "")
    return True, len(matching), captures


# A check on a file's rows could be made when the file was read, even if it sets nothing the
# check looks at (the agent's default applies): these live rows say whether it was.
FILE_READ_ROWS = {"waagent_conf": ("conf.found", "~^true$"),
                  "dhcp_lease": ("dhcp.lease_files", "~^\\d+$")}


def _subject_rows(check, rows):
    # type: (dict, list) -> list
    """Rows the check is about (its ``source_kind``/``key`` filter), with a known value; for
    a check on waagent.conf or lease rows, else the live row saying the files were read."""
    subject = dict((k, v) for k, v in check["where"].items() if k in ("source_kind", "key"))
    found = [r for r in rows if _where(r, subject) and r.get("value") not in ("", "unknown")]
    read = FILE_READ_ROWS.get(str(check["where"].get("source_kind", "")).lower())
    if found or read is None:
        return found
    marker = {"source_kind": "live", "key": read[0], "value": read[1]}
    return [r for r in rows if _where(r, marker)]


class _Lenient(string.Formatter):
    def get_value(self, key, args, kwargs):  # type: ignore
        return kwargs.get(key, "") if isinstance(key, str) else ""


def fill(template, variables):
    # type: (str, dict) -> str
    try:
        return _Lenient().vformat(template, (), variables)
    except (ValueError, IndexError, KeyError):
        return template


def translated(rule, key, lang):
    # type: (dict, str, str) -> str
    """The rule's ``title`` or ``message`` in ``lang``; English when it has no translation
    (and for a spec.json written before translations were compiled in)."""
    text = rule.get("translations", {}).get(lang, {}).get(key)
    return text if text else rule[key]


def evaluate(spec, rows, lang="en", redact=None):
    # type: (dict, list, str, Any) -> list
    """One verdict dict per live rule of the spec, in the spec's order."""
    verdicts = []
    for rule in spec["rules"]:
        values = {}
        counts = {}
        captures = {}
        for name in rule["other_checks"]:
            values[name] = False
        for name, check in sorted(rule["live_checks"].items()):
            values[name], counts[name], captures[name] = table_check(check, rows)
        fired = evaluate_condition(rule["condition"], values)
        verdict = {"rule": rule["id"], "severity": rule["severity"],
                   "title": translated(rule, "title", lang),
                   "category": rule["category"], "status": PASS, "message": "",
                   "remediation": "", "facts": []}
        subjects = []
        for check in rule["live_checks"].values():
            for row in _subject_rows(check, rows):
                if row not in subjects:
                    subjects.append(row)
        verdict["facts"] = ["%s=%s" % (r["key"], r["value"]) for r in subjects]
        if fired:
            positive = []
            for name in positive_names(rule["condition"], values):
                if name not in positive:
                    positive.append(name)
            variables = dict(rule["params"])
            for name in positive:
                for key, value in captures.get(name, {}).items():
                    variables.setdefault(key, value)
            variables["count"] = max([counts.get(n, 0) for n in positive] or [0]) or 1
            variables["first_seen"] = variables["last_seen"] = "?"
            message = fill(translated(rule, "message", lang), variables)
            verdict.update(status=FAIL, message=redact(message) if redact else message,
                           remediation=rule["remediation"].get(lang)
                           or rule["remediation"]["en"])
        elif not subjects:
            verdict["status"] = CANNOT
            verdict["missing"] = sorted(set(
                check["where"].get("key", "") for check in rule["live_checks"].values()))
        verdicts.append(verdict)
    return verdicts
