"""The import table of docs/design.md holds: no module imports a layer ranked below its own.

Every ``import``/``from ... import`` of every module under ``analyzer/`` counts, including the
ones inside functions (a deferred import is still a dependency)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "analyzer"


def import_table() -> dict[str, int]:
    """Module prefix -> rank, from the table after the ``import-table`` marker."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    body = text.split("<!-- import-table:", 1)[1]
    table: dict[str, int] = {}
    for row in re.findall(r"^\| (\d+) \|[^|]*\|([^|]*)\|$", body.split("\n\n", 1)[0], re.M):
        for prefix in re.findall(r"`([\w.]+)`", row[1]):
            table[prefix] = int(row[0])
    return table


def rank_of(module: str, table: dict[str, int]) -> int | None:
    matches = [p for p in table if module == p or module.startswith(p + ".")]
    return table[max(matches, key=len)] if matches else None


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path, root).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "analyzer")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.split(".")[0] == "analyzer":
                found.add(name)
    return found


def test_the_table_covers_every_module() -> None:
    table = import_table()
    assert len(table) >= 15
    missing = [module_name(p) for p in PACKAGE.rglob("*.py")
               if rank_of(module_name(p), table) is None]
    assert missing == []


def upward_imports(root: Path, table: dict[str, int]) -> list[str]:
    upward = []
    for path in sorted((root / "analyzer").rglob("*.py")):
        module = module_name(path, root)
        own = rank_of(module, table)
        assert own is not None, module
        for imported in sorted(imports_of(path, root)):
            other = rank_of(imported, table)
            if other is not None and other > own:
                upward.append(f"{module} (layer {own}) imports {imported} (layer {other})")
    return upward


def test_no_module_imports_a_lower_layer() -> None:
    assert upward_imports(ROOT, import_table()) == []


def test_an_engine_module_importing_the_pipeline_is_caught(tmp_path: Path) -> None:
    engine = tmp_path / "analyzer" / "engine"
    engine.mkdir(parents=True)
    (engine / "rogue.py").write_text(
        "def f():\n    from analyzer.pipeline import analyze_files\n"
        "from ..report import model\n")
    assert upward_imports(tmp_path, import_table()) == [
        "analyzer.engine.rogue (layer 4) imports analyzer.pipeline (layer 7)",
        "analyzer.engine.rogue (layer 4) imports analyzer.report (layer 6)",
    ]
