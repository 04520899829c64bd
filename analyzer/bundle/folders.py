"""Walking a directory input and selected paths of a live root, never following a link."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from . import names
from .model import Member
from .sources import FileSource
from .walk_base import SPECIAL_TYPES, Ctx, WalkerBase


class FolderReading(WalkerBase):
    """The directory and live-root part of the walker."""

    def walk_selected(self, root: Path, paths: list[str]) -> Iterator[Member]:
        base = self.label.rstrip("/")  # "/" -> "", so members read "/var/log/..."
        ctx = Ctx(base, 1, "/", None, ())
        done: set[str] = set()
        for pattern in paths:
            parts = [p for p in pattern.split("/") if p not in ("", ".")]
            if not parts or ".." in parts:
                continue
            parent = self._resolve_parent(root, parts[:-1], base)
            if parent is None:
                continue
            for name in self._matching(parent, parts[-1]):
                rel = [*parts[:-1], name]
                key = "/".join(rel)
                if key in done:
                    continue
                done.add(key)
                yield from self._walk_entry(os.path.join(parent, name), rel, ctx)

    def _resolve_parent(self, root: Path, parts: list[str], base: str) -> str | None:
        """The directory holding a selected path, reached without following any link."""
        current = str(root)
        for index, part in enumerate(parts):
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                return None
            except OSError as exc:
                where = f"{base}/" + "/".join(names.display_name(p) for p in parts[: index + 1])
                message = names.escape_text(exc.strerror or "")
                self.budget.problem(where, f"skipped: cannot read ({message})")
                return None
            if not stat.S_ISDIR(st.st_mode):
                if stat.S_ISLNK(st.st_mode):
                    where = f"{base}/" + "/".join(names.display_name(p) for p in parts[: index + 1])
                    self.budget.problem(where, "skipped: symbolic link")
                return None
        return current

    @staticmethod
    def _matching(parent: str, last: str) -> list[str]:
        if not any(ch in last for ch in "*?["):
            return [last] if os.path.lexists(os.path.join(parent, last)) else []
        try:
            with os.scandir(parent) as listing:
                return sorted(e.name for e in listing if fnmatch.fnmatchcase(e.name, last))
        except OSError:
            return []

    def _walk_entry(self, path: str, rel: list[str], ctx: Ctx) -> Iterator[Member]:
        prov = f"{ctx.prov}/" + "/".join(names.display_name(p) for p in rel)
        self.budget.count_entry(prov)
        try:
            st = os.lstat(path)
        except OSError as exc:
            message = names.escape_text(exc.strerror or "")
            self.budget.problem(prov, f"skipped: cannot read ({message})")
            return
        if stat.S_ISLNK(st.st_mode):
            self.budget.problem(prov, "skipped: symbolic link")
        elif stat.S_ISDIR(st.st_mode):
            yield from self.walk_dir(path, rel, ctx)
        elif stat.S_ISREG(st.st_mode):
            yield from self.emit(
                ctx,
                "/".join(rel),
                size=st.st_size,
                mtime=st.st_mtime,
                source=FileSource(path, self.budget),
            )
        else:
            kind = SPECIAL_TYPES.get(stat.S_IFMT(st.st_mode), "unknown type")
            self.budget.problem(prov, f"skipped: special file ({kind})")

    # -- directories ------------------------------------------------------------------------------
    def walk_dir(self, dirpath: str, rel: list[str], ctx: Ctx) -> Iterator[Member]:
        where = ctx.prov + ("/" + "/".join(names.display_name(p) for p in rel) if rel else "")
        try:
            with os.scandir(dirpath) as listing:
                entries = []
                for entry in listing:
                    self.budget.count_entry(where)
                    entries.append(entry)
        except OSError as exc:
            self.budget.problem(
                where, f"skipped: cannot read directory ({names.escape_text(exc.strerror or '')})"
            )
            return
        entries.sort(key=lambda e: e.name)
        for entry in entries:
            self.budget.check_running()
            parts = [*rel, entry.name]
            prov = f"{where}/{names.display_name(entry.name)}"
            try:
                if entry.is_symlink():
                    self.budget.problem(prov, "skipped: symbolic link")
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if len(parts) >= self.limits.max_name_components:
                        self.budget.problem(
                            prov,
                            f"skipped: directory nesting exceeds "
                            f"{self.limits.max_name_components} components",
                        )
                        continue
                    yield from self.walk_dir(entry.path, parts, ctx)
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.budget.problem(
                    prov, f"skipped: cannot read ({names.escape_text(exc.strerror or '')})"
                )
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = SPECIAL_TYPES.get(stat.S_IFMT(st.st_mode), "unknown type")
                self.budget.problem(prov, f"skipped: special file ({kind})")
                continue
            yield from self.emit(
                ctx,
                "/".join(parts),
                size=st.st_size,
                mtime=st.st_mtime,
                source=FileSource(entry.path, self.budget),
            )
