"""Migrations build the schema the models describe, on both databases, and ship inside the package."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from arena.store import migrate
from arena.store.db import make_engine
from arena.store.models import Base


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_from_empty_matches_the_models(empty_database_url: str) -> None:
    assert not migrate.is_current(empty_database_url)
    migrate.upgrade(empty_database_url)
    assert migrate.is_current(empty_database_url)
    assert _diff(empty_database_url) == []
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_downgrade_to_base_and_up_again(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(empty_database_url)
    assert _diff(empty_database_url) == []


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    migrate.upgrade(database_url)
    assert migrate.is_current(database_url)


def test_constraint_names_follow_the_convention(database_url: str) -> None:
    # Errors are mapped to domain errors by constraint name, so the migrated names must be the models'.
    engine = make_engine(database_url)
    try:
        insp = inspect(engine)
        uniques = {u["name"] for u in insp.get_unique_constraints("bots")}
        checks = {c["name"] for c in insp.get_check_constraints("tournaments")}
    finally:
        engine.dispose()
    assert "uq_bots_owner_id_name" in uniques
    assert "ck_tournaments_tournament_status" in checks


def test_sqlite_pragmas(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x' / 'arena.db'}")  # the data dir is created
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    finally:
        engine.dispose()


def test_scripts_ship_in_the_package() -> None:
    assert (migrate.SCRIPTS / "env.py").is_file()
    assert (migrate.SCRIPTS / "script.py.mako").is_file()
    assert migrate.head() == "0011"


def test_failed_tournaments_survive_a_downgrade_as_cancelled_and_data_is_kept(empty_database_url: str) -> None:
    from arena.store import tournaments as repo
    from arena.store.db import make_sessionmaker
    from arena.store.models import TournamentStatus

    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            t = repo.create_tournament(session, "crashed", "Crashed")
            for status in ("open", "running"):
                repo.transition(session, t, status)
            repo.transition(session, t, TournamentStatus.FAILED, reason="its engine stopped")
            assert t.end_reason == "its engine stopped"
        engine.dispose()
        migrate.downgrade(empty_database_url, "0001")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM tournaments WHERE slug = 'crashed'")).scalar() == "cancelled"
        engine.dispose()
        migrate.upgrade(empty_database_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, end_reason FROM tournaments WHERE slug = 'crashed'")).one()
        assert tuple(row) == ("cancelled", "")
        assert _diff(empty_database_url) == []
    finally:
        engine.dispose()


def test_default_url_is_a_sqlite_file_in_the_data_dir(monkeypatch, tmp_path) -> None:
    from arena.store.db import database_url

    monkeypatch.delenv("ARENA_DATABASE_URL", raising=False)
    monkeypatch.setenv("ARENA_DATA_DIR", str(tmp_path))
    assert database_url() == f"sqlite:///{tmp_path / 'arena.db'}"
    monkeypatch.setenv("ARENA_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert database_url() == "postgresql+psycopg://u@h/db"


def test_sqlite_readers_do_not_block_the_writer(tmp_path) -> None:
    from arena.store.db import make_sessionmaker
    from arena.store.models import Contestant

    url = f"sqlite:///{tmp_path / 'arena.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine, read_only=True)() as reader, make_sessionmaker(engine).begin() as writer:
            assert reader.query(Contestant).count() == 0  # holds a read transaction (a WAL snapshot) open
            writer.add(Contestant(name="alice"))  # commits at once: a write lock was free to take
            writer.flush()
    finally:
        engine.dispose()
