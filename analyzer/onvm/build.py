"""Generate ``spec.json`` from the rule pack and write the on-VM zipapp (deterministic).

    python -m analyzer.onvm.build [--output dist/waagent-selfcheck.pyz] [--rules DIR]

Runs with the full tool's Python (3.11+), standard library only, so the wheel's build hook can
call it in an isolated build environment where only hatchling is installed. What it compiles:

* every rule with a ``table = "config"`` check on rows the VM gives (``source_kind = "live"``,
  and ``waagent_conf`` / ``dhcp_lease``: the self-check reads those files with the bundle
  parsers' rules, ``onvm/rows.py`` ``file_rows``) whose condition can be true from them
  alone (the others need log lines and are left to ``analyze``):
  its id, severity, category, title, message, remediation (en, pt-BR), the translated title
  and message (``[translations.pt-BR]``), params, the live checks
  with params substituted, and its condition as a small JSON tree;
* the redaction patterns and step triggers of ``analyzer/redact.py`` (possessive quantifiers,
  which ``re`` supports only from 3.11, are rewritten to plain ones).

The zipapp holds ``__main__.py``, a stub ``analyzer/__init__.py``, ``analyzer/safe_open.py``
and ``analyzer/onvm/*.py`` (not this file) with ``spec.json``: fixed order, fixed timestamps,
so the same sources give the same bytes.
"""

import argparse
import hashlib
import io
import itertools
import json
import re
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
ANALYZER_DIR = PACKAGE_DIR.parent
SPEC_SCHEMA = "waagent-analyzer/onvm-spec/v1"
MAX_SIZE = 1024 * 1024
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SHEBANG = b"#!/usr/bin/env python3\n"
_MAIN = (
    '"""waagent self-check: run with the VM\'s python3 (3.6+); --help for options."""\n'
    "import sys\n"
    "if sys.version_info < (3, 6):\n"
    '    sys.stderr.write("waagent-selfcheck needs Python 3.6 or newer (python3)\\n")\n'
    "    sys.exit(2)\n"
    "from analyzer.onvm.main import main\n"
    "sys.exit(main())\n"
)
_SHIPPED_MODULES = ("__init__.py", "checks.py", "collect.py", "facts.py", "formats.py", "main.py",
                    "probes.py", "redact.py", "rows.py", "specs.py", "texts.py")


class BuildError(Exception):
    """The rule pack or redact.py uses something the on-VM evaluator cannot reproduce."""


