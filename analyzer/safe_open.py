"""Open files under a root without ever following a link (stand-in, API agreed with "hostile").

Every path component is opened with ``O_NOFOLLOW`` relative to the descriptor of its parent
(``dir_fd``), so a link anywhere in the path, even one swapped in while we run, is refused
instead of followed; the last component must be a regular file (or a directory when asked),
and is opened with ``O_NONBLOCK`` so a FIFO or a device never blocks us before ``fstat``
says what it is.

Standard library only and importable by Python 3.6: the on-VM self-check (a zipapp run by
the VM's own interpreter) uses this module too.
"""

import errno
import os
import stat
from typing import Any  # noqa: F401  (type comments)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | _CLOEXEC


class UnsafePath(OSError):
    """A path component is a link, a special file, or escapes the root."""


def _components(relpath):
    # type: (str) -> list
    parts = [part for part in str(relpath).replace("\\", "/").split("/") if part not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafePath(errno.EPERM, "path escapes the root: %r" % (relpath,))
    return parts


def _kind(mode):
    # type: (int) -> str
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _open_component(name, flags, dir_fd, shown):
    # type: (str, int, int, str) -> int
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafePath(errno.ELOOP, "symbolic link (not followed): %s" % shown) from None
        if exc.errno == errno.ENOTDIR:
            # O_DIRECTORY on a link or a file: say which, without following it.
            try:
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            except OSError:
                raise exc from None
            shown = "%s (not followed): %s" % (_kind(mode), shown)
            raise UnsafePath(errno.ENOTDIR, shown) from None
        raise


def open_under(root, relpath, directory=False):
    # type: (Any, str, bool) -> int
    """Descriptor of root/relpath; no link anywhere is followed (see the module doc)."""
    parts = _components(relpath)
    current = os.open(str(root), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    walked = ""
    try:
        if not parts:
            if directory:
                fd, current = current, -1
                return fd
            raise UnsafePath(errno.EISDIR, "directory: %s" % (root,))
        for index, part in enumerate(parts):
            walked = walked + "/" + part
            last = index == len(parts) - 1
            flags = _DIR_FLAGS if (not last or directory) else _FILE_FLAGS
            child = _open_component(part, flags, current, walked)
            os.close(current)
            current = child
        mode = os.fstat(current).st_mode
        wanted = stat.S_ISDIR(mode) if directory else stat.S_ISREG(mode)
        if not wanted:
            raise UnsafePath(errno.EINVAL, "%s (not read): %s" % (_kind(mode), walked))
        fd, current = current, -1
        return fd
    finally:
        if current >= 0:
            os.close(current)


def read_bytes_under(root, relpath, limit):
    # type: (Any, str, int) -> bytes
    """At most ``limit`` bytes of root/relpath; UnsafePath when the file holds more."""
    fd = open_under(root, relpath)
    try:
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnsafePath(errno.EFBIG, "%s: larger than limit (%d bytes)" % (relpath, limit))
    return data


def read_text_under(root, relpath, limit, encoding="utf-8"):
    # type: (Any, str, int, str) -> str
    return read_bytes_under(root, relpath, limit).decode(encoding, "replace")


def list_under(root, relpath):
    # type: (Any, str) -> list
    """(name, kind) of each entry of a folder; kind is file, dir, link or other."""
    fd = open_under(root, relpath, directory=True)
    try:
        names = sorted(os.listdir(fd))
        entries = []
        for name in names:
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                kind = "link"
            elif stat.S_ISDIR(mode):
                kind = "dir"
            elif stat.S_ISREG(mode):
                kind = "file"
            else:
                kind = "other"
            entries.append((name, kind))
        return entries
    finally:
        os.close(fd)
