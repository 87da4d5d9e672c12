"""Member paths: normalise what an archive claims to a safe, relative, POSIX path or reject it."""

from __future__ import annotations

import re

from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import UploadLimits

# ASCII only: zip name encodings (cp437 vs UTF-8) and Unicode normalisation forms make non-ASCII names
# ambiguous, and every character here is safe in a shell, a URL and on every file system.
_COMPONENT = re.compile(r"[A-Za-z0-9_.+=@,~-]+(?: [A-Za-z0-9_.+=@,~-]+)*")
_DRIVE = re.compile(r"[A-Za-z]:")
_ALLOWED_CHARS = "ASCII letters, digits, . _ - + = @ , ~ and single inner spaces"

# Litter from archivers and interpreters: dropped (and listed in BotBundle.ignored), never stored.
_JUNK_DIRS = frozenset({"__MACOSX", "__pycache__"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def normalise(raw: str, limits: UploadLimits) -> str:
    """Return ``raw`` as a relative POSIX path without ``.`` or empty components; "" for the root itself.

    Raises UploadError for traversal, absolute paths, backslashes, odd characters and over-long paths.
    """
    if "\\" in raw:
        if raw.startswith("\\") or _DRIVE.match(raw):
            raise UploadError(ErrorCode.ABSOLUTE_PATH, f"{raw!r}: absolute Windows path; archive paths are relative")
        raise UploadError(ErrorCode.BAD_PATH, f"{raw!r}: backslash in a path; re-create the archive using '/'")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise UploadError(ErrorCode.ABSOLUTE_PATH, f"{raw!r}: absolute path; paths must be relative to the bot's root")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UploadError(ErrorCode.PATH_TRAVERSAL, f"{raw!r}: '..' in a path; keep every file inside the bot folder")
    for part in parts:
        if not _COMPONENT.fullmatch(part):
            raise UploadError(ErrorCode.BAD_PATH, f"{raw!r}: rename {part!r}; names may use {_ALLOWED_CHARS}")
    path = "/".join(parts)
    if len(path) > limits.max_path_length:
        raise UploadError(
            ErrorCode.PATH_TOO_LONG, f"{path[:60]}...: path longer than {limits.max_path_length} characters"
        )
    if len(parts) > limits.max_path_depth:
        raise UploadError(ErrorCode.PATH_TOO_LONG, f"{path}: nested deeper than {limits.max_path_depth} folders")
    return path


def is_junk(path: str) -> bool:
    """Archiver/interpreter litter: macOS resource forks, Finder and Explorer files, bytecode caches."""
    parts = path.split("/")
    return parts[-1] in _JUNK_FILES or parts[-1].endswith(".pyc") or any(p in _JUNK_DIRS for p in parts[:-1])


def suffix(path: str) -> str:
    """The lower-cased last extension of the file name ("" if none; a leading dot is not an extension)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""
