"""What only Arena's own user may read: the data dir and what it keeps there (the SQLite file with its API-key
hashes, bot bundles, replay feeds, Redis's append-only file and password), made 0700 / 0600 whatever the umask.

A folder or file Arena names as its own is also tightened when it already exists with wider modes (an older
install's), but only if this user owns it: anything else is left alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o777 & ~mode:
        os.chmod(path, mode)


def _make_missing(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700; folders that exist are left as they are."""
    missing = []
    folder = path
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for item in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent maker won; its mode is the same
            item.mkdir(mode=DIR_MODE)
        os.chmod(item, DIR_MODE)  # mkdir's mode is masked by the umask


def private_dir(path: Path) -> Path:
    """``path`` as a folder of mode 0700 (Arena's own: tightened if it exists), missing parents made 0700 too."""
    _make_missing(path)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file of mode 0600 (created empty if missing) before anyone writes it: e.g. an SQLite
    database, whose journal and WAL files then take the same mode. Its folder is made 0700 if missing, but an
    existing one is left alone (it may be shared, like /tmp)."""
    _make_missing(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def write_private(path: Path, text: str) -> Path:
    """Replace ``path`` with a new 0600 file holding ``text`` (never a wider mode, not even for a moment)."""
    private_dir(path.parent)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def stored_secret(path: Path, nbytes: int = 32) -> str:
    """The secret kept in ``path`` (0600), made (random, URL-safe) the first time: it survives restarts."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
        secret = path.read_text().strip()
        if secret:
            return secret
        raise ValueError(f"{path} is empty: remove it to have a new secret made") from None
    secret = secrets.token_urlsafe(nbytes)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret
