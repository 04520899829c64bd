"""Hatch build hook: put the on-VM self-check zipapp into the wheel.

``pip install .`` (or ``python -m build``) runs this in an isolated environment where only
hatchling is installed: ``analyzer.onvm.build`` needs nothing but the standard library, the
rule pack and ``analyzer/redact.py`` from this source tree. The zipapp lands in the wheel as
``analyzer/onvm/waagent-selfcheck.pyz``; editable installs build it on demand instead
(``python -m analyzer.onvm.build``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TARGET = "analyzer/onvm/waagent-selfcheck.pyz"


class OnVMZipappHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        sys.path.insert(0, self.root)
        try:
            from analyzer.onvm.build import write_zipapp
        finally:
            sys.path.remove(self.root)
        self._tmp = tempfile.mkdtemp(prefix="onvm-zipapp-")
        path = write_zipapp(Path(self._tmp) / "waagent-selfcheck.pyz")
        build_data["force_include"][str(path)] = TARGET

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
