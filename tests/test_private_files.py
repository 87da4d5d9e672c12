"""What Arena keeps on disk is its own user's alone, whatever the umask: the data dir 0700, the SQLite file (and
its WAL) 0600, the bot store's root 0700, replay feeds 0700, the Redis password 0600 and kept across restarts."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from arena.private_files import private_dir, private_file, stored_secret
from arena.service.background import Background
from arena.store.db import make_engine, make_sessionmaker
from arena.uploads import BundleStore
from arena.uploads.bundle import BotBundle
from arena.uploads.store import DIR_MODE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """A permissive umask, as a careless service account might have: the modes must not depend on it."""
    old = os.umask(0o002)
    yield
    os.umask(old)


def test_the_sqlite_file_and_its_wal_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = make_engine(f"sqlite:///{data / 'arena.db'}")
    with make_sessionmaker(engine).begin() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
    files = sorted(p.name for p in data.iterdir())
    assert files == ["arena.db", "arena.db-shm", "arena.db-wal"]
    assert {name: mode(data / name) for name in files} == dict.fromkeys(files, 0o600)
    assert mode(data) == 0o700
    engine.dispose()


def test_an_older_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "arena.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_the_bot_store_and_its_bundles_are_private(tmp_path: Path) -> None:
    bundle = BotBundle.from_files({"main.py": b"print('hi')\n"})
    folder = BundleStore(tmp_path / "data" / "bots").put(bundle)
    assert mode(tmp_path / "data" / "bots") == 0o700  # nobody else may list or enter the store
    assert mode(tmp_path / "data") == 0o700
    assert mode(folder) == DIR_MODE == 0o700  # the sandbox copies a bundle for each run's own uid


def test_replay_feeds_are_kept_in_a_private_folder(tmp_path: Path) -> None:
    csv = b"ts,symbol,bid,ask,bid_size,ask_size\n1767225600000,SPY,100.0,100.1,10,10\n"
    Background(make_sessionmaker(make_engine("sqlite://")), "redis://127.0.0.1:1/0", data_dir=tmp_path).store_feed(csv)
    assert mode(tmp_path / "feeds") == 0o700


def test_private_dirs_are_made_and_tightened(tmp_path: Path) -> None:
    nested = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == 0o700 and mode(nested) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    assert mode(private_dir(loose)) == 0o700
    assert mode(private_file(tmp_path / "c" / "f")) == 0o600 and mode(tmp_path / "c") == 0o700
    shared = tmp_path / "shared"  # e.g. sqlite:////tmp/x.db: the file is Arena's, /tmp is not
    shared.mkdir(mode=0o1777)
    os.chmod(shared, 0o1777)
    assert mode(private_file(shared / "x.db")) == 0o600 and mode(shared) == 0o1777


def test_a_stored_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "redis" / "password"
    first = stored_secret(path)
    assert len(first) >= 40 and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert stored_secret(path) == first  # a restart finds the same password (Redis's clients keep their URL)
    path.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        stored_secret(path)
