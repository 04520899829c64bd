"""Extract the failure/retry/give-up/recovery message templates of the Linux guest agent and of
the backup extension (VMBackup) from their public git history.

Not run in CI: it needs local git mirrors of Azure/WALinuxAgent and Azure/azure-linux-extensions.

    python -m tools.catalogue.extract --agent-git /path/WALinuxAgent.git \
        --vmbackup-git /path/azure-linux-extensions.git --out docs/catalogue/messages.toml

Only message templates (text with the dynamic parts replaced by ``<*>``) and facts about them
(module, level, versions) are written; no code is copied. Classification comes from
``tools/catalogue/classify.toml`` (see ``classify.py``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOLE = "<*>"

# One git ref per release sampled: the last patch of each minor, plus 2.2.x samples.
AGENT_VERSIONS: list[tuple[str, str]] = [
    ("2.0.18", "archive/2.0"),
    ("2.1.4", "archive/2.1"),
    ("2.2.14", "v2.2.14"),
    ("2.2.31", "v2.2.31"),
    ("2.2.45", "v2.2.45"),
    ("2.2.53", "v2.2.53"),
    ("2.2.54.2", "v2.2.54.2"),
    ("2.3.1.1", "v2.3.1.1"),
    ("2.4.0.2", "v2.4.0.2"),
    ("2.5.0.2", "v2.5.0.2"),
    ("2.6.0.2", "v2.6.0.2"),
    ("2.7.3.0", "v2.7.3.0"),
    ("2.8.0.11", "v2.8.0.11"),
    ("2.9.1.1", "v2.9.1.1"),
    ("2.10.0.8", "v2.10.0.8"),
    ("2.11.1.12", "v2.11.1.12"),
    ("2.12.0.4", "v2.12.0.4"),
    ("2.13.1.1", "v2.13.1.1"),
    ("2.14.0.1", "v2.14.0.1"),
    ("2.15.0.1", "v2.15.0.1"),
]
VMBACKUP_LABEL = "VMBackup"
# The backup extension has no usable release tags (its manifest version stood still for years):
# sample its history at these dates, plus the newest commit.
VMBACKUP_DATES = ["2017-01-01", "2018-06-01", "2020-01-01", "2022-01-01", "2024-01-01"]

# Module groups. The first four (and VMBackup main/) carry the 95% coverage target.
TARGET_GROUPS = ("daemon", "ga", "common/protocol", "common/osutil", "vmbackup/main")


def module_group(path: str) -> str | None:
    """Group of an agent source path in any era, or None when it is out of scope."""
    p = path.removeprefix("azurelinuxagent/")
    if path == "waagent":
        return "waagent-2.0"
    if p.startswith("daemon/") or p.endswith("distro/default/daemon.py"):
        return "daemon"
    if p.startswith("ga/") or re.search(r"distro/default/(extension|monitor|env|init)\.py$", p):
        return "ga"
    if p.startswith(("common/protocol/", "protocol/")) or re.search(
        r"distro/default/(protocolUtil|dhcp)\.py$", p
    ):
        return "common/protocol"
    if p.startswith("common/osutil/") or re.search(r"distro/\w+/osutil\.py$", p):
        return "common/osutil"
    if p in ("common/utils/restutil.py", "utils/restutil.py", "common/dhcp.py", "common/event.py"):
        return "common/other"
    return None


FAILURE_WORDS = re.compile(
    r"fail|error|exception|retry|retries|retrying|recover|unable|could not|couldn't|cannot|can't|"
    r"timed? ?out|timeout|not found|missing|invalid|giving up|give up|exceed|refused|denied|"
    r"unreachable|not respond|corrupt|crash|killed|throttl|abort|not supported|not running",
    re.I,
)

LOG_METHODS = {
    "error": "ERROR",
    "warn": "WARNING",
    "warning": "WARNING",
    "periodic_error": "ERROR",
    "periodic_warn": "WARNING",
    "info": "INFO",
    "periodic_info": "INFO",
    "verbose": "VERBOSE",
    "verb": "VERBOSE",
    "periodic_verbose": "VERBOSE",
}
# 2.0 monolithic agent: module-level Log/Warn/Error helpers.
LEGACY_FUNCS = {"Error": "ERROR", "Warn": "WARNING", "Log": "INFO", "ErrorWithPrefix": "ERROR"}


@dataclass
class Site:
    """One call site that emits a message, seen in one version."""

    template: str
    level: str  # ERROR | WARNING | INFO | VERBOSE
    kind: str  # log | event | raise
    module: str
    group: str
    function: str
    exception: str = ""  # class raised (kind == raise)
    event_op: str = ""  # op of add_event (kind == event)

    @property
    def counted(self) -> bool:
        """Error/warning call sites: the denominator of the coverage target."""
        return self.level in ("ERROR", "WARNING")


@dataclass
class Entry:
    template: str
    level: str
    kind: str
    exception: str = ""
    event_op: str = ""
    modules: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    versions: list[str] = field(default_factory=list)
    sites: int = 0  # call sites in the newest version emitting it

    @property
    def id(self) -> str:
        digest = hashlib.sha1(f"{self.kind}|{self.level}|{self.template}".encode()).hexdigest()
        return f"M{digest[:8]}"


# --------------------------------------------------------------------------- template rendering


def render(node: ast.AST, scope: dict[str, ast.AST] | None = None, depth: int = 0) -> str:
    """Template text of a string expression: literal parts kept, dynamic parts -> ``<*>``."""
    if depth > 6:
        return HOLE
    scope = scope or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for v in node.values:
            out.append(
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else HOLE
            )
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return render(node.left, scope, depth + 1) + render(node.right, scope, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        left = render(node.left, scope, depth + 1)
        return re.sub(r"%[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc]", HOLE, left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "format":
            return format_holes(render(node.func.value, scope, depth + 1))
        if node.func.attr in ("strip", "rstrip", "lstrip", "encode", "decode"):
            return render(node.func.value, scope, depth + 1)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("ustr", "str", "u", "unicode")
        and node.args
    ):
        inner = node.args[0]
        if isinstance(inner, ast.Constant | ast.JoinedStr | ast.BinOp):
            return render(inner, scope, depth + 1)
        return HOLE
    if isinstance(node, ast.Name) and node.id in scope:
        return render(scope[node.id], scope, depth + 1)
    return HOLE


def format_holes(text: str) -> str:
    """``{0}``/``{}``/``{name:>4}`` placeholders -> ``<*>``; ``{{``/``}}`` -> literal braces."""
    text = text.replace("{{", "\0").replace("}}", "\1")
    text = re.sub(r"\{[^{}]*\}", HOLE, text)
    return text.replace("\0", "{").replace("\1", "}")


def normalise(template: str) -> str:
    text = template.replace("\r", "")
    text = re.sub(r"(?:<\*>\s*){2,}", HOLE + " ", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return text.strip()


def is_opaque(template: str) -> bool:
    return not re.sub(r"<\*>|[\W_]", "", template)


# --------------------------------------------------------------------------- AST walking


class Collector(ast.NodeVisitor):
    def __init__(self, module: str, group: str, vmbackup: bool) -> None:
        self.module = module
        self.group = group
        self.vmbackup = vmbackup
        self.sites: list[Site] = []
        self.function = "<module>"
        self.scope: dict[str, ast.AST] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        saved = (self.function, self.scope)
        self.function, self.scope = node.name, {}
        self.generic_visit(node)
        self.function, self.scope = saved

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Assign(self, node: ast.Assign) -> None:
        # Messages built in a variable first (msg = "...".format(...); logger.warn(msg)).
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self.scope[node.targets[0].id] = node.value
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
            prev = self.scope.get(node.target.id)
            if isinstance(prev, ast.expr):
                self.scope[node.target.id] = ast.BinOp(prev, ast.Add(), node.value)
        self.generic_visit(node)

    def add(self, node: ast.AST, level: str, kind: str, **extra: str) -> None:
        text = normalise(render(node, self.scope))
        self.sites.append(Site(text, level, kind, self.module, self.group, self.function, **extra))

    def visit_Call(self, node: ast.Call) -> None:
        if self.vmbackup:
            self.vmbackup_call(node)
        else:
            self.agent_call(node)
        self.generic_visit(node)

    def agent_call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in LOG_METHODS and is_logger(func.value):
            args = node.args[1:] if func.attr.startswith("periodic_") else node.args
            if args:
                # The agent's logger formats with str.format() only when arguments follow.
                self.add_log(args[0], LOG_METHODS[func.attr], formatted=len(args) > 1)
            return
        if isinstance(func, ast.Name) and func.id in LEGACY_FUNCS and node.args:
            self.add_log(node.args[-1], LEGACY_FUNCS[func.id])
            return
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("add_event", "AddExtensionEvent", "add_periodic"):
            self.event_call(node)

    def add_log(self, arg: ast.AST, level: str, formatted: bool = False) -> None:
        text = render(arg, self.scope)
        text = normalise(format_holes(text) if formatted else text)
        if level in ("INFO", "VERBOSE") and not FAILURE_WORDS.search(text):
            return
        self.sites.append(Site(text, level, "log", self.module, self.group, self.function))

    def event_call(self, node: ast.Call) -> None:
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        success = kw.get("is_success", kw.get("isSuccess"))
        if success is None and len(node.args) >= 3 and not isinstance(node.func, ast.Name):
            success = None
        if not (isinstance(success, ast.Constant) and success.value is False):
            return
        message = kw.get("message")
        if message is None:
            return
        op_node = kw.get("op")
        op = op_node.attr if isinstance(op_node, ast.Attribute) else ""
        self.add(message, "ERROR", "event", event_op=op)

    def vmbackup_call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute) or not node.args:
            return
        if func.attr in ("log", "log_with_no_try_except") and not (
            isinstance(func.value, ast.Name) and func.value.id in ("logging", "math")
        ):
            level = "INFO"
            lvl = (
                node.args[2]
                if len(node.args) >= 3
                else next((k.value for k in node.keywords if k.arg == "level"), None)
            )
            if (
                func.attr == "log"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
            ) and isinstance(node.args[1].value, str):
                lvl = node.args[1]
            if isinstance(lvl, ast.Constant) and isinstance(lvl.value, str):
                level = {"error": "ERROR", "warning": "WARNING", "warn": "WARNING"}.get(
                    lvl.value.lower(), "INFO"
                )
            self.add_log(node.args[0], level)
        elif func.attr in ("error", "warning", "warn") and is_vmbackup_logger(func.value):
            self.add_log(node.args[0], LOG_METHODS[func.attr])

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc
        if isinstance(exc, ast.Call) and exc.args:
            name = (
                exc.func.attr
                if isinstance(exc.func, ast.Attribute)
                else getattr(exc.func, "id", "")
            )
            if re.search(r"(Error|Exception)$", name or "") and name not in (
                "NotImplementedError",
                "StopIteration",
                "KeyError",
                "AttributeError",
                "TypeError",
            ):
                text = normalise(render(exc.args[0], self.scope))
                if not is_opaque(text):
                    self.sites.append(
                        Site(
                            text,
                            "ERROR",
                            "raise",
                            self.module,
                            self.group,
                            self.function,
                            exception=name,
                        )
                    )
        self.generic_visit(node)


def is_logger(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "logger"
    if isinstance(node, ast.Attribute):
        return node.attr in ("logger", "_logger")
    return False


def is_vmbackup_logger(node: ast.AST) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in ("hutil", "logger", "backup_logger", "_logger")


# --------------------------------------------------------------------------- Python 2 sources


def parse_py2_tolerant(source: str) -> tuple[ast.Module, int]:
    """Parse Python 2 code with ``ast``: rewrite the few Python-2-only forms of the 2.0 agent;
    a line that still does not parse is blanked (the count is returned and reported)."""
    src = re.sub(r"except\s+([\w.(), ]+?)\s*,\s*(\w+)\s*:", r"except \1 as \2:", source)
    src = re.sub(r"(?<![\w.])0(\d+)\b", r"0o\1", src)
    src = re.sub(r"^(\s*)print\s+(?!\()(.*)$", r"\1print(\2)", src, flags=re.M)
    src = re.sub(r"^(\s*)exec\s+(?!\()(.*)$", r"\1exec(\2)", src, flags=re.M)
    src = re.sub(r"^(\s*)raise\s+(\w+)\s*,\s*(.*)$", r"\1raise \2(\3)", src, flags=re.M)
    src = re.sub(r"\bur(['\"])", r"u\1", src)
    lines = src.splitlines()
    dropped = 0
    for _ in range(500):
        try:
            return ast.parse("\n".join(lines)), dropped
        except SyntaxError as err:
            n = (err.lineno or 1) - 1
            indent = re.match(r"\s*", lines[n]).group(0)  # type: ignore[union-attr]
            lines[n] = indent + "pass"
            dropped += 1
    raise SyntaxError("too many Python 2 lines")


# --------------------------------------------------------------------------- git access


def git(gitdir: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={gitdir}", *args],
        check=True,
        capture_output=True,
        text=True,
        errors="replace",
    ).stdout


def agent_sites(gitdir: Path, ref: str) -> Iterator[Site]:
    for path in git(gitdir, "ls-tree", "-r", "--name-only", ref).splitlines():
        group = module_group(path)
        if group is None or not (path.endswith(".py") or path == "waagent"):
            continue
        yield from file_sites(git(gitdir, "show", f"{ref}:{path}"), path, group, vmbackup=False)


def vmbackup_sites(gitdir: Path, ref: str) -> Iterator[Site]:
    for path in git(gitdir, "ls-tree", "-r", "--name-only", ref, "VMBackup/main").splitlines():
        if path.endswith(".py") and "/test" not in path.lower():
            yield from file_sites(git(gitdir, "show", f"{ref}:{path}"), path, "vmbackup/main", True)


DROPPED: dict[str, int] = {}


def file_sites(source: str, path: str, group: str, vmbackup: bool) -> list[Site]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree, dropped = parse_py2_tolerant(source)
        DROPPED[path] = max(DROPPED.get(path, 0), dropped)
    module = path.removeprefix("azurelinuxagent/").removesuffix(".py")
    collector = Collector(module, group, vmbackup)
    collector.visit(tree)
    return collector.sites


# --------------------------------------------------------------------------- merging


def merge(per_version: list[tuple[str, list[Site]]]) -> list[Entry]:
    entries: dict[tuple[str, str, str], Entry] = {}
    for label, sites in per_version:
        counts: dict[tuple[str, str, str], int] = {}
        for s in sites:
            key = (s.kind, s.level, s.template)
            entry = entries.get(key)
            if entry is None:
                entry = entries[key] = Entry(s.template, s.level, s.kind, s.exception, s.event_op)
            entry.modules.add(s.module)
            entry.groups.add(s.group)
            entry.functions.add(s.function)
            if label not in entry.versions:
                entry.versions.append(label)
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            entries[key].sites = n
    return list(entries.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--agent-git", type=Path, required=True)
    ap.add_argument("--vmbackup-git", type=Path, required=True)
    ap.add_argument("--vmbackup-ref", default="HEAD")
    ap.add_argument("--out", type=Path, default=Path("docs/catalogue/messages.toml"))
    args = ap.parse_args(argv)

    per_version: list[tuple[str, list[Site]]] = []
    for label, ref in AGENT_VERSIONS:
        sites = list(agent_sites(args.agent_git, ref))
        per_version.append((label, sites))
        print(f"{label}: {len(sites)} call sites", file=sys.stderr)
    vm_refs = [
        git(
            args.vmbackup_git,
            "rev-list",
            "-1",
            f"--before={d}",
            args.vmbackup_ref,
            "--",
            "VMBackup",
        ).strip()
        for d in VMBACKUP_DATES
    ] + [git(args.vmbackup_git, "rev-parse", args.vmbackup_ref).strip()]
    commits = []
    for ref in dict.fromkeys(r for r in vm_refs if r):
        day = git(args.vmbackup_git, "show", "-s", "--format=%cs", ref).strip()
        label = f"{VMBACKUP_LABEL}@{day}"
        vm_sites = list(vmbackup_sites(args.vmbackup_git, ref))
        per_version.append((label, vm_sites))
        commits.append(f"{label} {ref[:12]}")
        print(f"{label} ({ref[:12]}): {len(vm_sites)} call sites", file=sys.stderr)
    if DROPPED:
        print(f"Python 2 lines not parsed: {DROPPED}", file=sys.stderr)

    from tools.catalogue.catalogue import write_catalogue
    from tools.catalogue.classify import classify_all, load_rules_map

    entries = merge(per_version)
    classified = classify_all(entries, load_rules_map())
    releases = [label for label, _ in per_version]
    write_catalogue(args.out, classified, releases=releases, vmbackup_commits=commits)
    print(f"{len(classified)} templates -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
