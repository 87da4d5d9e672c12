"""BundleStore: validated bots on disk, content-addressed by their sha256.

Layout: ``root/<first two hex digits>/<sha256>/`` holding the bot's files, main.py at its top. A folder
appears there only by an atomic rename of a finished temporary folder, so a path that exists is complete
and never changes: a new version never disturbs a tournament running an older one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from arena.private_files import private_dir
from arena.uploads.bundle import ENTRY_POINT, BotBundle, content_hash
from arena.uploads.errors import ErrorCode, UploadError

# Arena's user's alone: the sandbox (root) copies a bundle for each run's own uid (sandbox/botfiles.py).
FILE_MODE = 0o600
DIR_MODE = 0o700
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX = ".tmp-"


class BundleStore:
    """Stores BotBundles under ``root``; safe for concurrent writers, in threads or processes."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """The folder holding the bundle's main.py (what `arena sandbox run` and supervisors take)."""
        return self.root / _check_sha(sha256)[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return (self.path(sha256) / ENTRY_POINT).is_file()

    def put(self, bundle: BotBundle) -> Path:
        """Write ``bundle`` (idempotent: an existing copy is kept) and return its folder."""
        _check_bundle(bundle)
        final = self.path(bundle.sha256)
        if final.is_dir():
            return final
        private_dir(self.root)  # contestants' code: only Arena's user may list or enter the store
        _makedirs(final.parent)
        temp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=self.root))
        try:
            for rel, content in bundle.files.items():
                target = temp / rel
                _makedirs(target.parent)
                _write(target, content)
            for folder in sorted({p.parent for p in temp.rglob("*")} | {temp}, reverse=True):
                os.chmod(folder, DIR_MODE)  # whatever the umask
                _fsync_dir(folder)
            try:
                os.rename(temp, final)
            except OSError:  # ENOTEMPTY/EEXIST: a concurrent put of the same bundle won; its copy is identical
                if not final.is_dir():
                    raise
            else:
                _fsync_dir(final.parent)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return final

    def load(self, sha256: str) -> BotBundle:
        """Read a stored bundle back (its hash recomputed, so on-disk tampering shows as a different sha256)."""
        folder = self.path(sha256)
        if not folder.is_dir():
            raise FileNotFoundError(f"no stored bundle {sha256}")
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        return BotBundle.from_files(files)

    def delete(self, sha256: str) -> bool:
        """Remove a bundle; True if it was there. The folder vanishes atomically (renamed away, then removed)."""
        folder = self.path(sha256)
        doomed = self.root / f"{_TEMP_PREFIX}del-{sha256}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            os.rename(folder, doomed)
        except FileNotFoundError:
            return False
        shutil.rmtree(doomed)
        return True

    def clean_temp(self, older_than: float = 3600.0) -> int:
        """Remove temporary folders left by crashed writers; returns how many were removed."""
        removed = 0
        cutoff = time.time() - older_than
        for entry in self.root.glob(f"{_TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry)
                    removed += 1
        return removed


def _check_bundle(bundle: BotBundle) -> None:
    """A BotBundle can be built by hand: recheck what the layout relies on before writing anything."""
    for rel in bundle.files:
        parts = rel.split("/")
        if rel.startswith("/") or "\\" in rel or "\0" in rel or any(p in ("", ".", "..") for p in parts):
            raise UploadError(ErrorCode.BAD_PATH, f"{rel!r}: not a normalised relative path; use validate_upload")
    if ENTRY_POINT not in bundle.files or content_hash(bundle.files) != bundle.sha256:
        raise UploadError(ErrorCode.BAD_SHA256, "the bundle's sha256 does not match its files; use validate_upload")


def _check_sha(sha256: str) -> str:
    """Only a lower-case hex sha256 may become a path: nothing else can reach outside the store."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise UploadError(ErrorCode.BAD_SHA256, f"{sha256!r}: expected 64 lower-case hex digits")
    return sha256


def _makedirs(folder: Path) -> None:
    """Create missing folders as 0755 whatever the umask."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for item in reversed(missing):
        with contextlib.suppress(FileExistsError):
            item.mkdir()
            os.chmod(item, DIR_MODE)


def _write(target: Path, content: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
