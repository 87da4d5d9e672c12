"""The content hash depends on the files alone, never on how they were packed."""

from __future__ import annotations

import io
import tarfile
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from arena.uploads import content_hash, validate_upload
from tests.uploads.craft import MAIN

_name = st.text("abcdefgh_", min_size=1, max_size=6)
_path = st.builds(
    lambda folders, stem, suffix: "/".join([*folders, stem + suffix]),
    st.lists(_name, max_size=3),
    _name,
    st.sampled_from([".py", ".txt", ".json", ".csv"]),
)


def _content(path: str) -> st.SearchStrategy[bytes]:
    if path.endswith(".py"):
        return st.integers().map(lambda n: f"VALUE = {n}\n".encode())
    return st.binary(max_size=300)


_trees = (
    st.lists(_path, max_size=12, unique=True)
    .flatmap(lambda paths: st.fixed_dictionaries({p: _content(p) for p in paths if p != "main.py"}))
    .map(lambda files: {"main.py": MAIN, **files})
)
_date = st.tuples(
    st.integers(1980, 2100), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
    st.integers(0, 59),
)  # fmt: skip


def _zip(items: list[tuple[str, bytes]], dates: list[tuple[int, ...]], methods: list[int]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for (path, data), date, method in zip(items, dates, methods, strict=False):
            info = zipfile.ZipInfo(path, date_time=date)  # type: ignore[arg-type]
            info.compress_type = method
            info.external_attr = (0o100000 | 0o755) << 16
            archive.writestr(info, data)
    return buf.getvalue()


def _tgz(items: list[tuple[str, bytes]], mtimes: list[int], prefix: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for (path, data), mtime in zip(items, mtimes, strict=False):
            info = tarfile.TarInfo(prefix + path)
            info.size, info.mtime, info.uid, info.mode = len(data), mtime, mtime % 65536, 0o600
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _no_conflicts(files: dict[str, bytes]) -> bool:
    """A file name never doubles as a folder name (they differ by suffix), and names differ beyond case."""
    return len({p.casefold() for p in files}) == len(files)


@settings(max_examples=40, deadline=None)  # each validation compiles in a child process (~20 ms)
@given(data=st.data(), files=_trees.filter(_no_conflicts))
def test_hash_ignores_order_timestamps_compression_and_format(data: st.DataObject, files: dict[str, bytes]) -> None:
    expected = content_hash(files)
    n = len(files)
    for _ in range(2):
        items = data.draw(st.permutations(list(files.items())))
        dates = data.draw(st.lists(_date, min_size=n, max_size=n))
        methods = data.draw(
            st.lists(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]), min_size=n, max_size=n)
        )
        zipped = validate_upload("bot.zip", _zip(items, dates, methods))
        assert zipped.sha256 == expected and dict(zipped.files) == files
        mtimes = data.draw(st.lists(st.integers(0, 2**33), min_size=n, max_size=n))
        prefix = data.draw(st.sampled_from(["", "./"]))
        tarred = validate_upload("bot.tar.gz", _tgz(items, mtimes, prefix))
        assert tarred.sha256 == expected and tarred == zipped


@settings(max_examples=100, deadline=None)
@given(a=_trees, b=_trees)
def test_different_trees_hash_differently(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    assert (content_hash(a) == content_hash(b)) == (a == b)


def test_serialisation_is_unambiguous() -> None:
    """Moving bytes between a path and its content, or between files, changes the hash."""
    assert content_hash({"a": b"bc"}) != content_hash({"ab": b"c"})
    assert content_hash({"a": b"", "b": b"x"}) != content_hash({"a": b"x", "b": b""})
    assert content_hash({"a": b"\0b\0" + bytes(8)}) != content_hash({"a": b"", "b": b""})
    assert content_hash({}) != content_hash({"": b""})


def test_single_file_equals_zip_with_main() -> None:
    assert validate_upload("anything.py", MAIN).sha256 == content_hash({"main.py": MAIN})
