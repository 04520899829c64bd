"""Load and validate rule files; every error is collected as ``path:line:col: message``.

A rule pack loads even when some files are broken: the broken ones are reported (``analyze``
goes on with the others; ``rules validate`` exits 2).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.engine.checks import CHECK_KINDS
from analyzer.engine.condition import ConditionError, parse_condition
from analyzer.engine.durations import DurationError, parse_duration
from analyzer.engine.findings import CATEGORIES, SEVERITIES
from analyzer.engine.model import (
    Check,
    Comparison,
    Grading,
    Location,
    RecordFilter,
    Rule,
    RuleTest,
)
from analyzer.engine.regex import PatternError, compile_pattern
from analyzer.engine.template import template_problems

RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
LANGUAGES = ("en", "pt-BR")
COMPARE_OPS = ("<", "<=", ">", ">=", "==", "!=", "~", "!~", "between")
COMPARE_TYPES = ("version", "number", "string")
LEVELS = ("VERBOSE", "INFO", "WARNING", "ERROR", "")
SOURCE_KINDS = (
    "waagent_log",
    "command_execution_log",
    "vmsnapshot_extension_log",
    "vmsnapshot_shell_log",
    "extension_log",
    "extension_events",
    "system_log",
    "windows_agent_log",
    "windows_installer_log",
    "windows_plugin_log",
)
MAX_NESTING = 12
"""Tables/arrays inside each other in a rule file; real rules use at most 4."""
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PATTERN_KEYS = ("pattern", "then", "exclude", "unless_preceded_by", "near")
"""Check keys holding patterns: ``{name}`` there is a named pattern (inserted as it is) or a
parameter (inserted escaped, as a literal)."""
MAX_PATTERN_NESTING = 5

TOP_KEYS = {
    "id": str,
    "title": str,
    "category": str,
    "severity": str,
    "description": str,
    "message": str,
    "condition": str,
    "remediation": dict,
    "references": list,
    "tags": list,
    "params": dict,
    "checks": dict,
    "tests": list,
    "guide_cause": int,
    "evidence_limit": int,
    "patterns": dict,
    "severity_by": dict,
    "translations": dict,
}
RENAMED_KEYS = {"seed_cause": "guide_cause"}
"""Keys of older rule files and their new names (rejected with a pointer to the new one)."""
REQUIRED_TOP = (
    "id",
    "title",
    "category",
    "severity",
    "description",
    "message",
    "condition",
    "remediation",
    "checks",
)
TEST_KEYS = {"name", "expect", "files", "evidence_lines", "params"}


@dataclass(frozen=True)
class LoadError:
    location: Location
    message: str
    from_params: bool = False
    """Caused by a parameter override (``--param``), not by the rule file: a usage error."""

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class RulePack:
    rules: list[Rule] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    warnings: list[LoadError] = field(default_factory=list)

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}


class _Locator:
    """Finds the line/column of a key path in TOML source (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.headers = [
            (i, line.strip().replace(" ", ""))
            for i, line in enumerate(self.lines)
            if line.lstrip().startswith("[")
        ]

    def at(self, *keys: str | int) -> Location:
        header = self._header_line(keys)
        start = 0 if header is None else header + 1
        end = next((i for i, _ in self.headers if i >= start), len(self.lines))
        leaf = keys[-1] if keys and isinstance(keys[-1], str) else None
        if leaf is not None and (header is not None or len(keys) == 1):
            key_re = re.compile(rf'\s*"?{re.escape(leaf)}"?\s*=')
            for index in range(start, end):
                if key_re.match(self.lines[index]):
                    return Location(self.path, index + 1, self.lines[index].find(leaf) + 1)
        if header is not None:
            return Location(self.path, header + 1, 1)
        return Location(self.path, 1, 1)

    def _header_line(self, keys: tuple[str | int, ...]) -> int | None:
        if not keys or (len(keys) == 1 and keys[0] not in ("tests", "remediation", "params")):
            return None
        first = keys[0]
        if first == "tests":
            tests = [i for i, h in self.headers if h == "[[tests]]"]
            index = keys[1] if len(keys) > 1 and isinstance(keys[1], int) else 0
            return tests[index] if index < len(tests) else None
        if first == "checks" and len(keys) > 1:
            wanted = {f"[checks.{keys[1]}]", f'[checks."{keys[1]}"]'}
            return next((i for i, h in self.headers if h in wanted), None)
        return next((i for i, h in self.headers if h == f"[{first}]"), None)


def default_rules_dir() -> Path:
    """The rule pack shipped with the package (``analyzer/rules``), or the repo's ``rules/``."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "rules", package_dir.parent / "rules"):
        if candidate.is_dir():
            return candidate
    return package_dir / "rules"


def rule_files(directories: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for directory in directories:
        if directory.is_file():
            files.append(directory)
            continue
        files.extend(sorted(p for p in directory.rglob("*.toml") if p.name != "benign.toml"))
    return files


def load_rules(
    directories: Iterable[Path],
    overrides: dict[str, dict[str, Any]] | None = None,
    require_tests: bool = False,
) -> RulePack:
    pack = RulePack()
    seen: dict[str, Path] = {}
    for path in rule_files(directories):
        rule = _load_file(path, pack, (overrides or {}).get(_stem_id(path), {}), require_tests)
        if rule is None:
            continue
        if rule.id in seen:
            pack.errors.append(
                LoadError(
                    Location(path), f"duplicate rule id {rule.id!r} (also in {seen[rule.id]})"
                )
            )
            continue
        seen[rule.id] = path
        pack.rules.append(rule)
    known = {_stem_id(path) for path in rule_files(directories)} | set(seen)
    for rule_id in sorted(set(overrides or {}) - known):
        pack.errors.append(
            LoadError(Location(Path("--param")), f"unknown rule id {rule_id!r}", True))
    return pack


def _stem_id(path: Path) -> str:
    return path.stem


def _load_file(
    path: Path, pack: RulePack, overrides: dict[str, Any], require_tests: bool
) -> Rule | None:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except RecursionError:
        pack.errors.append(LoadError(Location(path), "invalid TOML: nested too deeply"))
        return None
    except tomllib.TOMLDecodeError as error:
        line, col = _decode_position(str(error))
        pack.errors.append(LoadError(Location(path, line, col), f"invalid TOML: {error}"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        pack.errors.append(LoadError(Location(path), f"cannot read rule file: {error}"))
        return None
    if _depth(data) > MAX_NESTING:
        pack.errors.append(LoadError(
            Location(path), f"tables and arrays nested more than {MAX_NESTING} levels deep"))
        return None
    builder = _RuleBuilder(path, _Locator(path, text), data, overrides)
    rule = builder.build()
    pack.errors.extend(builder.errors)
    if rule is not None:
        pack.warnings.extend(_test_coverage(rule, builder.locator, require_tests, pack))
    return rule if not builder.errors else None


def _depth(value: Any) -> int:
    """Nesting depth of tables and arrays, measured without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def _decode_position(message: str) -> tuple[int, int]:
    match = re.search(r"line (\d+), column (\d+)", message)
    return (int(match.group(1)), int(match.group(2))) if match else (1, 1)


def _test_coverage(
    rule: Rule, locator: _Locator, require_tests: bool, pack: RulePack
) -> list[LoadError]:
    fires = any(rule.id in t.expect for t in rule.tests)
    quiet = any(rule.id not in t.expect for t in rule.tests)
    problems = []
    if not fires:
        problems.append(LoadError(locator.at("tests"), "rule has no test case where it fires"))
    if not quiet:
        problems.append(
            LoadError(locator.at("tests"), "rule has no test case where it must not fire")
        )
    if require_tests:
        pack.errors.extend(problems)
        return []
    return problems


class _RuleBuilder:
    def __init__(
        self, path: Path, locator: _Locator, data: dict[str, Any], overrides: dict[str, Any]
    ) -> None:
        self.path = path
        self.locator = locator
        self.data = data
        self.overrides = overrides
        self.errors: list[LoadError] = []
        self.patterns: dict[str, str] = {}

    def error(self, message: str, *keys: str | int) -> None:
        self.errors.append(LoadError(self.locator.at(*keys), message))

    def param_error(self, message: str) -> None:
        self.errors.append(LoadError(self.locator.at("params"), message, True))

    def build(self) -> Rule | None:
        self._check_top_keys()
        if self.errors:
            return None
        rule_id = self.data["id"]
        self._check_header(rule_id)
        params = self._params()
        self.patterns = self._named_patterns()
        checks = {
            name: check
            for name, raw in self._raw_checks().items()
            if (check := self._check(name, raw, params)) is not None
        }
        condition = self._condition(set(checks))
        remediation = self._remediation()
        translations = self._translations()
        tests = self._tests()
        if self.errors or condition is None:
            return None
        return Rule(
            id=rule_id,
            title=self.data["title"],
            category=self.data["category"],
            severity=self.data["severity"],
            description=self.data["description"],
            message=self.data["message"],
            condition=condition,
            condition_text=self.data["condition"],
            checks=checks,
            remediation=remediation,
            references=list(self.data.get("references", [])),
            tags=list(self.data.get("tags", [])),
            params=params,
            guide_cause=self.data.get("guide_cause"),
            evidence_limit=self.data.get("evidence_limit", 3),
            grading=self._grading(set(checks)),
            tests=tests,
            path=self.path,
            raw_checks=self._raw_checks(),
            translations=translations,
        )

    def _check_top_keys(self) -> None:
        for key in REQUIRED_TOP:
            if key not in self.data:
                self.error(f"missing required key {key!r}")
        for key, value in self.data.items():
            expected = TOP_KEYS.get(key)
            if key in RENAMED_KEYS:
                self.error(f"{key!r} was renamed: write {RENAMED_KEYS[key]!r} instead", key)
            elif expected is None:
                self.error(f"unknown key {key!r}; valid keys: {', '.join(TOP_KEYS)}", key)
            elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                self.error(f"{key!r} must be a {expected.__name__}", key)

    def _check_header(self, rule_id: str) -> None:
        if not RULE_ID.fullmatch(rule_id):
            self.error(f"invalid rule id {rule_id!r} (letters, digits, '-', '_', '.')", "id")
        if self.path.stem != rule_id:
            self.error(f"file name must be the rule id: expected {rule_id}.toml", "id")
        if self.data["category"] not in CATEGORIES:
            self.error(
                f"unknown category {self.data['category']!r}; valid options: "
                f"{', '.join(CATEGORIES)}",
                "category",
            )
        if self.data["severity"] not in SEVERITIES:
            self.error(
                f"unknown severity {self.data['severity']!r}; valid options: "
                f"{', '.join(SEVERITIES)}",
                "severity",
            )
        cause = self.data.get("guide_cause")
        if cause is not None and cause not in range(1, 6):
            self.error(
                "guide_cause must be 1..5 (a cause of the troubleshooting guide)", "guide_cause"
            )
        for problem in template_problems(self.data["message"]):
            self.error(problem, "message")
        for key in ("references", "tags"):
            if not all(isinstance(v, str) for v in self.data.get(key, [])):
                self.error(f"{key!r} must be a list of strings", key)

    def _params(self) -> dict[str, Any]:
        params = dict(self.data.get("params", {}))
        for name, value in self.overrides.items():
            if name not in params:
                self.param_error(
                    f"unknown parameter {name!r}; valid options: {', '.join(params) or '(none)'}"
                )
                continue
            try:
                params[name] = _coerce_like(params[name], value)
            except ValueError:
                self.param_error(
                    f"--param {name}: must be "
                    f"{'an integer' if isinstance(params[name], int) else 'a number'} like its "
                    f"default {params[name]!r}, got {value!r}"
                )
        return params

    def _named_patterns(self) -> dict[str, str]:
        """``[patterns]``: name -> pattern, with ``{other}`` references expanded."""
        raw = self.data.get("patterns", {})
        named: dict[str, str] = {}
        for name, value in raw.items():
            if not isinstance(value, str) or not value:
                self.error(f"patterns.{name} must be a non-empty string", "patterns", name)
                continue
            if not RULE_ID.fullmatch(name) or name in self.data.get("params", {}):
                self.error(f"patterns.{name}: a plain name that is not also a parameter",
                           "patterns", name)
            named[name] = value
        for _ in range(MAX_PATTERN_NESTING):
            expanded = {name: _expand_named(value, named) for name, value in named.items()}
            if expanded == named:
                break
            named = expanded
        else:
            self.error(f"named patterns refer to each other more than {MAX_PATTERN_NESTING} "
                       "levels deep (or in a loop)", "patterns")
        return named

    def _grading(self, names: set[str]) -> Grading | None:
        raw = self.data.get("severity_by")
        if raw is None:
            return None
        keys = ("severity_by",)
        grading = Grading()
        for key, value in raw.items():
            if key == "count" and isinstance(value, dict):
                for severity, least in value.items():
                    self._severity(severity, keys)
                    grading.count[severity] = int(self.number(least, keys, int))
            elif key == "lasting" and isinstance(value, dict):
                for severity, span in value.items():
                    self._severity(severity, keys)
                    grading.lasting[severity] = self.duration(span, keys)
            elif key == "recovered_when" and isinstance(value, str):
                if value not in names:
                    self.error(f"severity_by.recovered_when: unknown check {value!r}", *keys)
                grading.recovered_when = value
            elif key == "recovered" and isinstance(value, str):
                self._severity(value, keys)
                grading.recovered = value
            else:
                self.error(f"severity_by.{key}: expected count = {{severity = n}}, lasting = "
                           "{severity = \"24h\"}, recovered_when = \"check\", recovered = "
                           "\"severity\"", *keys)
        if bool(grading.recovered) != bool(grading.recovered_when):
            self.error("severity_by: recovered and recovered_when go together", *keys)
        return grading

    def _severity(self, value: str, keys: tuple[str | int, ...]) -> None:
        if value not in SEVERITIES:
            self.error(f"unknown severity {value!r}; valid options: {', '.join(SEVERITIES)}",
                       *keys)

    def _raw_checks(self) -> dict[str, dict[str, Any]]:
        checks = self.data.get("checks", {})
        return {k: v for k, v in checks.items() if isinstance(v, dict)}

    def _condition(self, names: set[str]) -> Any:
        text = self.data["condition"]
        try:
            condition = parse_condition(text)
        except ConditionError as error:
            location = self.locator.at("condition")
            self.errors.append(
                LoadError(
                    Location(location.path, location.line, location.col + error.col + 12),
                    str(error),
                )
            )
            return None
        for name in condition.names():
            if "*" in name or "?" in name:
                continue
            if name not in names:
                self.error(
                    f"condition refers to unknown check {name!r}; checks: "
                    f"{', '.join(sorted(names)) or '(none)'}",
                    "condition",
                )
        return condition

    def _remediation(self) -> dict[str, str]:
        remediation = self.data["remediation"]
        for lang in LANGUAGES:
            if not isinstance(remediation.get(lang), str) or not remediation[lang].strip():
                self.error(f"remediation needs a non-empty {lang!r} text", "remediation")
        for lang in remediation:
            if lang not in LANGUAGES:
                self.error(
                    f"unknown remediation language {lang!r}; valid options: {', '.join(LANGUAGES)}",
                    "remediation",
                    lang,
                )
        return {k: v for k, v in remediation.items() if isinstance(v, str)}

    def _translations(self) -> dict[str, dict[str, str]]:
        """Optional ``[translations.<lang>]`` tables: ``title`` and ``message`` in another
        language (English stays in the top-level keys)."""
        raw = self.data.get("translations", {})
        out: dict[str, dict[str, str]] = {}
        for lang, table in raw.items():
            if lang not in LANGUAGES or lang == "en":
                self.error(
                    f"unknown translation language {lang!r}; valid options: "
                    f"{', '.join(x for x in LANGUAGES if x != 'en')}",
                    "translations",
                    lang,
                )
                continue
            if not isinstance(table, dict):
                self.error("a translation must be a table of title/message", "translations", lang)
                continue
            for key, value in table.items():
                if key not in ("title", "message") or not isinstance(value, str) or not value:
                    self.error(
                        f"translation key {key!r} must be 'title' or 'message' with a text",
                        "translations",
                        lang,
                        key,
                    )
            unknown = set(_PARAM.findall(str(table.get("message", "")))) - set(
                _PARAM.findall(str(self.data.get("message", "")))
            )
            if unknown:
                self.error(
                    f"translated message uses {sorted(unknown)} that the English message has not",
                    "translations",
                    lang,
                    "message",
                )
            out[lang] = {k: v for k, v in table.items() if k in ("title", "message")
                         and isinstance(v, str) and v}
        return out

    # -- checks ------------------------------------------------------------------------------

    def _check(self, name: str, raw: dict[str, Any], params: dict[str, Any]) -> Check | None:
        kind_name = raw.get("kind", "log")
        where = ("checks", name)
        kind = CHECK_KINDS.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            self.error(
                f"unknown check kind {kind_name!r}; valid options: {', '.join(CHECK_KINDS)}",
                *where,
                "kind",
            )
            return None
        for key in raw:
            if key not in kind.keys:
                self.error(
                    f"unknown key {key!r} for a {kind_name} check; valid keys: "
                    f"{', '.join(sorted(kind.keys))}",
                    *where,
                    key,
                )
        values = {k: self._substitute(v, params, (*where, k)) for k, v in raw.items()}
        return kind.build(self, name, values, self.locator.at(*where))

    def _substitute(self, value: Any, params: dict[str, Any], keys: tuple[str | int, ...]) -> Any:
        if isinstance(value, str):
            whole = _PARAM.fullmatch(value)
            if whole and whole.group(1) in params:
                return params[whole.group(1)]
            return _PARAM.sub(lambda m: self._param_text(m, params, keys), value)
        if isinstance(value, list):
            return [self._substitute(v, params, keys) for v in value]
        if isinstance(value, dict):
            return {k: self._substitute(v, params, keys) for k, v in value.items()}
        return value

    def _param_text(
        self, match: re.Match[str], params: dict[str, Any], keys: tuple[str | int, ...]
    ) -> str:
        name = match.group(1)
        if keys[-1] in PATTERN_KEYS and name in self.patterns:
            return f"(?:{self.patterns[name]})"
        if name not in params:
            self.error(
                f"unknown parameter {{{name}}}; valid options: {', '.join(params) or '(none)'}",
                *keys,
            )
            return match.group(0)
        value = params[name]
        return re.escape(str(value)) if keys[-1] in PATTERN_KEYS else str(value)

    def record_filter(self, values: dict[str, Any], where: tuple[str, str]) -> RecordFilter:
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("sources", "levels", "threads", "prefixes", "extensions", "exclude_extensions"):
            raw = values.get(key, [])
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                self.error(f"{key!r} must be a list of strings", *where, key)
                raw = []
            lists[key] = tuple(raw)
        for source in lists["sources"]:
            if source not in SOURCE_KINDS:
                self.error(
                    f"unknown source {source!r}; valid options: {', '.join(SOURCE_KINDS)}",
                    *where,
                    "sources",
                )
        for level in lists["levels"]:
            if level not in LEVELS:
                self.error(
                    f"unknown level {level!r}; valid options: VERBOSE, INFO, WARNING, "
                    "ERROR, '' (no level)",
                    *where,
                    "levels",
                )
        cased = values.get("cased", False) is True
        field_filters = self.field_filters(values.get("where", {}), (*where, "where"), cased)
        emitters = values.get("emitted_by", [])
        if isinstance(emitters, str):
            emitters = [emitters]
        if not isinstance(emitters, list) or not all(isinstance(v, str) for v in emitters):
            self.error("'emitted_by' must be an extension name or a list of them", *where,
                       "emitted_by")
            emitters = []
        # "Records emitted by extension X in any log": without sources, every log kind.
        default_sources = SOURCE_KINDS if emitters else ("waagent_log",)
        return RecordFilter(
            sources=lists["sources"] or default_sources,
            levels=lists["levels"],
            threads=lists["threads"],
            prefixes=lists["prefixes"],
            extensions=tuple(e.lower() for e in lists["extensions"]),
            exclude_extensions=tuple(e.lower() for e in lists["exclude_extensions"]),
            where=field_filters,
            emitted_by=tuple(e.lower() for e in emitters),
        )

    def field_filters(self, raw: Any, keys: tuple[str | int, ...],
                      cased: bool = False) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.error("'where' must be a table of field = value", *keys)
            return {}
        result: dict[str, str] = {}
        for name, value in raw.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                self.error(f"where.{name} must be a string or number", *keys)
                continue
            text = str(value)
            for operator in ("!~", "~"):
                if text.startswith(operator):
                    body = self.pattern(text[len(operator):], keys)
                    text = operator + (body if cased else "(?i)" + body)
                    break
            result[name] = text
        return result

    def pattern(self, pattern: Any, keys: tuple[str | int, ...]) -> str:
        if not isinstance(pattern, str):
            self.error("pattern must be a string", *keys)
            return ""
        if not pattern:
            return ""
        try:
            compiled = compile_pattern(pattern)
        except PatternError as error:
            self.error(
                f"pattern not accepted by the linear-time regex engine (RE2: no "
                f"backreferences or lookaround): {error}",
                *keys,
            )
            return ""
        if len(pattern) > 4000:
            self.error("pattern longer than 4000 characters", *keys)
        if keys[-1] in ("pattern", "then") and compiled.search("") is not None:
            self.error("pattern matches the empty string, so it would match every record; "
                       "make it require at least one character", *keys)
            return ""
        return pattern

    def number(self, value: Any, keys: tuple[str | int, ...], kind: type) -> Any:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            self.error(f"{keys[-1]!r} must be a number, got {value!r}", *keys)
            return kind(1)
        if isinstance(number, float) and not math.isfinite(number):
            self.error(f"{keys[-1]!r} must be a finite number, got {value!r}", *keys)
            return kind(1)
        if number < 0:
            self.error(f"{keys[-1]!r} must not be negative", *keys)
        return number

    def optional_number(self, value: Any, keys: tuple[str | int, ...]) -> float | None:
        return None if value is None else float(self.number(value, keys, float))

    def duration(self, value: Any, keys: tuple[str | int, ...]) -> float:
        """A duration string (``"72h"``) in seconds."""
        if not isinstance(value, str):
            self.error(f"{keys[-1]!r} must be a duration string like \"72h\", \"30m\" or "
                       f"\"7d\", got {value!r}", *keys)
            return 1.0
        try:
            return parse_duration(value)
        except DurationError as error:
            self.error(f"{keys[-1]!r}: {error}", *keys)
            return 1.0

    def comparison(self, raw: Any, keys: tuple[str | int, ...]) -> Comparison | None:
        if not isinstance(raw, dict) or not {"field", "op", "value"} <= set(raw):
            self.error("compare needs field, op and value", *keys)
            return None
        if raw["op"] not in COMPARE_OPS:
            self.error(f"unknown op {raw['op']!r}; valid options: {', '.join(COMPARE_OPS)}", *keys)
        if raw["op"] in ("~", "!~"):
            self.pattern(str(raw["value"]), keys)
        kind = raw.get("type", "string")
        if kind not in COMPARE_TYPES:
            self.error(f"unknown type {kind!r}; valid options: {', '.join(COMPARE_TYPES)}", *keys)
        if raw["op"] == "between":
            bounds = raw["value"]
            if not isinstance(bounds, list) or len(bounds) != 2:
                self.error("op = \"between\" needs value = [low, high] (both included)", *keys)
                return None
            return Comparison(str(raw["field"]), "between", str(bounds[0]), kind,
                              upper=str(bounds[1]))
        return Comparison(str(raw["field"]), raw["op"], str(raw["value"]), kind)

    # -- tests -------------------------------------------------------------------------------

    def _tests(self) -> list[RuleTest]:
        tests: list[RuleTest] = []
        for index, raw in enumerate(self.data.get("tests", [])):
            if not isinstance(raw, dict):
                self.error("each [[tests]] entry must be a table", "tests", index)
                continue
            for key in raw:
                if key not in TEST_KEYS:
                    self.error(
                        f"unknown test key {key!r}; valid keys: {', '.join(sorted(TEST_KEYS))}",
                        "tests",
                        index,
                        key,
                    )
            files = raw.get("files", {})
            expect = raw.get("expect")
            if not isinstance(expect, list) or not all(isinstance(e, str) for e in expect):
                self.error("test 'expect' must be a list of rule ids", "tests", index, "expect")
                expect = []
            if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
                self.error("test 'files' must map paths to text", "tests", index, "files")
                files = {}
            tests.append(
                RuleTest(
                    name=str(raw.get("name", f"case {index + 1}")),
                    expect=expect,
                    files=files,
                    evidence_lines=list(raw.get("evidence_lines", [])),
                    params=dict(raw.get("params", {})),
                    location=self.locator.at("tests", index),
                )
            )
        return tests


def _expand_named(pattern: str, named: dict[str, str]) -> str:
    """One level of ``{name}`` references to named patterns (others stay as they are)."""
    return _PARAM.sub(
        lambda m: f"(?:{named[m.group(1)]})" if m.group(1) in named else m.group(0), pattern)


def _coerce_like(default: Any, value: Any) -> Any:
    """Parameters given on the command line are strings; make them the default's type."""
    if isinstance(value, str):
        if isinstance(default, bool):
            return value.lower() in ("1", "true", "yes", "y")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    return value
