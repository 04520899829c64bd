"""Walking a directory input and selected paths of a live root, never following a link.

Every folder is listed and every file opened through ``analyzer.safe_open``: components are
opened one by one relative to their parent with ``O_NOFOLLOW``, so a link anywhere (a member,
a parent folder, one swapped in after the listing) is reported and never read through."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path

from analyzer.safe_open import UnsafePath, list_under, lstat_under

from . import names
from .model import Member
from .sources import FileSource
from .walk_base import SPECIAL_TYPES, Ctx, WalkerBase


def _reason(exc: OSError) -> str:
    if isinstance(exc, UnsafePath) and exc.strerror == "symbolic link":
        return "skipped: symbolic link"
    return f"skipped: cannot read ({names.escape_text(exc.strerror or '')})"


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
            for name in self._matching(str(root), parts, base):
                rel = [*parts[:-1], name]
                key = "/".join(rel)
                if key in done:
                    continue
                done.add(key)
                yield from self._walk_entry(str(root), rel, ctx)

    def _matching(self, root: str, parts: list[str], base: str) -> list[str]:
        """Names in the folder ``parts[:-1]`` matching ``parts[-1]`` (a glob or a name). The
        folder is reached without following any link; a link on the way is reported."""
        last = parts[-1]
        try:
            listing = list_under(root, "/".join(parts[:-1]))
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            return []
        except OSError as exc:
            shown = exc.filename if isinstance(exc.filename, str) else "/".join(parts[:-1])
            where = f"{base}/" + "/".join(names.display_name(p) for p in shown.split("/"))
            self.budget.problem(where, _reason(exc))
            return []
        if not any(ch in last for ch in "*?["):
            return [last] if any(name == last for name, _kind in listing) else []
        return [name for name, _kind in listing if fnmatch.fnmatchcase(name, last)]

    def _walk_entry(self, root: str, rel: list[str], ctx: Ctx) -> Iterator[Member]:
        prov = f"{ctx.prov}/" + "/".join(names.display_name(p) for p in rel)
        self.budget.count_entry(prov)
        try:
            st = lstat_under(root, "/".join(rel))
        except OSError as exc:
            self.budget.problem(prov, _reason(exc))
            return
        yield from self._entry(root, rel, ctx, prov, st.st_mode, st.st_size, st.st_mtime)

    def _entry(
        self, root: str, rel: list[str], ctx: Ctx, prov: str, mode: int, size: int, mtime: float
    ) -> Iterator[Member]:
        import stat

        if stat.S_ISLNK(mode):
            self.budget.problem(prov, "skipped: symbolic link")
        elif stat.S_ISDIR(mode):
            if len(rel) >= self.limits.max_name_components:
                self.budget.problem(
                    prov,
                    f"skipped: directory nesting exceeds "
                    f"{self.limits.max_name_components} components",
                )
                return
            yield from self.walk_dir(root, rel, ctx)
        elif stat.S_ISREG(mode):
            yield from self.emit(
                ctx,
                "/".join(rel),
                size=size,
                mtime=mtime,
                source=FileSource(root, self.budget, relpath="/".join(rel)),
            )
        else:
            kind = SPECIAL_TYPES.get(stat.S_IFMT(mode), "unknown type")
            self.budget.problem(prov, f"skipped: special file ({kind})")

    # -- directories ------------------------------------------------------------------------------
    def walk_dir(self, root: str, rel: list[str], ctx: Ctx) -> Iterator[Member]:
        """Every file below the folder ``root/rel`` (``rel`` empty: the input directory)."""
        where = ctx.prov + ("/" + "/".join(names.display_name(p) for p in rel) if rel else "")
        try:
            listing = list_under(root, "/".join(rel))
        except OSError as exc:
            if isinstance(exc, UnsafePath) and exc.strerror == "symbolic link":
                self.budget.problem(where, "skipped: symbolic link")
            else:
                message = names.escape_text(exc.strerror or "")
                self.budget.problem(where, f"skipped: cannot read directory ({message})")
            return
        for _entry in listing:
            self.budget.count_entry(where)
        for name, _kind in listing:
            self.budget.check_running()
            parts = [*rel, name]
            prov = f"{where}/{names.display_name(name)}"
            try:
                st = lstat_under(root, "/".join(parts))
            except OSError as exc:
                self.budget.problem(prov, _reason(exc))
                continue
            yield from self._entry(root, parts, ctx, prov, st.st_mode, st.st_size, st.st_mtime)
