"""validate_upload: one uploaded file (a .py, .zip or .tar.gz) in, a BotBundle or an UploadError out.

The service never parses an upload itself: ``validate_upload`` hands it to a quarantined child
(arena/uploads/quarantine.py) that runs ``inspect_upload`` as an unprivileged user, without network, under
memory, CPU and time caps, and answers with a verdict the parent checks again before it believes it.
"""

from __future__ import annotations

import dataclasses
import encodings.cp437  # zipfile decodes legacy names with it: loaded before the quarantined child drops root
import encodings.utf_8_sig  # noqa: F401 - .py sources are read with it
import json
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

from arena.uploads import archive, paths, quarantine, source
from arena.uploads.archive import Collector
from arena.uploads.bundle import ENTRY_POINT, BotBundle
from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import MiB, UploadLimits, size_text

_TASK = "arena.uploads.validate:inspect_in_quarantine"
_MESSAGE_CHARS = 2000  # of an error message or warning from the child
_HEADER_BYTES = 4 * MiB  # the verdict's JSON line; the files' bytes follow it

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty zip
_GZIP_MAGIC = b"\x1f\x8b"
_KNOWN_MAGIC = {b"PK\x03\x04": "a zip archive", b"PK\x05\x06": "a zip archive", _GZIP_MAGIC: "gzip data",
                b"\x7fELF": "an ELF executable", b"Rar!": "a RAR archive",
                b"7z\xbc\xaf": "a 7-Zip archive", b"\xfd7zXZ": "xz data"}  # fmt: skip


def validate_upload(filename: str, data: bytes, limits: UploadLimits | None = None) -> BotBundle:
    """Validate an upload in quarantine and return its normalised bundle.

    ``filename`` picks the format (``.py``, ``.zip``, ``.tar.gz``/``.tgz``; case-insensitive) and the
    content must agree. A single ``.py`` becomes ``main.py``. Raises UploadError on anything else:
    UPLOAD_TOO_COMPLEX (or SOURCE_TOO_COMPLEX while compiling) when the check ran out of memory, CPU or
    time, CHECK_UNAVAILABLE when the service could not check it at all (retry later).
    """
    limits = limits or UploadLimits()
    _precheck(filename, data, limits)  # the cheap refusals need no child
    header = json.dumps({"filename": filename, "limits": _limits_to_json(limits)}).encode()
    confinement = quarantine.Confinement(
        memory_bytes=limits.check_memory_bytes, cpu_seconds=max(1, round(limits.check_cpu_seconds)),
        wall_seconds=limits.check_wall_seconds, user=limits.check_user,
        input_bytes=len(header) + 1 + limits.max_upload_bytes,
        output_bytes=_HEADER_BYTES + limits.max_unpacked_bytes,
    )
    try:
        answer = quarantine.run(_TASK, header + b"\n" + data, confinement)
    except quarantine.QuarantineFailed as failed:
        raise _refusal(failed, limits) from None
    return read_verdict(answer, limits)


def _precheck(filename: str, data: bytes, limits: UploadLimits) -> None:
    if not data:
        raise UploadError(ErrorCode.EMPTY_UPLOAD, "the upload is empty; send a .py file or an archive")
    if len(data) > limits.max_upload_bytes:
        raise UploadError(
            ErrorCode.UPLOAD_TOO_LARGE,
            f"{len(data)} bytes; uploads are limited to {size_text(limits.max_upload_bytes)}, shrink the bot",
        )
    _kind(filename)


def _refusal(failed: quarantine.QuarantineFailed, limits: UploadLimits) -> UploadError:
    if failed.reason in ("busy", "unavailable", "output", "crashed"):
        return UploadError(ErrorCode.CHECK_UNAVAILABLE, f"the upload could not be checked ({failed.detail}); "
                                                        "retry in a few seconds")
    if failed.phase == "compile":
        return UploadError(ErrorCode.SOURCE_TOO_COMPLEX, f"the Python source is {source.too_complex(limits)}")
    return UploadError(
        ErrorCode.UPLOAD_TOO_COMPLEX,
        f"the upload is too large or complex to check: its check {failed.detail} (a check may use "
        f"{limits.check_memory_bytes >> 20} MiB, {limits.check_cpu_seconds:g} CPU-seconds and "
        f"{limits.check_wall_seconds:g} s); simplify the archive",
    )


