"""Every hostile or broken upload is refused with its code, a message saying what to fix, and no store write."""

from __future__ import annotations

import gzip
import io
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from arena.uploads import BundleStore, ErrorCode, UploadError, UploadLimits, validate_upload
from arena.uploads.limits import MiB
from arena.uploads.validate import inspect_upload
from tests.uploads.craft import (
    MAIN,
    make_tgz,
    make_zip,
    patch_zip,
    symlink_zip_info,
    tar_entry,
    tar_file,
    tgz_of,
    zeros_zip,
    zip_info,
    zip_of,
)


def assert_rejected(
    store: BundleStore, filename: str, data: bytes, code: ErrorCode, limits: UploadLimits | None = None
) -> UploadError:
    """The path the API takes (validate, then store) fails with ``code`` and leaves the store untouched."""
    with pytest.raises(UploadError) as caught:
        store.put(validate_upload(filename, data, limits))
    assert caught.value.code == code, caught.value
    assert len(caught.value.message) > 20  # says what is wrong and what to do
    assert not store.root.exists() or not any(store.root.iterdir())
    return caught.value


def _with_main(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    return make_zip([("main.py", MAIN), *entries])


def _tgz_with_main(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    return make_tgz([tar_file("main.py", MAIN), *members])


SMALL = UploadLimits(max_file_bytes=1000, max_unpacked_bytes=2000, max_files=3, max_entries=6)

PY, ZIP, TGZ, E = "bot.py", "bot.zip", "bot.tgz", ErrorCode
Case = tuple[str, Callable[[], bytes], ErrorCode, UploadLimits | None]


def case(filename: str, build: Callable[[], bytes], code: ErrorCode, limits: UploadLimits | None = None) -> Case:
    return filename, build, code, limits


CASES: dict[str, Case] = {
    # the upload as a whole
    "empty": case("bot.py", lambda: b"", E.EMPTY_UPLOAD),
    "oversize upload": case("bot.py", lambda: b"#" * (5 * MiB + 1), E.UPLOAD_TOO_LARGE),
    "rar name": case("bot.rar", lambda: MAIN, E.UNSUPPORTED_TYPE),
    "no extension": case("bot", lambda: MAIN, E.UNSUPPORTED_TYPE),
    "plain tar": case("bot.tar", lambda: MAIN, E.UNSUPPORTED_TYPE),
    "zip named .py": case("bot.py", lambda: zip_of({"main.py": MAIN}), E.TYPE_MISMATCH),
    "elf named .py": case("bot.py", lambda: b"\x7fELF\x02\x01\x01" + bytes(100), E.TYPE_MISMATCH),
    "tgz named .zip": case(ZIP, lambda: tgz_of({"main.py": MAIN}), E.TYPE_MISMATCH),
    "text named .zip": case(ZIP, lambda: MAIN, E.TYPE_MISMATCH),
    "zip named .tar.gz": case("bot.tar.gz", lambda: zip_of({"main.py": MAIN}), E.TYPE_MISMATCH),
    "gzip but not tar": case(TGZ, lambda: gzip.compress(MAIN * 20), E.TYPE_MISMATCH),
    "truncated zip": case(ZIP, lambda: zip_of({"main.py": MAIN * 50})[:200], E.CORRUPT_ARCHIVE),
    "truncated tgz": case(TGZ, lambda: tgz_of({"main.py": MAIN * 50})[:-30], E.CORRUPT_ARCHIVE),
    "empty zip": case(ZIP, lambda: make_zip([]), E.EMPTY_UPLOAD),
    "zip of folders only": case(ZIP, lambda: make_zip([("a/", b""), ("a/b/", b"")]), E.EMPTY_UPLOAD),
    "empty tgz": case("bot.tar.gz", lambda: make_tgz([]), E.EMPTY_UPLOAD),
    # paths
    "zip traversal": case(ZIP, lambda: _with_main(("../evil.py", b"")), E.PATH_TRAVERSAL),
    "zip inner traversal": case(ZIP, lambda: _with_main(("a/../../x.py", b"")), E.PATH_TRAVERSAL),
    "zip harmless dotdot": case(ZIP, lambda: _with_main(("a/../b.py", b"")), E.PATH_TRAVERSAL),
    "zip absolute": case(ZIP, lambda: _with_main(("/etc/cron.d/x.txt", b"")), E.ABSOLUTE_PATH),
    "zip drive letter": case(ZIP, lambda: _with_main(("C:/Windows/x.py", b"")), E.ABSOLUTE_PATH),
    "zip drive backslash": case(ZIP, lambda: _with_main(("C:\\evil.py", b"")), E.ABSOLUTE_PATH),
    "zip unc path": case(ZIP, lambda: _with_main(("\\\\host\\share\\x.py", b"")), E.ABSOLUTE_PATH),
    "zip backslash": case(ZIP, lambda: _with_main(("lib\\x.py", b"")), E.BAD_PATH),
    "zip backslash dotdot": case(ZIP, lambda: _with_main(("..\\x.py", b"")), E.BAD_PATH),
    "zip non-ascii": case(ZIP, lambda: _with_main(("café.py", b"")), E.BAD_PATH),
    "zip control char": case(ZIP, lambda: _with_main(("a\nb.py", b"")), E.BAD_PATH),
    "zip colon": case(ZIP, lambda: _with_main(("data/a:b.txt", b"")), E.BAD_PATH),
    "zip nul in name": case(
        "bot.zip",
        lambda: _with_main(("evil.pyZZZZ.txt", b"")).replace(b"ZZZZ", b"\0ZZZ"),
        E.BAD_PATH,
        None,
    ),
    "zip long path": case(ZIP, lambda: _with_main(("a" * 300 + ".py", b"")), E.PATH_TOO_LONG),
    "zip deep path": case(ZIP, lambda: _with_main(("a/" * 20 + "x.py", b"")), E.PATH_TOO_LONG),
    "tar traversal": case(TGZ, lambda: _tgz_with_main(tar_file("../x.py", b"")), E.PATH_TRAVERSAL),
    "tar absolute": case(TGZ, lambda: _tgz_with_main(tar_file("/tmp/x.py", b"")), E.ABSOLUTE_PATH),
    "tar pax path traversal": case(
        "bot.tgz",
        lambda: _tgz_with_main(tar_file("ok.py", b"", pax_headers={"path": "../../evil.py"})),
        E.PATH_TRAVERSAL,
        None,
    ),
    # links and special files
    "zip symlink": case(ZIP, lambda: _with_main((symlink_zip_info("l.txt"), b"/etc/passwd")), E.LINK_ENTRY),
    "zip symlink main": case(ZIP, lambda: make_zip([(symlink_zip_info("main.py"), b"/etc/passwd")]), E.LINK_ENTRY),
    "zip dos symlink": case(ZIP, lambda: _with_main((symlink_zip_info("l.txt", create_system=0), b"/")), E.LINK_ENTRY),
    "zip fifo": case(ZIP, lambda: _with_main((zip_info("f.txt", stat.S_IFIFO | 0o644), b"")), E.SPECIAL_ENTRY),
    "zip char device": case(ZIP, lambda: _with_main((zip_info("d.txt", stat.S_IFCHR | 0o644), b"")), E.SPECIAL_ENTRY),
    "zip socket": case(ZIP, lambda: _with_main((zip_info("s.txt", stat.S_IFSOCK | 0o644), b"")), E.SPECIAL_ENTRY),
    "tar symlink": case(TGZ, lambda: _tgz_with_main(tar_entry("l.py", tarfile.SYMTYPE, "/etc/passwd")), E.LINK_ENTRY),
    "tar symlink dir": case(TGZ, lambda: _tgz_with_main(tar_entry("lib", tarfile.SYMTYPE, "/")), E.LINK_ENTRY),
    "tar hard link": case(TGZ, lambda: _tgz_with_main(tar_entry("h.py", tarfile.LNKTYPE, "main.py")), E.LINK_ENTRY),
    "tar char device": case(TGZ, lambda: _tgz_with_main(tar_entry("null.txt", tarfile.CHRTYPE)), E.SPECIAL_ENTRY),
    "tar block device": case(TGZ, lambda: _tgz_with_main(tar_entry("sda.txt", tarfile.BLKTYPE)), E.SPECIAL_ENTRY),
    "tar fifo": case(TGZ, lambda: _tgz_with_main(tar_entry("p.txt", tarfile.FIFOTYPE)), E.SPECIAL_ENTRY),
    # duplicates
    "zip duplicate": case(ZIP, lambda: _with_main(("main.py", MAIN)), E.DUPLICATE_PATH),
    "zip case duplicate": case(ZIP, lambda: _with_main(("util.py", b""), ("UTIL.py", b"")), E.DUPLICATE_PATH),
    "zip dot duplicate": case(ZIP, lambda: _with_main(("./a.py", b""), ("a.py", b"")), E.DUPLICATE_PATH),
    "zip slash duplicate": case(ZIP, lambda: _with_main(("a//b.py", b""), ("a/b.py", b"")), E.DUPLICATE_PATH),
    "zip file and folder": case(ZIP, lambda: _with_main(("x.txt", b""), ("x.txt/y.py", b"")), E.DUPLICATE_PATH),
    "zip file and folder entry": case(ZIP, lambda: _with_main(("x.txt", b""), ("X.TXT/", b"")), E.DUPLICATE_PATH),
    "tar duplicate": case(TGZ, lambda: _tgz_with_main(tar_file("./main.py", b"x = 1\n")), E.DUPLICATE_PATH),
    # archive features
    "zip encrypted": case(ZIP, lambda: patch_zip(zip_of({"main.py": MAIN}), flags=0x1), E.ENCRYPTED_ENTRY),
    "zip bzip2": case(ZIP, lambda: make_zip([("main.py", MAIN)], zipfile.ZIP_BZIP2), E.UNSUPPORTED_COMPRESSION),
    "zip lzma": case(ZIP, lambda: make_zip([("main.py", MAIN)], zipfile.ZIP_LZMA), E.UNSUPPORTED_COMPRESSION),
    # counts and sizes
    "too many files": case(ZIP, lambda: _with_main(*((f"m{i}.py", b"") for i in range(1000))), E.TOO_MANY_FILES),
    "too many entries": case(ZIP, lambda: _with_main(*((f"d{i}/", b"") for i in range(2000))), E.TOO_MANY_FILES),
    "small: many files": case(ZIP, lambda: _with_main(*((f"{i}.txt", b"") for i in range(3))), E.TOO_MANY_FILES, SMALL),
    "small: many entries": case(ZIP, lambda: _with_main(*((f"{i}/", b"") for i in range(6))), E.TOO_MANY_FILES, SMALL),
    "small: file too large": case("b.zip", lambda: _with_main(("a.txt", b"x" * 1001)), E.FILE_TOO_LARGE, SMALL),
    "small: single py too large": case("b.py", lambda: b"#" * 1001, E.FILE_TOO_LARGE, SMALL),
    "small: unpacked too large": case(
        "b.zip", lambda: _with_main(("a.txt", b"x" * 990), ("b.txt", b"y" * 990)), E.UNPACKED_TOO_LARGE, SMALL
    ),
    "small: tar unpacked too large": case(
        "b.tgz", lambda: _tgz_with_main(tar_file("a.txt", b"x" * 990), tar_file("b.txt", b"y" * 990)),
        E.UNPACKED_TOO_LARGE, SMALL,
    ),
    "zip ratio": case(ZIP, lambda: zeros_zip("zeros.txt", 8 * MiB), E.COMPRESSION_RATIO),
    "zip ratio over many members": case(
        ZIP, lambda: _with_main(*((f"z{i}.txt", bytes(MiB)) for i in range(30))), E.COMPRESSION_RATIO
    ),
    "tar ratio": case(TGZ, lambda: _tgz_with_main(tar_file("zeros.txt", bytes(8 * MiB))), E.COMPRESSION_RATIO),
    "tar declared too large": case(
        TGZ, lambda: _tgz_with_main(tar_file("big.txt", bytes(11 * MiB))), E.FILE_TOO_LARGE
    ),
    # file types
    "shared object": case(ZIP, lambda: _with_main(("lib.so", b"\x7fELF")), E.FILE_TYPE_NOT_ALLOWED),
    "hdf5 model": case(ZIP, lambda: _with_main(("model.h5", b"\x89HDF\r\n")), E.FILE_TYPE_NOT_ALLOWED),
    "joblib pickle": case(ZIP, lambda: _with_main(("model.joblib", b"\x80\x04")), E.FILE_TYPE_NOT_ALLOWED),
    "bytecode outside cache": case(ZIP, lambda: _with_main(("x.pyc_", b"")), E.FILE_TYPE_NOT_ALLOWED),
    "no suffix": case(ZIP, lambda: _with_main(("Makefile", b"all:\n")), E.FILE_TYPE_NOT_ALLOWED),
    "dotfile": case(ZIP, lambda: _with_main((".env", b"KEY=1\n")), E.FILE_TYPE_NOT_ALLOWED),
    "nested zip": case(ZIP, lambda: _with_main(("inner.zip", zip_of({"a.py": b""}))), E.FILE_TYPE_NOT_ALLOWED),
    # python source
    "latin-1 main": case("bot.py", lambda: b"# caf\xe9\nx = 1\n", E.NOT_UTF8),
    "utf-16 main": case("bot.py", lambda: "x = 1\n".encode("utf-16"), E.NOT_UTF8),
    "latin-1 module": case(ZIP, lambda: _with_main(("pkg/m.py", b"s = '\xff'\n")), E.NOT_UTF8),
    "latin-1 with cookie": case(
        "bot.py", lambda: b"# -*- coding: latin-1 -*-\ns = '\xe9'\n", E.NOT_UTF8
    ),
    "syntax error": case("bot.py", lambda: b"def f(:\n    pass\n", E.SYNTAX_ERROR),
    "indentation error": case("bot.py", lambda: b"if True:\nx = 1\n", E.SYNTAX_ERROR),
    "return outside function": case("bot.py", lambda: b"return 1\n", E.SYNTAX_ERROR),
    "nul in source": case("bot.py", lambda: b"x = 1\0\n", E.SYNTAX_ERROR),
    "deep nesting": case("bot.py", lambda: b"x = " + b"(" * 5000 + b")" * 5000 + b"\n", E.SYNTAX_ERROR),
    "compile: long sum": case(PY, lambda: b"x = " + b"1+" * 10**6 + b"1\n", E.SOURCE_TOO_COMPLEX),
    "compile: long attribute chain": case(PY, lambda: b"x" + b".y" * 10**6 + b"\n", E.SOURCE_TOO_COMPLEX),
    "compile: parser stack": case(PY, lambda: b"x = " + b"not " * 10**6 + b"x\n", E.SOURCE_TOO_COMPLEX),
    "compile: subscript chain": case(PY, lambda: b"a" + b"[0]" * 10**6 + b"\n", E.SOURCE_TOO_COMPLEX),
    "syntax error in module": case(TGZ, lambda: _tgz_with_main(tar_file("pkg/m.py", b"x = = 1\n")), E.SYNTAX_ERROR),
    # entry point
    "no main.py": case(ZIP, lambda: zip_of({"bot.py": MAIN}), E.MISSING_ENTRY_POINT),
    "main.py only nested deeper": case(
        ZIP, lambda: zip_of({"src/main.py": MAIN, "README.md": b""}), E.MISSING_ENTRY_POINT
    ),
    "wrapped folder without unwrap": case(
        ZIP, lambda: zip_of({"bot/main.py": MAIN}), E.MISSING_ENTRY_POINT,
        UploadLimits(unwrap_single_folder=False),
    ),
    "wrapped twice": case(ZIP, lambda: zip_of({"a/b/main.py": MAIN}), E.MISSING_ENTRY_POINT),
    "case-mangled main": case(ZIP, lambda: zip_of({"Main.py": MAIN}), E.MISSING_ENTRY_POINT),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_rejected(case: str, store: BundleStore) -> None:
    filename, build, code, limits = CASES[case]
    assert_rejected(store, filename, build(), code, limits)


def test_error_body_is_json_ready() -> None:
    with pytest.raises(UploadError) as caught:
        validate_upload("bot.zip", zip_of({"../x.py": b""}))
    body = caught.value.to_dict()
    assert body["code"] == "path_traversal" and "'..'" in body["message"]


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(UploadError) as caught:
        validate_upload("bot.zip", zip_of({"main.py": MAIN, "pkg/m.py": b"x = 1\n\ny = (\n"}))
    assert "pkg/m.py, line 3" in caught.value.message


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    return zeros_zip("zeros.txt", 1 << 30, zip64=True)


def _reader_seconds(filename: str, data: bytes, code: ErrorCode, limits: UploadLimits | None = None) -> float:
    """How long the reader itself takes to refuse ``data`` (in this process, without the quarantine's start-up)."""
    started = time.perf_counter()
    with pytest.raises(UploadError) as caught:
        inspect_upload(filename, data, limits or UploadLimits())
    assert caught.value.code == code
    return time.perf_counter() - started


def test_zip_bomb_is_refused_from_its_headers(gigabyte_bomb: bytes, store: BundleStore) -> None:
    """1 GiB of zeros packed into about 1 MB: refused before any byte is decompressed."""
    assert len(gigabyte_bomb) < 2 * MiB
    assert_rejected(store, "bot.zip", gigabyte_bomb, ErrorCode.FILE_TOO_LARGE)
    assert _reader_seconds("bot.zip", gigabyte_bomb, ErrorCode.FILE_TOO_LARGE) < 0.5
    roomy_file = UploadLimits(max_file_bytes=2 << 30)
    assert_rejected(store, "bot.zip", gigabyte_bomb, ErrorCode.UNPACKED_TOO_LARGE, roomy_file)


def test_zip_bomb_with_raised_limits_still_trips_the_ratio(gigabyte_bomb: bytes, store: BundleStore) -> None:
    roomy = UploadLimits(max_unpacked_bytes=2 << 30, max_file_bytes=2 << 30)
    assert_rejected(store, "bot.zip", gigabyte_bomb, ErrorCode.COMPRESSION_RATIO, roomy)


@pytest.mark.parametrize("claimed", [1000, 0, 4 * MiB])
def test_zip_that_lies_about_its_size(claimed: int, store: BundleStore) -> None:
    """Headers claim a small file; the deflate stream holds 60 MiB. Reading stops at the claim and fails."""
    data = patch_zip(zeros_zip("zeros.txt", 60 * MiB), file_size=claimed, only="zeros.txt")
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("zeros.txt")
    assert info.file_size == claimed
    roomy = UploadLimits(max_compression_ratio=1e9)  # only the streaming cap and the CRC stand in the way
    with pytest.raises(UploadError) as caught:
        validate_upload("bot.zip", data, roomy)
    assert caught.value.code == ErrorCode.CORRUPT_ARCHIVE
    assert "zeros.txt" in caught.value.message
    assert _reader_seconds("bot.zip", data, ErrorCode.CORRUPT_ARCHIVE, roomy) < 1.0


def test_overlapping_zip_entries(store: BundleStore) -> None:
    """Central directory entries sharing one local file (the non-recursive zip bomb construction)."""
    data = bytearray(make_zip([("main.py", MAIN), ("a.txt", b"x" * 100)]))
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)  # the second central record
    struct.pack_into("<I", data, central + 42, 0)  # its local header offset -> main.py's
    assert_rejected(store, "bot.zip", bytes(data), ErrorCode.CORRUPT_ARCHIVE)


def _tar_stream_bomb(kind: bytes, size: int) -> bytes:
    """A tar whose first member is a ``kind`` header (pax or GNU long name) of ``size`` zero bytes, gzipped.

    tarfile reads these headers whole into memory, so only a cap under tarfile can stop them.
    """
    header = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax")
    header.type, header.size = kind, size
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    chunk = bytes(1 << 20)
    out = [packer.compress(header.tobuf(tarfile.GNU_FORMAT))]
    out += [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join([*out, packer.flush()])


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
def test_tar_header_bomb(kind: bytes, store: BundleStore) -> None:
    data = _tar_stream_bomb(kind, 200 * MiB)
    assert len(data) < MiB
    roomy = UploadLimits(max_compression_ratio=1e9)
    assert_rejected(store, "bot.tar.gz", data, ErrorCode.UNPACKED_TOO_LARGE, roomy)
    assert _reader_seconds("bot.tar.gz", data, ErrorCode.UNPACKED_TOO_LARGE, roomy) < 1.0
    assert_rejected(store, "bot.tar.gz", data, ErrorCode.COMPRESSION_RATIO)


def test_tar_bomb_member(store: BundleStore) -> None:
    assert_rejected(store, "bot.tgz", _tgz_with_main(tar_file("z.txt", bytes(64 * MiB))), ErrorCode.FILE_TOO_LARGE)


def test_capped_read_never_trusts_the_declared_size() -> None:
    """The per-file cap holds even when a member's stream yields more than its header declared."""
    from arena.uploads.archive import Collector, Kind

    collector = Collector(UploadLimits(max_file_bytes=1000))
    path = collector.admit("a.txt", Kind.FILE, declared_size=10)
    assert path == "a.txt"
    with pytest.raises(UploadError) as caught:
        collector.read(path, io.BytesIO(b"x" * 5000))
    assert caught.value.code == ErrorCode.FILE_TOO_LARGE


def test_source_is_compiled_never_run(tmp_path: Path, store: BundleStore) -> None:
    marker = tmp_path / "pwned"
    hostile = f"open({str(marker)!r}, 'w').write('x')\nimport os\nos._exit(3)\nraise SystemExit(1)\n".encode()
    for filename, data in (
        ("bot.py", hostile),
        ("bot.zip", zip_of({"main.py": hostile, "pkg/__init__.py": hostile})),
        ("bot.tgz", tgz_of({"main.py": hostile})),
    ):
        bundle = validate_upload(filename, data)
        assert bundle.files["main.py"] == hostile
    assert not marker.exists()


def test_compiling_is_capped_in_a_child_process(store: BundleStore) -> None:
    """5 MiB of one-line statements would take the API process ~2 GiB to compile; the child is capped."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    assert_rejected(store, "bot.py", b"x=1\n" * (5 * MiB // 4), ErrorCode.SOURCE_TOO_COMPLEX)
    assert time.perf_counter() - started < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: the parent stayed small
    tight = UploadLimits(check_memory_bytes=64 * MiB)
    assert_rejected(
        store, "bot.zip", zip_of({"main.py": MAIN, "big.py": b"x=1\n" * 100_000}), E.SOURCE_TOO_COMPLEX, tight
    )


def test_missing_entry_point_lists_what_was_found() -> None:
    for files, limits, found in (
        ({"bot.py": MAIN}, None, "found bot.py"),
        ({"bot/main.py": MAIN}, UploadLimits(unwrap_single_folder=False), "found bot"),
        ({"a/b/main.py": MAIN}, None, "found a"),
    ):
        with pytest.raises(UploadError) as caught:
            validate_upload("bot.zip", zip_of(files), limits)
        assert found in caught.value.message
