"""The bot's private copy: what a sandbox mounts at /bot, readable by that sandbox's own uid and nobody else's.

The host copies the bot (a file, or a folder with main.py) for each run and gives it to the bot's host uid (its
slot's uid 10001: sandbox/uids.py) with modes 0500/0400: no other sandbox's uid, and no other user of the host,
can read it, and the stored original no longer has to be world-readable. The copy never follows a link out of
the bot (a link is copied as a link, resolved inside the sandbox, and never chowned or chmodded through);
devices, fifos and sockets are refused, and so is a bot over MAX_BYTES or MAX_ENTRIES.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from sandbox.errors import BotNotFound
from sandbox.uids import require_reachable

ENTRY = "main.py"
MAX_BYTES = 64 << 20  # a stored upload unpacks to at most 50 MiB (arena.uploads)
MAX_ENTRIES = 4096
_CHUNK = 1 << 20


def make_searchable(folder: Path) -> None:
    """Create ``folder`` (and its missing parents) 0711: another uid may pass through, never list it. Its existing
    ancestors must let anyone pass too, or a sandbox's own uid could not reach its copy: refused if not."""
    require_reachable(folder, "the sandbox's folder for bot copies")
    for item in (*reversed(folder.parents), folder):
        if not item.exists():
            with contextlib.suppress(FileExistsError):
                item.mkdir(mode=0o711)
                os.chmod(item, 0o711)  # whatever the umask


def resolve(path: str | os.PathLike[str]) -> Path:
    """The bot's source on the host: an existing file, or a folder with main.py at its top."""
    source = Path(path).resolve()
    if source.is_dir():
        if not (source / ENTRY).is_file():
            raise BotNotFound(f"{path}: a bot folder needs a main.py at its top level")
    elif not source.is_file():
        raise BotNotFound(f"{path}: no such bot file or folder")
    return source


class _Budget:
    def __init__(self, source: Path) -> None:
        self.source, self.entries, self.bytes = source, 0, 0

    def add(self, *, entries: int = 0, size: int = 0) -> None:
        self.entries += entries
        self.bytes += size
        if self.entries > MAX_ENTRIES or self.bytes > MAX_BYTES:
            raise BotNotFound(f"{self.source}: more than {MAX_ENTRIES} files or {MAX_BYTES >> 20} MiB; "
                              "a bot is its code and small data files")


def copy_private(source: Path | None, target: Path, uid: int, gid: int) -> None:
    """Copy ``source`` (a file becomes ``target/main.py``; None leaves the folder empty) into the folder
    ``target``, created if missing, everything owned by ``uid:gid``: folders 0500, files 0400 (0500 if the
    original was executable by its owner)."""
    target.mkdir(mode=0o700, exist_ok=True)
    budget = _Budget(source or target)
    if source is not None and source.is_dir():
        _copy_tree(source, target, budget)
    elif source is not None:
        _copy_file(source, target / ENTRY, budget)
    _own(target, uid, gid)


def _copy_tree(source: Path, target: Path, budget: _Budget) -> None:
    with os.scandir(source) as entries:
        for entry in entries:
            destination = target / entry.name
            if entry.is_symlink():
                budget.add(entries=1)
                os.symlink(os.readlink(entry.path), destination)
            elif entry.is_dir(follow_symlinks=False):
                budget.add(entries=1)
                destination.mkdir(mode=0o700)
                _copy_tree(Path(entry.path), destination, budget)
            elif entry.is_file(follow_symlinks=False):
                _copy_file(Path(entry.path), destination, budget)
            else:
                raise BotNotFound(f"{entry.path}: a device, fifo or socket cannot be part of a bot")


def _copy_file(source: Path, destination: Path, budget: _Budget) -> None:
    budget.add(entries=1)
    reader = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(reader)
        if not stat.S_ISREG(info.st_mode):
            raise BotNotFound(f"{source}: not a regular file")
        mode = 0o500 if info.st_mode & stat.S_IXUSR else 0o400
        writer = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            while chunk := os.read(reader, _CHUNK):
                budget.add(size=len(chunk))
                view = memoryview(chunk)
                while view:
                    view = view[os.write(writer, view):]
            os.fchmod(writer, mode)
        finally:
            os.close(writer)
    finally:
        os.close(reader)


def _own(top: Path, uid: int, gid: int) -> None:
    """chown everything under ``top`` without following links; folders become 0500."""
    for folder, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            os.lchown(path, uid, gid)
            if name in dirs and not os.path.islink(path):
                os.chmod(path, 0o500)
        os.lchown(folder, uid, gid)
    os.chmod(top, 0o500)