def inspect_upload(
    filename: str, data: bytes, limits: UploadLimits, announce: Callable[[str], None] = lambda phase: None
) -> BotBundle:
    """The check itself, in this process: what the quarantined child runs (tests may call it directly)."""
    _precheck(filename, data, limits)
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
    announce("compile")
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


# -- the verdict, between the quarantined child and the service ---------------------------------------------------


def _limits_to_json(limits: UploadLimits) -> dict[str, Any]:
    fields = dataclasses.asdict(limits)
    fields["allowed_suffixes"] = sorted(limits.allowed_suffixes)
    return fields


def inspect_in_quarantine(payload: bytes, out: BinaryIO) -> None:  # pragma: no cover - runs in the child
    """The quarantined task: a JSON header line and the upload in; a verdict line and the files' bytes out."""
    quarantine.announce("read")
    line, _, data = payload.partition(b"\n")
    spec = json.loads(line)
    fields = spec["limits"] | {"allowed_suffixes": frozenset(spec["limits"]["allowed_suffixes"])}
    limits = UploadLimits(**fields)
    try:
        bundle = inspect_upload(spec["filename"], data, limits, quarantine.announce)
    except UploadError as exc:
        out.write(json.dumps({"ok": False, "code": exc.code.value, "message": exc.message}).encode() + b"\n")
        return
    except MemoryError:
        raise  # the quarantine tells it: the check ran out of memory
    except Exception as exc:  # a reader's bug on hostile input (RecursionError included): the upload is unreadable
        traceback.print_exc()
        message = f"the upload could not be read ({type(exc).__name__}); re-create the archive"
        out.write(json.dumps({"ok": False, "code": ErrorCode.CORRUPT_ARCHIVE.value, "message": message}).encode())
        out.write(b"\n")
        return
    out.write(json.dumps({"ok": True, "files": [[path, len(content)] for path, content in bundle.files.items()],
                          "warnings": list(bundle.warnings), "ignored": list(bundle.ignored)}).encode() + b"\n")
    for content in bundle.files.values():
        out.write(content)


def read_verdict(answer: bytes, limits: UploadLimits) -> BotBundle:
    """Believe the child no more than the upload: every path, size and message is checked again here."""
    line, newline, body = answer.partition(b"\n")
    try:
        if not newline or len(line) > _HEADER_BYTES:
            raise ValueError("no verdict line")
        verdict = json.loads(line)
        if verdict["ok"] is False:
            code = ErrorCode(verdict["code"])
            if code in (ErrorCode.CHECK_UNAVAILABLE,) or not isinstance(verdict["message"], str):
                raise ValueError("not a refusal the checker may give")
            refusal = UploadError(code, verdict["message"][:_MESSAGE_CHARS])
        else:
            files, warnings, ignored = _files_of(verdict, body, limits)
    except (UploadError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UploadError(ErrorCode.CHECK_UNAVAILABLE,
                          f"the upload checker answered out of protocol ({exc}); retry in a few seconds") from None
    if verdict["ok"] is False:
        raise refusal
    return BotBundle.from_files(files, warnings=warnings, ignored=ignored)


def _files_of(
    verdict: dict[str, Any], body: bytes, limits: UploadLimits
) -> tuple[dict[str, bytes], tuple[str, ...], tuple[str, ...]]:
    files, offset = {}, 0
    for path, size in verdict["files"]:
        if not isinstance(path, str) or paths.normalise(path, limits) != path or path in files:
            raise ValueError(f"bad path {path!r}")
        if paths.suffix(path) not in limits.allowed_suffixes or paths.is_junk(path):
            raise ValueError(f"{path}: a file the limits do not allow")
        if not isinstance(size, int) or not 0 <= size <= limits.max_file_bytes:
            raise ValueError(f"{path}: bad size")
        files[path] = body[offset:offset + size]
        offset += size
    if offset != len(body) or offset > limits.max_unpacked_bytes or len(files) > limits.max_files:
        raise ValueError("the files do not add up")
    if ENTRY_POINT not in files:
        raise ValueError("no main.py")
    texts = [verdict["warnings"], verdict["ignored"]]
    if not all(isinstance(items, list) and len(items) <= limits.max_entries
               and all(isinstance(item, str) for item in items) for items in texts):
        raise ValueError("bad warnings")
    warnings, ignored = (tuple(item[:_MESSAGE_CHARS] for item in items) for items in texts)
    return files, warnings, ignored
