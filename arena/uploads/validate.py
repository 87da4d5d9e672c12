"""validate_upload: one uploaded file (a .py, .zip or .tar.gz) in, a BotBundle or an UploadError out."""

from __future__ import annotations

from arena.uploads import archive, source
from arena.uploads.archive import Collector
from arena.uploads.bundle import ENTRY_POINT, BotBundle
from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import UploadLimits, size_text

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty zip
_GZIP_MAGIC = b"\x1f\x8b"
_KNOWN_MAGIC = {b"PK\x03\x04": "a zip archive", b"PK\x05\x06": "a zip archive", _GZIP_MAGIC: "gzip data",
                b"\x7fELF": "an ELF executable", b"Rar!": "a RAR archive",
                b"7z\xbc\xaf": "a 7-Zip archive", b"\xfd7zXZ": "xz data"}  # fmt: skip


def validate_upload(filename: str, data: bytes, limits: UploadLimits | None = None) -> BotBundle:
    """Validate an upload entirely in memory and return its normalised bundle.

    ``filename`` picks the format (``.py``, ``.zip``, ``.tar.gz``/``.tgz``; case-insensitive) and the
    content must agree. A single ``.py`` becomes ``main.py``. Raises UploadError on anything else.
    """
    limits = limits or UploadLimits()
    if not data:
        raise UploadError(ErrorCode.EMPTY_UPLOAD, "the upload is empty; send a .py file or an archive")
    if len(data) > limits.max_upload_bytes:
        raise UploadError(
            ErrorCode.UPLOAD_TOO_LARGE,
            f"{len(data)} bytes; uploads are limited to {size_text(limits.max_upload_bytes)}, shrink the bot",
        )
    kind = _kind(filename)
    collector = Collector(limits)
    if kind == "py":
        _expect(filename, data, ())
        collector.admit(ENTRY_POINT, archive.Kind.FILE, len(data))
        collector.files[ENTRY_POINT] = data
    elif kind == "zip":
        _expect(filename, data, _ZIP_MAGIC)
        archive.read_zip(data, collector)
    else:
        _expect(filename, data, (_GZIP_MAGIC,))
        archive.read_tar_gz(data, collector)
    files = _root(collector, limits)
    sources = {path: source.decode(path, content) for path, content in files.items() if path.endswith(".py")}
    warnings = source.check_sources(sources, limits)
    return BotBundle.from_files(files, warnings=tuple(warnings), ignored=tuple(collector.ignored))


def _kind(filename: str) -> str:
    name = filename.lower()
    for suffix, kind in ((".py", "py"), (".zip", "zip"), (".tar.gz", "tgz"), (".tgz", "tgz")):
        if name.endswith(suffix):
            return kind
    raise UploadError(
        ErrorCode.UNSUPPORTED_TYPE, f"{filename!r}: upload a .py file, a .zip or a .tar.gz (.tgz) archive"
    )


def _expect(filename: str, data: bytes, magic: tuple[bytes, ...]) -> None:
    """The content must be what the name says: no renamed archives, executables or other formats."""
    if magic and data.startswith(magic):
        return
    found = next((what for prefix, what in _KNOWN_MAGIC.items() if data.startswith(prefix)), None)
    if magic or found:
        actually = f"it is {found}" if found else "its content is not in that format"
        raise UploadError(ErrorCode.TYPE_MISMATCH, f"{filename!r}: {actually}; name the file after its real format")


def _root(collector: Collector, limits: UploadLimits) -> dict[str, bytes]:
    """Check the tree's shape and return the files relative to the bot's root (with main.py)."""
    files = collector.files
    if not files:
        raise UploadError(ErrorCode.EMPTY_UPLOAD, "the archive holds no files; add main.py")
    folded = {path.casefold() for path in files}
    for folder in collector.dirs:
        if folder.casefold() in folded:
            raise UploadError(ErrorCode.DUPLICATE_PATH, f"{folder!r} is both a file and a folder")
    for path in files:  # a file where another member needs a folder: "lib" and "lib/x.py"
        parts = path.casefold().split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in folded:
                prefix = path.split("/")[:depth]
                raise UploadError(ErrorCode.DUPLICATE_PATH, f"{'/'.join(prefix)!r} is both a file and a folder")
    if ENTRY_POINT in files:
        return files
    tops = {path.split("/", 1)[0] for path in files}
    if limits.unwrap_single_folder and len(tops) == 1:
        (top,) = tops
        if f"{top}/{ENTRY_POINT}" in files:
            return {path[len(top) + 1 :]: content for path, content in files.items()}
    listing = ", ".join(sorted(tops)[:8]) + (", ..." if len(tops) > 8 else "")
    raise UploadError(
        ErrorCode.MISSING_ENTRY_POINT,
        f"no main.py at the archive's root (found {listing}); put the bot's entry point in main.py at the top level",
    )
