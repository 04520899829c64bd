"""Hatch build hook: put the on-VM self-check zipapp into the wheel, and compile the bulk
path's per-row work (``analyzer/engine/_distinct.c``: keying, newline offsets, the literal
scan's report handler).

``pip install .`` (or ``python -m build``) runs this in an isolated environment where only
hatchling is installed: ``analyzer.onvm.build`` needs nothing but the standard library, the
rule pack and ``analyzer/redact.py`` from this source tree. The zipapp lands in the wheel as
``analyzer/onvm/waagent-selfcheck.pyz``; editable installs build it on demand instead
(``python -m analyzer.onvm.build``).

The C module is compiled with the compiler Python was built with (``sysconfig``): into the
wheel, or next to its source for an editable install (run ``pip install -e .`` again after
changing it). Without a compiler the build goes on and warns: the package then does that
work in Python and numpy (``analyzer/engine/distinct.py``), with the same answers, slower.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TARGET = "analyzer/onvm/waagent-selfcheck.pyz"
NATIVE_SOURCE = "analyzer/engine/_distinct.c"


def native_target() -> str:
    """Where the compiled module goes, relative to the source tree or the wheel."""
    return f"analyzer/engine/_distinct{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"


def compile_native(source: Path, output: Path) -> str | None:
    """Compiles ``source`` into the extension module ``output``; the compiler's complaint
    when it cannot (no compiler, no Python headers, a platform without ``LDSHARED``)."""
    link = sysconfig.get_config_var("LDSHARED")
    if not link:
        return "this Python has no LDSHARED (no C compiler setup known)"
    command = [*shlex.split(link), *shlex.split(sysconfig.get_config_var("CCSHARED") or ""),
               "-O2", f"-I{sysconfig.get_paths()['include']}", str(source), "-o", str(output)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{command[0]}: {error}"
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-2000:]


class WheelHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        self._tmp = tempfile.mkdtemp(prefix="waagent-analyzer-build-")
        self._compile(version, build_data)
        if version == "editable":
            return
        sys.path.insert(0, self.root)
        try:
            from analyzer.onvm.build import write_zipapp
        finally:
            sys.path.remove(self.root)
        path = write_zipapp(Path(self._tmp) / "waagent-selfcheck.pyz")
        build_data["force_include"][str(path)] = TARGET

    def _compile(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if version == "editable":  # next to the source, where the editable install imports it
            output = root / native_target()
        else:
            output = Path(self._tmp) / Path(native_target()).name
        failure = compile_native(root / NATIVE_SOURCE, output)
        if failure is not None:
            self.app.display_warning(
                f"{NATIVE_SOURCE} not compiled; the bulk path's per-row work will run in Python "
                f"(slower, same answers):\n{failure}")
            return
        if version != "editable":
            build_data["force_include"][str(output)] = native_target()
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
