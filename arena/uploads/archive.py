"""Reading zip and tar.gz uploads into memory, member by member, under streaming caps.

Nothing touches the disk. Headers are used to reject early, never trusted: every byte read is counted
against the per-file and total budgets as it is decompressed.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
import zlib
from enum import Enum
from typing import IO, TYPE_CHECKING

from arena.uploads import paths
from arena.uploads.errors import ErrorCode, UploadError
from arena.uploads.limits import MiB, UploadLimits, size_text

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_CHUNK = 64 * 1024
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_ZIP_LOCAL_HEADER = 30  # fixed part of a zip local file header, before its name and extra field


class Kind(Enum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"
    SPECIAL = "special"


class Collector:
    """Applies the limits to a stream of archive members and keeps the accepted files in memory."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.files: dict[str, bytes] = {}
        self.dirs: set[str] = set()
        self.ignored: list[str] = []
        self._folded: dict[str, str] = {}  # casefolded path -> path, for case-insensitive duplicates
        self._entries = 0
        self._declared = 0
        self._unpacked = 0

    def admit(self, raw: str, kind: Kind, declared_size: int) -> str | None:
        """Check one member's header; return its normalised path if its content should be read, else None."""
        limits = self.limits
        self._entries += 1
        if self._entries > limits.max_entries:
            raise UploadError(
                ErrorCode.TOO_MANY_FILES, f"more than {limits.max_entries} archive entries (folders included)"
            )
        path = paths.normalise(raw, limits)
        if kind is Kind.LINK:
            raise UploadError(ErrorCode.LINK_ENTRY, f"{raw!r} is a link; replace it with the file it points to")
        if kind is Kind.SPECIAL:
            raise UploadError(
                ErrorCode.SPECIAL_ENTRY, f"{raw!r} is a device, fifo or other special file; remove it from the archive"
            )
        if not path:
            return None  # the root folder ("./")
        if kind is Kind.DIR:
            self.dirs.add(path)
            return None
        if paths.is_junk(path):
            self.ignored.append(path)
            return None
        if paths.suffix(path) not in limits.allowed_suffixes:
            allowed = " ".join(sorted(limits.allowed_suffixes))
            raise UploadError(
                ErrorCode.FILE_TYPE_NOT_ALLOWED, f"{path}: file type not allowed; a bot may contain only {allowed}"
            )
        folded = path.casefold()
        if folded in self._folded:
            other = self._folded[folded]
            same = "twice" if other == path else f"and {other!r} (names differing only in case)"
            raise UploadError(ErrorCode.DUPLICATE_PATH, f"{path!r} {same}; keep one of them")
        self._folded[folded] = path
        if len(self._folded) > limits.max_files:
            raise UploadError(ErrorCode.TOO_MANY_FILES, f"more than {limits.max_files} files; remove some")
        self._check_sizes(path, declared_size, self._declared)
        self._declared += declared_size
        return path

    def read(self, path: str, stream: IO[bytes]) -> None:
        """Read one admitted member, counting every decompressed byte against the budgets."""
        cap = min(self.limits.max_file_bytes, self.limits.max_unpacked_bytes - self._unpacked)
        chunks: list[bytes] = []
        size = 0
        while chunk := stream.read(min(_CHUNK, cap - size + 1)):
            size += len(chunk)
            if size > cap:
                self._check_sizes(path, size, self._unpacked)
            chunks.append(chunk)
        self._unpacked += size
        self.files[path] = b"".join(chunks)

    def _check_sizes(self, path: str, size: int, before: int) -> None:
        limits = self.limits
        if size > limits.max_file_bytes:
            raise UploadError(
                ErrorCode.FILE_TOO_LARGE, f"{path}: over {size_text(limits.max_file_bytes)} unpacked; shrink or drop it"
            )
        if before + size > limits.max_unpacked_bytes:
            raise UploadError(
                ErrorCode.UNPACKED_TOO_LARGE,
                f"files add up to over {size_text(limits.max_unpacked_bytes)} unpacked (at {path}); remove large files",
            )


