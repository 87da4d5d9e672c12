"""Build real zip and tar.gz uploads in memory, including hostile ones, for the upload tests."""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Iterable

MAIN = b"from arena_bot import Bot, run\n\n\nclass B(Bot):\n    pass\n\n\nif __name__ == '__main__':\n    run(B)\n"

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"


def make_zip(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A zip of ``entries`` in the given order; a ZipInfo entry keeps its own attributes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some tests
        for name, data in entries:
            archive.writestr(name, data)
    return buf.getvalue()


def zip_info(name: str, mode: int | None = None, **attrs: object) -> zipfile.ZipInfo:
    """A ZipInfo with Unix mode bits (file type included) in its external attributes."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        info.create_system = 3
        info.external_attr = mode << 16
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def symlink_zip_info(name: str, create_system: int = 3) -> zipfile.ZipInfo:
    info = zip_info(name, stat.S_IFLNK | 0o777)
    info.create_system = create_system
    return info


def make_tgz(members: Iterable[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_file(name: str, data: bytes, **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def tgz_of(files: dict[str, bytes]) -> bytes:
    return make_tgz(tar_file(name, data) for name, data in files.items())


def zip_of(files: dict[str, bytes]) -> bytes:
    return make_zip(files.items())


def patch_zip(data: bytes, *, flags: int = 0, file_size: int | None = None, only: str | None = None) -> bytes:
    """Rewrite the local and central headers (of entry ``only``, or all): OR in ``flags``, claim ``file_size``.

    zipfile cannot write encrypted entries or lying sizes, so hostile archives are made by patching.
    """
    out = bytearray(data)
    for sig, flags_at, usize_at, name_len_at, name_at in ((_LOCAL, 6, 22, 26, 30), (_CENTRAL, 8, 24, 28, 46)):
        start = 0
        while (at := out.find(sig, start)) >= 0:
            start = at + 4
            (name_len,) = struct.unpack_from("<H", out, at + name_len_at)
            if only is not None and out[at + name_at : at + name_at + name_len] != only.encode():
                continue
            (old,) = struct.unpack_from("<H", out, at + flags_at)
            struct.pack_into("<H", out, at + flags_at, old | flags)
            if file_size is not None:
                struct.pack_into("<I", out, at + usize_at, file_size)
    return bytes(out)


def zeros_zip(name: str, size: int, *, zip64: bool = False) -> bytes:
    """A real zip bomb: ``size`` zero bytes, deflated at level 9 (1 GiB packs to about 1 MB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("main.py", MAIN)
        info = zip_info(name)
        with archive.open(info, "w", force_zip64=zip64) as out:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                out.write(chunk)
            out.write(bytes(size & ((1 << 20) - 1)))
    return buf.getvalue()
