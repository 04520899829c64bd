"""Open files below a root without ever following a link: the one safe-open policy used by
``self-check``, ``collect`` and the walker's folder and live-root walking.

A path below the root is opened one component at a time, each relative to the folder opened
before it (``dir_fd``) and with ``O_NOFOLLOW``: a symbolic link anywhere on the way, a parent
folder swapped for a link, ``..``, or a special file at the end (FIFO, device, socket) raises
``UnsafePath`` instead of reading a file outside the root. Only the root itself, typed by the
user, may be a link.

Kept to the standard library and Python 3.6 syntax: the on-VM zipapp bundles this file and runs
it with whatever interpreter the VM has.

>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> os.mkdir(os.path.join(root, "etc"))
>>> with open(os.path.join(root, "etc", "waagent.conf"), "w") as out:
...     _ = out.write("Logs.Verbose=n\\n")
>>> os.symlink("/etc/passwd", os.path.join(root, "etc", "link"))
>>> read_text_under(root, "etc/waagent.conf", 100)
'Logs.Verbose=n\\n'
>>> read_text_under(root, "etc/link", 100)
Traceback (most recent call last):
...
analyzer.safe_open.UnsafePath: [Errno 40] symbolic link: 'etc/link'
>>> list_under(root, "etc")
[('link', 'link'), ('waagent.conf', 'file')]
"""

import errno
import os
import stat

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

_KINDS = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "link"),
)


class UnsafePath(OSError):
    """A path component is a link, a special file, or escapes the root."""


def _parts(relpath):
    # type: (object) -> list
    parts = [part for part in str(relpath).split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(errno.EACCES, "escapes the root", str(relpath))
    return parts


def kind_of(mode):
    # type: (int) -> str
    """``file``, ``dir``, ``link`` or ``other`` for an ``st_mode``."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "other"


def _refuse(dir_fd, name, shown, want_dir):
    # type: (int, str, str, bool) -> None
    """Raise ``UnsafePath`` when ``name`` (in ``dir_fd``) is a link or the wrong kind."""
    mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    kind = kind_of(mode)
    if kind == "link":
        raise UnsafePath(errno.ELOOP, "symbolic link", shown)
    if want_dir and kind != "dir":
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", shown)
    if not want_dir and kind != "file":
        raise UnsafePath(errno.EINVAL, "special file", shown)


def open_under(root, relpath, directory=False):
    # type: (object, object, bool) -> int
    """Open ``root/relpath`` by walking its components with ``dir_fd`` and ``O_NOFOLLOW``; the
    final component must be a regular file (a folder with ``directory=True``). Returns a file
    descriptor the caller closes. Raises ``UnsafePath``, or the ``OSError`` of the open
    (``FileNotFoundError``, ``PermissionError``)."""
    parts = _parts(relpath)
    current = os.open(str(root), os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for index, name in enumerate(parts):
            last = index == len(parts) - 1
            want_dir = directory or not last
            shown = "/".join(parts[: index + 1])
            # Checked before opening, so a device or FIFO is never opened at all...
            _refuse(current, name, shown, want_dir)
            flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC
            flags |= _DIRECTORY if want_dir else _NONBLOCK
            try:
                opened = os.open(name, flags, dir_fd=current)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EMLINK):
                    raise UnsafePath(errno.ELOOP, "symbolic link", shown) from None
                raise
            os.close(current)
            current = opened
        # ...and checked again on what was opened (the entry may have been swapped since).
        mode = os.fstat(current).st_mode
        if directory and not stat.S_ISDIR(mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(relpath))
        if not directory and not stat.S_ISREG(mode):
            raise UnsafePath(errno.EINVAL, "special file", str(relpath))
        return current
    except BaseException:
        os.close(current)
        raise


def read_bytes_under(root, relpath, limit):
    # type: (object, object, int) -> bytes
    """At most ``limit`` bytes of the regular file ``root/relpath``; ``UnsafePath`` when the
    file holds more."""
    fd = open_under(root, relpath)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(errno.EFBIG, f"larger than limit {limit} bytes", str(relpath))
    return data


def read_text_under(root, relpath, limit, encoding="utf-8"):
    # type: (object, object, int, str) -> str
    """``read_bytes_under`` decoded (undecodable bytes replaced)."""
    return read_bytes_under(root, relpath, limit).decode(encoding, "replace")


def list_under(root, relpath):
    # type: (object, object) -> list
    """Sorted ``(name, kind)`` of the folder ``root/relpath`` (kinds ``file``, ``dir``,
    ``link``, ``other``), each entry looked at without following it."""
    fd = open_under(root, relpath, directory=True)
    try:
        entries = []
        for name in sorted(os.listdir(fd)):
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # removed since the listing
            entries.append((name, kind_of(mode)))
        return entries
    finally:
        os.close(fd)


def lstat_under(root, relpath):
    # type: (object, object) -> os.stat_result
    """``lstat`` of ``root/relpath`` reached through folders opened without following links
    (the last component itself is not followed either)."""
    parts = _parts(relpath)
    if not parts:
        return os.stat(str(root))
    parent = open_under(root, "/".join(parts[:-1]), directory=True)
    try:
        return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)