def read_zip(data: bytes, collector: Collector) -> None:
    """Collect every member of a zip archive. All headers are checked before anything is decompressed."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise UploadError(ErrorCode.CORRUPT_ARCHIVE, f"not a readable zip archive ({exc}); re-create it") from exc
    with archive:
        infos = archive.infolist()
        _check_zip_layout(infos, len(data))
        wanted: list[tuple[str, zipfile.ZipInfo]] = []
        for info in infos:
            if "\0" in info.orig_filename:  # zipfile silently cuts a name at NUL
                raise UploadError(ErrorCode.BAD_PATH, f"{info.orig_filename!r}: NUL byte in a file name")
            if info.flag_bits & 0x1:
                raise UploadError(
                    ErrorCode.ENCRYPTED_ENTRY, f"{info.filename}: encrypted; upload an archive without a password"
                )
            path = collector.admit(info.orig_filename, _zip_kind(info), info.file_size)
            if path is None:
                continue
            if info.compress_type not in _ZIP_METHODS:
                raise UploadError(
                    ErrorCode.UNSUPPORTED_COMPRESSION,
                    f"{path}: compression method {info.compress_type} is not supported; use standard (deflate) zip",
                )
            _check_ratio(path, info.file_size, info.compress_size, collector.limits)
            wanted.append((path, info))
        # Many members each under the floor can still add up to a bomb.
        _check_ratio("the archive", sum(info.file_size for _, info in wanted), len(data), collector.limits)
        for path, info in wanted:
            try:
                with archive.open(info) as stream:
                    collector.read(path, stream)
            except (zipfile.BadZipFile, EOFError, zlib.error, ValueError) as exc:
                raise UploadError(
                    ErrorCode.CORRUPT_ARCHIVE, f"{path}: damaged zip entry ({exc}); re-create the archive"
                ) from exc


def _zip_kind(info: zipfile.ZipInfo) -> Kind:
    mode = info.external_attr >> 16
    # Unix file type bits, whatever create_system claims: some archivers set them on "DOS" entries too.
    if stat.S_IFMT(mode):
        if stat.S_ISLNK(mode):
            return Kind.LINK
        if stat.S_ISDIR(mode):
            return Kind.DIR
        if not stat.S_ISREG(mode):
            return Kind.SPECIAL
    return Kind.DIR if info.is_dir() else Kind.FILE


def _check_zip_layout(infos: list[zipfile.ZipInfo], size: int) -> None:
    """Refuse entries whose data overlap: the trick behind non-recursive zip bombs."""
    end = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset < end:
            raise UploadError(
                ErrorCode.CORRUPT_ARCHIVE, f"{info.filename}: entries overlap in the archive; re-create it"
            )
        name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace")
        end = info.header_offset + _ZIP_LOCAL_HEADER + len(name) + info.compress_size
    if end > size:
        raise UploadError(ErrorCode.CORRUPT_ARCHIVE, "an entry runs past the end of the zip; the upload is truncated")


def _check_ratio(path: str, size: int, packed: int, limits: UploadLimits) -> None:
    if size > limits.ratio_floor_bytes and size > limits.max_compression_ratio * max(packed, 1):
        raise UploadError(
            ErrorCode.COMPRESSION_RATIO,
            f"{path}: compresses more than {limits.max_compression_ratio:g}:1, which looks like a zip bomb",
        )


class _CappedStream(io.RawIOBase):
    """The decompressed tar stream, refused once it outgrows the budget.

    tarfile reads pax and GNU long-name headers whole into memory, so the cap must sit under tarfile,
    not only around the member reads.
    """

    def __init__(self, inner: io.BufferedIOBase, cap: int, packed: int, limits: UploadLimits) -> None:
        self._inner, self._cap, self._packed, self._limits = inner, cap, packed, limits
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        data = self._inner.read(min(len(view), self._cap - self.count + 1))
        self.count += len(data)
        if self.count > self._cap:
            raise UploadError(
                ErrorCode.UNPACKED_TOO_LARGE,
                f"the tar stream unpacks to more than {size_text(self._cap)}; remove large files",
            )
        _check_ratio("the archive", self.count, self._packed, self._limits)
        view[: len(data)] = data
        return len(data)


def read_tar_gz(data: bytes, collector: Collector) -> None:
    """Collect every member of a gzip-compressed tar, in one forward pass (tarfile's stream mode)."""
    limits = collector.limits
    # Room for the files plus tar's per-member headers and padding (three 512-byte blocks is generous).
    cap = limits.max_unpacked_bytes + limits.max_entries * 3 * 512 + MiB
    raw = _CappedStream(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), cap, len(data), limits)
    stream = io.BufferedReader(raw, buffer_size=_CHUNK)
    try:
        with _open_tar(stream) as archive:
            for member in archive:
                path = collector.admit(member.name, _tar_kind(member), member.size)
                if path is not None:
                    extracted = archive.extractfile(member)
                    assert extracted is not None  # regular files always have content
                    collector.read(path, extracted)
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise UploadError(ErrorCode.CORRUPT_ARCHIVE, f"damaged tar.gz ({exc}); re-create the archive") from exc


def _open_tar(stream: IO[bytes]) -> tarfile.TarFile:
    """Open in stream mode: strictly forward reads, so tarfile never seeks around the decompressed data."""
    try:
        return tarfile.open(fileobj=stream, mode="r|")
    except tarfile.ReadError as exc:
        raise UploadError(
            ErrorCode.TYPE_MISMATCH, "a gzip file, but not a gzip-compressed tar; create it with `tar czf`"
        ) from exc


def _tar_kind(member: tarfile.TarInfo) -> Kind:
    if member.issym() or member.islnk():
        return Kind.LINK
    if member.isdir():
        return Kind.DIR
    if member.isreg() and not member.issparse():  # sparse members may unpack far beyond their data
        return Kind.FILE
    return Kind.SPECIAL
