"""BundleStore: atomic, idempotent, private to Arena's user, and closed to path injection."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from arena.uploads import BotBundle, BundleStore, ErrorCode, UploadError, validate_upload
from tests.uploads.craft import MAIN, zip_of

FILES = {"main.py": MAIN, "pkg/__init__.py": b"", "pkg/deep/er/x.json": b"{}", "notes.md": b"# hi\n"}


@pytest.fixture
def bundle() -> BotBundle:
    return validate_upload("bot.zip", zip_of(FILES))


def test_put_lays_out_by_hash(store: BundleStore, bundle: BotBundle) -> None:
    folder = store.put(bundle)
    assert folder == store.root / bundle.sha256[:2] / bundle.sha256
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == set(FILES)
    assert store.exists(bundle.sha256) and store.load(bundle.sha256) == bundle
    assert sorted(p.name for p in store.root.iterdir()) == [bundle.sha256[:2]]  # no temporary folders left


def test_the_store_is_arenas_alone_whatever_the_umask(store: BundleStore, bundle: BotBundle) -> None:
    """Nothing in it is readable by another user: the sandbox copies a bundle for each run's own uid."""
    old = os.umask(0o002)
    try:
        folder = store.put(bundle)
    finally:
        os.umask(old)
    for item in [store.root, folder.parent, *folder.rglob("*"), folder]:
        mode = stat.S_IMODE(item.stat().st_mode)
        assert mode == (0o700 if item.is_dir() else 0o600), (item, oct(mode))


def test_put_is_idempotent(store: BundleStore, bundle: BotBundle) -> None:
    first = store.put(bundle)
    inode = first.stat().st_ino
    assert store.put(validate_upload("again.tgz", _tgz(FILES))) == first
    assert first.stat().st_ino == inode  # the existing copy is kept, not rewritten


def _tgz(files: dict[str, bytes]) -> bytes:
    from tests.uploads.craft import tgz_of

    return tgz_of(files)


def test_concurrent_puts_of_one_bundle(store: BundleStore, bundle: BotBundle) -> None:
    results: list[Path] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            results.append(store.put(bundle))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(results)) == 1
    assert store.load(bundle.sha256) == bundle
    assert [p.name for p in store.root.iterdir()] == [bundle.sha256[:2]]


def test_versions_live_side_by_side(store: BundleStore, bundle: BotBundle) -> None:
    """A new version never disturbs a running one: different content, different folder."""
    v1 = store.put(bundle)
    v2 = store.put(validate_upload("bot.py", MAIN + b"# v2\n"))
    assert v1 != v2 and (v1 / "main.py").read_bytes() == MAIN and (v2 / "main.py").read_bytes() == MAIN + b"# v2\n"


def test_delete(store: BundleStore, bundle: BotBundle) -> None:
    store.put(bundle)
    assert store.delete(bundle.sha256) is True
    assert not store.exists(bundle.sha256) and not store.path(bundle.sha256).exists()
    assert store.delete(bundle.sha256) is False
    with pytest.raises(FileNotFoundError):
        store.load(bundle.sha256)
    assert [p.name for p in store.root.iterdir()] == [bundle.sha256[:2]]  # no temporary folders left


@pytest.mark.parametrize(
    "bad",
    ["", "../../etc/passwd", "a" * 63, "a" * 65, "A" * 64, "g" * 64, "/" + "a" * 63, "a" * 62 + "/.", "a" * 63 + "\n"],
)
def test_hash_argument_is_validated(store: BundleStore, bad: str) -> None:
    for call in (store.path, store.exists, store.delete, store.load):
        with pytest.raises(UploadError) as caught:
            call(bad)
        assert caught.value.code == ErrorCode.BAD_SHA256
    assert not store.root.exists()


def test_clean_temp_removes_crashed_writes_only(store: BundleStore, bundle: BotBundle) -> None:
    store.put(bundle)
    stale = store.root / ".tmp-crashed"
    (stale / "pkg").mkdir(parents=True)
    os.utime(stale, (0, 0))
    fresh = store.root / ".tmp-writing"
    fresh.mkdir()
    assert store.clean_temp(older_than=3600) == 1
    assert not stale.exists() and fresh.exists() and store.exists(bundle.sha256)


def test_sandbox_accepts_the_stored_folder(store: BundleStore, bundle: BotBundle) -> None:
    """The sandbox's own pre-flight check (a folder with main.py) passes."""
    from sandbox.botfiles import resolve

    assert resolve(store.put(bundle)) == store.path(bundle.sha256)


@pytest.mark.parametrize(
    "files",
    [{"main.py": MAIN, "../escape.py": b""}, {"main.py": MAIN, "/abs.py": b""}, {"main.py": MAIN, "a/./b.py": b""}],
)
def test_hand_built_bundles_are_rechecked(store: BundleStore, files: dict[str, bytes]) -> None:
    with pytest.raises(UploadError) as caught:
        store.put(BotBundle.from_files(files))
    assert caught.value.code == ErrorCode.BAD_PATH
    assert not store.root.exists()


def test_a_forged_hash_is_refused(store: BundleStore, bundle: BotBundle) -> None:
    import dataclasses

    forged = dataclasses.replace(bundle, sha256="0" * 64)
    with pytest.raises(UploadError) as caught:
        store.put(forged)
    assert caught.value.code == ErrorCode.BAD_SHA256
    assert not store.root.exists()
