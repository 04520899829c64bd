"""Turn the user's INPUT arguments into a list of bundles, and fingerprint each bundle.

Rules (also in ``analyzer/batch/README.md``):

* ``@FILE`` is a list of paths, one per line (blank lines and ``#`` comments ignored); relative
  entries are resolved against the list file's folder. ``@-`` reads the list from stdin.
  A list is only ever recognised by the ``@``: a plain text file given directly is a bundle
  (``analyze`` accepts a single log file), so a log can never be misread as a list.
* A file is one bundle, whatever its content (the worker rejects what it cannot read).
* A folder that *is* a bundle (it has a ``var/`` folder or a ``waagent.log`` file at its top,
  or a Windows VM's ``WindowsAzure/`` or ``Packages/`` folder) is one bundle. Any other
  folder is searched recursively (symlinks not followed) for archives (tar, tar.gz, tar.xz,
  zip; decided by content, not by name) and for sub-folders that are bundles.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from analyzer.batch.model import BundleInput
from analyzer.bundle.identity import bundle_sha256
from analyzer.errors import BudgetExceeded, UsageError
from analyzer.settings import DEFAULT_LIMITS


def expand_inputs(arguments: Iterable[str | Path]) -> list[BundleInput]:
    """Bundles named by ``arguments``, in order, each path once.

    Raises ``UsageError`` for paths that do not exist (all of them are listed).
    """
    found: list[BundleInput] = []
    missing: list[str] = []
    for argument in arguments:
        for path in _paths_of(str(argument)):
            if not os.path.lexists(path):
                missing.append(path)
                continue
            found.extend(_bundles_at(path))
    if missing:
        more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise UsageError(f"no such file or directory: {shown}")
    return _unique(found)


def _paths_of(argument: str) -> list[str]:
    if not argument.startswith("@"):
        return [argument]
    name = argument[1:]
    if name == "-":
        return _list_entries(sys.stdin.read(), Path.cwd())
    try:
        text = Path(name).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as error:
        raise UsageError(f"{argument}: cannot read list file ({error.strerror})") from None
    return _list_entries(text, Path(name).resolve().parent)


def _list_entries(text: str, base: Path) -> list[str]:
    entries = []
    for line in text.splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.append(str(base / entry) if not os.path.isabs(entry) else entry)
    return entries


def _bundles_at(path: str) -> Iterator[BundleInput]:
    absolute = os.path.abspath(path)
    if not os.path.isdir(absolute):
        yield BundleInput(absolute)  # a file (or a symlink the user named): the worker judges it
        return
    if is_bundle_dir(absolute):
        yield BundleInput(absolute, is_dir=True)
        return
    yield from _search(absolute)


_WINDOWS_TOPS = ("WindowsAzure", "Packages")
"""Top folders of a Windows VM's files (``C:\\WindowsAzure\\Logs``, ``C:\\Packages\\Plugins``)."""


def is_bundle_dir(path: str) -> bool:
    """A folder that holds one VM's files rather than a collection of bundles: a Linux VM's
    ``var/`` or ``waagent.log``, or a Windows VM's ``WindowsAzure/`` or ``Packages/``."""
    return (
        os.path.isdir(os.path.join(path, "var"))
        or os.path.isfile(os.path.join(path, "waagent.log"))
        or any(os.path.isdir(os.path.join(path, top)) for top in _WINDOWS_TOPS)
    )


def _search(folder: str) -> Iterator[BundleInput]:
    """Archives and bundle folders below ``folder``; sorted so runs are reproducible. Every
    other entry comes back too, with the reason it is skipped (a ``skipped`` row)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        yield BundleInput(folder, is_dir=True,
                          skip_reason=f"folder cannot be read ({error.strerror or error})")
        return
    found = False
    for entry in entries:
        if entry.is_symlink():
            # A link inside a searched folder may point anywhere: not followed, but said.
            yield BundleInput(entry.path, skip_reason="symbolic link (not followed)")
        elif entry.is_dir(follow_symlinks=False):
            if is_bundle_dir(entry.path):
                found = True
                yield BundleInput(entry.path, is_dir=True)
            else:
                inner = list(_search(entry.path))
                found = found or any(not b.skip_reason for b in inner)
                yield from inner
        elif entry.is_file(follow_symlinks=False) and is_archive(entry.path):
            found = True
            yield BundleInput(entry.path)
        elif entry.is_file(follow_symlinks=False):
            yield BundleInput(entry.path, skip_reason="not an archive or a bundle folder")
        else:
            yield BundleInput(entry.path, skip_reason="not a regular file or folder")
    if not found and not entries:
        yield BundleInput(folder, is_dir=True, skip_reason="empty folder")


def is_archive(path: str) -> bool:
    from analyzer.bundle.sniff import InputFormat, sniff_path

    try:
        return sniff_path(Path(path), DEFAULT_LIMITS).format in InputFormat.ARCHIVES
    except BudgetExceeded:
        return True  # an xz archive over the memory cap: queue it so its rejection is reported
    except OSError:
        return False


def _unique(bundles: list[BundleInput]) -> list[BundleInput]:
    seen: set[str] = set()
    unique = []
    for bundle in bundles:
        if bundle.path not in seen:
            seen.add(bundle.path)
            unique.append(bundle)
    return unique


# -- fingerprints -----------------------------------------------------------------------------


def fingerprint(bundle: BundleInput) -> str:
    """The bundle's key in the results: its identity (:mod:`analyzer.bundle.identity`), the
    same SHA-256 ``analyze`` reports.

    Raises ``OSError`` (unreadable) or ``ValueError`` (not a regular file or folder).
    """
    return bundle_sha256(bundle.path)