def default_rules_dir() -> Path:
    for candidate in (ANALYZER_DIR / "rules", ANALYZER_DIR.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise BuildError("rule pack not found next to the analyzer package")


# -- conditions -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([A-Za-z0-9_*?]+))")


def parse_condition(text: str) -> list[Any]:
    """The rule condition grammar (``not`` > ``and`` > ``or``, ``N|all|any of glob``) as
    nested lists: ``["or", a, b]``, ``["not", a]``, ``["name", n]``, ``["of", q, glob]``."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise BuildError(f"condition {text!r}: unexpected {text[pos:]!r}")
            break
        tokens.append(match.group(match.lastindex or 0))
        pos = match.end()
    stream = _Tokens(tokens, text)
    node = _parse_or(stream)
    if stream.peek() is not None:
        raise BuildError(f"condition {text!r}: unexpected {stream.peek()!r}")
    return node


class _Tokens:
    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens, self.index, self.text = tokens, 0, text

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise BuildError(f"condition {self.text!r}: unexpected end")
        self.index += 1
        return token


def _parse_or(s: _Tokens) -> list[Any]:
    parts = [_parse_and(s)]
    while s.peek() == "or":
        s.take()
        parts.append(_parse_and(s))
    return parts[0] if len(parts) == 1 else ["or", *parts]


def _parse_and(s: _Tokens) -> list[Any]:
    parts = [_parse_not(s)]
    while s.peek() == "and":
        s.take()
        parts.append(_parse_not(s))
    return parts[0] if len(parts) == 1 else ["and", *parts]


def _parse_not(s: _Tokens) -> list[Any]:
    if s.peek() == "not":
        s.take()
        return ["not", _parse_not(s)]
    return _parse_atom(s)


def _parse_atom(s: _Tokens) -> list[Any]:
    token = s.take()
    if token == "(":
        node = _parse_or(s)
        if s.take() != ")":
            raise BuildError(f"condition {s.text!r}: missing ')'")
        return node
    if (token.isdigit() or token in ("all", "any")) and s.peek() == "of":
        s.take()
        return ["of", token if not token.isdigit() else int(token), s.take()]
    if token in ("and", "or", "not", "of", ")") or not re.fullmatch(r"[A-Za-z_]\w*", token):
        raise BuildError(f"condition {s.text!r}: unexpected {token!r}")
    return ["name", token]


def condition_names(node: list[Any], checks: list[str]) -> set[str]:
    if node[0] == "name":
        return {node[1]}
    if node[0] == "of":
        import fnmatch

        return {n for n in checks if fnmatch.fnmatchcase(n, node[2])}
    return set().union(*(condition_names(n, checks) for n in node[1:]))


def _truth(node: list[Any], values: dict[str, bool]) -> bool:
    # The same semantics as analyzer/onvm/checks.py (imported lazily: py3.6 module).
    from analyzer.onvm.checks import evaluate_condition

    return evaluate_condition(node, values)


# -- rules ------------------------------------------------------------------------------------


def _substitute(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value)
        if whole and whole.group(1) in params:
            return str(params[whole.group(1)])
        return _PARAM.sub(lambda m: str(params.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    return value


def _folded(value: str, fold: str) -> str:
    for operator in ("!~", "~"):
        if value.startswith(operator):
            return operator + fold + value[len(operator):]
    return value


LIVE_SOURCE_KINDS = ("live", "waagent_conf", "dhcp_lease")
"""``source_kind`` of the config rows the on-VM self-check produces (live facts, and the
files it reads: waagent.conf and the DHCP leases)."""


def is_live_check(check: dict[str, Any]) -> bool:
    where = check.get("where") or {}
    return (
        check.get("kind") == "table"
        and check.get("table") == "config"
        and str(where.get("source_kind", "")).lower() in LIVE_SOURCE_KINDS
    )


def _live_check(rule_id: str, name: str, raw: dict[str, Any], params: dict[str, Any]) -> dict:
    check = _substitute(raw, params)
    unknown = set(check) - {"kind", "table", "where", "compare", "latest_by", "mode", "cased"}
    if unknown:
        raise BuildError(f"{rule_id}.{name}: unsupported keys {sorted(unknown)}")
    # Regexes are case-insensitive unless the check says ``cased = true`` (as in the engine).
    fold = "" if check.get("cased") is True else "(?i)"
    out: dict[str, Any] = {"where": {k: _folded(str(v), fold) for k, v in check["where"].items()}}
    for value in out["where"].values():
        if value.startswith(("~", "!~")):
            _check_regex(rule_id, name, value.lstrip("!~"))
    if "compare" in check:
        compare = {k: str(v) for k, v in check["compare"].items()}
        if compare.get("op") not in ("<", "<=", ">", ">=", "==", "!=", "~", "!~"):
            raise BuildError(f"{rule_id}.{name}: unsupported op {compare.get('op')!r}")
        if compare["op"] in ("~", "!~"):
            compare["value"] = fold + compare["value"]
            _check_regex(rule_id, name, compare["value"])
        out["compare"] = compare
    if check.get("latest_by"):
        out["latest_by"] = str(check["latest_by"])
    if check.get("mode"):
        out["mode"] = str(check["mode"])
    return out


def _check_regex(rule_id: str, name: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise BuildError(f"{rule_id}.{name}: pattern not usable by Python's re: {exc}") from None


def compile_rule(data: dict[str, Any]) -> dict[str, Any] | None:
    """The live part of one rule, or None when no live fact alone can make it fire."""
    checks: dict[str, dict[str, Any]] = data.get("checks", {})
    live_names = sorted(n for n, c in checks.items() if is_live_check(c))
    if not live_names:
        return None
    params = dict(data.get("params", {}))
    condition = parse_condition(data["condition"])
    others = sorted(set(checks) - set(live_names))
    if len(live_names) > 12:
        raise BuildError(f"{data['id']}: too many live checks to verify ({len(live_names)})")
    # Fires from live facts alone for some assignment? (others are false on the VM)
    reachable = False
    for bits in itertools.product((False, True), repeat=len(live_names)):
        values = dict(zip(live_names, bits, strict=True))
        values.update({n: False for n in others})
        if _truth(condition, values):
            reachable = True
            break
    if not reachable:
        return None
    remediation = data.get("remediation", {})
    return {
        "id": data["id"],
        "severity": data["severity"],
        "category": data["category"],
        "title": data["title"],
        "message": data["message"],
        "remediation": {lang: text.strip() for lang, text in remediation.items()},
        "translations": _translations(data),
        "params": params,
        "condition": condition,
        "live_checks": {n: _live_check(data["id"], n, checks[n], params) for n in live_names},
        "other_checks": others,
    }


def _translations(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``[translations.<lang>]``: the title and message a report in that language shows."""
    return {
        lang: {key: table[key] for key in ("title", "message") if isinstance(table.get(key), str)}
        for lang, table in sorted(data.get("translations", {}).items())
        if isinstance(table, dict)
    }


def build_rules(rules_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    compiled, needs_logs = [], []
    for path in sorted(rules_dir.rglob("*.toml")):
        if path.name == "benign.toml":
            continue
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        if "id" not in data or "condition" not in data:
            continue
        rule = compile_rule(data)
        if rule is not None:
            compiled.append(rule)
        elif any(is_live_check(c) for c in data.get("checks", {}).values()):
            needs_logs.append(data["id"])
    return sorted(compiled, key=lambda r: r["id"]), sorted(needs_logs)


# -- redaction --------------------------------------------------------------------------------

def portable_pattern(pattern: str) -> str:
    """Drop possessive quantifiers (``?+``, ``*+``, ``++``, ``}+``; Python 3.11+ only) outside
    character classes and escapes; the match sets of these patterns do not change."""
    out = []
    in_class = escaped = False
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "+" and index and pattern[index - 1] in "?*+}" and not (
            index >= 2 and pattern[index - 2] == "\\"
        ):
            continue
        out.append(char)
    return "".join(out)


def build_redaction() -> dict[str, Any]:
    """Patterns and triggers of ``analyzer/redact.py`` (the one definition of what a secret is)."""
    sys.path.insert(0, str(ANALYZER_DIR.parent))
    try:
        from analyzer import redact
        from analyzer.onvm import redact as onvm_redact
    finally:
        sys.path.pop(0)
    patterns = {}
    for name, value in sorted(vars(redact).items()):
        if isinstance(value, re.Pattern):
            if re.compile(value.pattern).flags != value.flags:
                raise BuildError(f"redact.{name}: pass flags inline, e.g. (?i)")
            patterns[name] = portable_pattern(value.pattern)
            re.compile(patterns[name])
    steps = []
    for triggers, step in redact._STEPS:
        if step.__name__ not in onvm_redact.STEP_HANDLERS:
            raise BuildError(f"redact step {step.__name__} has no on-VM handler")
        steps.append([list(triggers), step.__name__])
    missing = set(onvm_redact.PATTERNS_USED) - set(patterns)
    if missing:
        raise BuildError(f"analyzer/redact.py no longer defines {sorted(missing)}")
    return {"redacted": redact.REDACTED, "patterns": patterns, "steps": steps}


# -- spec and zipapp --------------------------------------------------------------------------


def _tool_version() -> str:
    text = (ANALYZER_DIR / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    return match.group(1) if match else "0"


def build_spec(rules_dir: Path | None = None) -> dict[str, Any]:
    rules, needs_logs = build_rules(rules_dir or default_rules_dir())
    return {
        "schema": SPEC_SCHEMA,
        "version": _tool_version(),
        "rules": rules,
        "rules_needing_logs": needs_logs,
        "redaction": build_redaction(),
    }


def spec_bytes(spec: dict[str, Any]) -> bytes:
    return json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"


def zipapp_bytes(rules_dir: Path | None = None) -> bytes:
    spec = spec_bytes(build_spec(rules_dir))
    stub = (
        '"""Stub of the waagent-analyzer package inside the on-VM zipapp."""\n'
        f'__version__ = "{_tool_version()}"\n'
    ).encode("ascii")
    members: list[tuple[str, bytes]] = [
        ("__main__.py", _MAIN.encode("ascii")),
        ("analyzer/__init__.py", stub),
        ("analyzer/safe_open.py", (ANALYZER_DIR / "safe_open.py").read_bytes()),
    ]
    members += [(f"analyzer/onvm/{name}", (PACKAGE_DIR / name).read_bytes())
                for name in _SHIPPED_MODULES]
    members.append(("analyzer/onvm/spec.json", spec))
    out = io.BytesIO()
    out.write(_SHEBANG)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            archive.writestr(info, data)
    data = out.getvalue()
    if len(data) >= MAX_SIZE:
        raise BuildError(f"zipapp is {len(data)} bytes, over the 1 MB budget")
    return data


def write_zipapp(output: Path, rules_dir: Path | None = None) -> Path:
    data = zipapp_bytes(rules_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.tmp")
    temp.write_bytes(data)
    temp.chmod(0o755)
    temp.replace(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyzer.onvm.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("dist") / "waagent-selfcheck.pyz")
    parser.add_argument("--rules", type=Path, default=None, help="rule pack (default: shipped)")
    parser.add_argument("--spec", action="store_true", help="print spec.json instead")
    args = parser.parse_args(argv)
    try:
        if args.spec:
            sys.stdout.write(spec_bytes(build_spec(args.rules)).decode("ascii"))
            return 0
        path = write_zipapp(args.output, args.rules)
    except BuildError as exc:
        sys.stderr.write(f"build failed: {exc}\n")
        return 2
    data = path.read_bytes()
    sys.stdout.write(f"{path} {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
