"""One identity per input: the SHA-256 of a file, or of a folder's tree.

``analyze`` puts it in the report and ``batch`` keys its results on it, so a bundle has the
same identity whichever command read it. A folder's tree hash covers each regular file's
relative path and content (sorted; links skipped, as the walker skips them), so an unchanged
folder keeps its key across runs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator

HASH_BLOCK = 1 << 20
TREE_DOMAIN = b"waagent-analyzer/tree/v1\0"


class TooLarge(ValueError):
    """The input is larger than the caller is willing to hash."""


def bundle_sha256(path: str | os.PathLike[str], max_bytes: int | None = None) -> str:
    """SHA-256 of a regular file or a folder's tree.

    Raises ``OSError`` (unreadable), ``ValueError`` (neither a regular file nor a folder: a
    FIFO or device would block the hash) or :class:`TooLarge` when the bytes to hash exceed
    ``max_bytes`` (checked on the sizes before reading anything).
    """
    text = os.fspath(path)
    mode = os.stat(text).st_mode
    if stat.S_ISDIR(mode):
        return tree_sha256(text, max_bytes)
    if not stat.S_ISREG(mode):
        raise ValueError("not a regular file or directory")
    if max_bytes is not None and os.stat(text).st_size > max_bytes:
        raise TooLarge(f"larger than {max_bytes} bytes")
    return file_sha256(text)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: str, max_bytes: int | None = None) -> str:
    files = sorted(_regular_files(root))
    if max_bytes is not None and sum(size for _, _, size in files) > max_bytes:
        raise TooLarge(f"folder holds more than {max_bytes} bytes")
    digest = hashlib.sha256(TREE_DOMAIN)
    for relative, full, _ in files:
        digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(bytes.fromhex(file_sha256(full)))
    return digest.hexdigest()


def _regular_files(root: str) -> Iterator[tuple[str, str, int]]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            full = os.path.join(folder, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield os.path.relpath(full, root), full, info.st_size
