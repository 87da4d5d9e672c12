"""Exporting a tournament's record (arena.store.export) on SQLite and PostgreSQL: the files hold what the database
holds, row for row and value for value, in Parquet and CSV, whole or one contestant's; docs/export.md's DuckDB query
answers what the record says; bad input is refused with a code and writes nothing."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from arena.store import export as store_export
from arena.store import record, tournaments
from arena.store.db import make_sessionmaker
from arena.store.errors import InvalidValue, NotFound
from arena.store.models import Tournament, TournamentStatus
from tests.recorded import market_rows, record_run
from tests.store.conftest import World

ROOT = Path(__file__).resolve().parents[2]
TICKS = 40


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def cup(sessions: sessionmaker[Session]) -> dict[str, int]:
    """A finished 40-tick tournament recorded by a real Recorder: alice's bot and bob's trade AAPL every tick and
    alice's is refused every 7th; MSFT's book moves too. Bot key -> entry id."""
    with sessions.begin() as session:
        world = World(session)
        alice, bob = world.contestant("alice"), world.contestant("bob")
        t = world.tournament("cup", ticks=TICKS)
        tournaments.enter(session, t, world.version(alice, "a"), alice)
        tournaments.enter(session, t, world.version(bob, "b"), bob)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        session.flush()
        t_id = t.id
    record_run(sessions, t_id, TICKS, reject_every=7, equity_every=3, flush_ticks=5)
    with sessions.begin() as session:
        entries = tournaments.entry_map(session, tournaments.get_tournament(session, t_id))
    return entries


def _ms(value: Any) -> Any:
    return round(value.timestamp() * 1000) if isinstance(value, datetime) else value


def _from_database(sessions: sessionmaker[Session], entries: dict[str, int]) -> dict[str, list[tuple]]:
    """Each table as the export should hold it: the record's rows in the export's column order and row order, bot
    keys for entry ids, ints for times."""
    bots = {e: k for k, e in entries.items()}
    ids = sorted(bots)
    out = {"ticks": market_rows(sessions, _cup_id(sessions))}
    with sessions() as session:
        for name, query in store_export._queries(_cup_id(sessions), ids).items():
            rows = [list(r) for r in session.execute(query)]
            for r in rows:
                r[0] = bots[r[0]]
            out[name] = [tuple(str(v) if hasattr(v, "value") else v for v in r) for r in rows]
    return out


def _from_files(folder: Path, fmt: str) -> dict[str, list[tuple]]:
    out = {}
    for name, columns in store_export.SCHEMAS.items():
        if fmt == "parquet":
            table = pq.read_table(folder / f"{name}.parquet")
        else:
            types = {c.name: pa.string() if c.kind == "bot" else store_export.arrow_type(c.kind) for c in columns}
            table = pacsv.read_csv(folder / f"{name}.csv", convert_options=pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False))  # fmt: skip
        assert table.column_names == [c.name for c in columns]
        out[name] = [tuple(_ms(v) for v in row.values()) for row in table.to_pylist()]
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_files_hold_the_record_row_for_row(sessions, cup, tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(store_export, "BATCH_ROWS", 17)  # many batches per table: the streaming path
    done = store_export.export(sessions, "cup", tmp_path / "out", fmt)
    expected = _from_database(sessions, cup)
    assert done.rows == {name: len(rows) for name, rows in expected.items()}
    assert done.rows["ticks"] == 2 * TICKS and done.rows["rejections"] == TICKS // 7
    assert done.rows["fills"] > TICKS and done.rows["standings"] == 2 and done.rows["equity"] >= 2 * TICKS // 3
    assert _from_files(tmp_path / "out", fmt) == expected  # every value, floats bit for bit (CSV included)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["rows"] == done.rows and manifest["scope"] == "whole" and manifest["recorded_tick"] == TICKS
    assert manifest["bots"] == sorted(cup) and manifest["time_zone"] == "UTC"
    if fmt == "parquet":  # the documented types: UTC milliseconds, the bot dictionary-encoded
        schema = pq.read_schema(tmp_path / "out" / "fills.parquet")
        assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
        assert pa.types.is_dictionary(schema.field("bot").type)


def test_one_contestants_export_holds_their_rows_and_the_whole_market(sessions, cup, tmp_path):
    alice = next(k for k in cup if k.startswith("alice"))
    done = store_export.export(sessions, "cup", tmp_path, "parquet", store_export.Scope(frozenset({cup[alice]})))
    whole = _from_database(sessions, cup)
    mine = _from_files(tmp_path, "parquet")
    assert mine["ticks"] == whole["ticks"]
    for name in ("orders", "fills", "rejections", "equity", "standings"):
        assert mine[name] == [r for r in whole[name] if r[0] == alice] and mine[name], name
    assert json.loads((tmp_path / "manifest.json").read_text())["bots"] == [alice]
    assert done.rows["rejections"] == TICKS // 7  # alice's are all of them
    with sessions() as session:
        scope = store_export.Scope(frozenset({cup[alice]}))
        assert store_export.count_rows(session, _cup_id(sessions), scope) == sum(done.rows.values())


def _cup_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(Tournament.id).where(Tournament.slug == "cup"))


def _doc_query() -> str:
    text = (ROOT / "docs" / "export.md").read_text()
    section = text[text.index("## An analysis without a notebook"):]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


def test_the_duckdb_query_in_the_docs_answers_what_the_record_says(sessions, cup, tmp_path):
    store_export.export(sessions, "cup", tmp_path, "parquet")
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{tmp_path}'")
    got = con.execute(_doc_query()).fetchall()
    con.close()
    # The same from the database: each fill against the mid of its symbol's book at its tick.
    record = _from_database(sessions, cup)
    mids = {(r[1], r[2]): (r[3] + r[5]) / 2 for r in record["ticks"]}  # (ts, symbol) -> mid
    expected = []
    for bot in sorted(cup):
        fills = [r for r in record["fills"] if r[0] == bot]
        costs = [(1 if side == "buy" else -1) * (price / mids[(ts, symbol)] - 1)
                 for _, _, _, ts, symbol, side, _, price, *_ in fills]  # fmt: skip
        expected.append((bot, len(fills), round(sum(r[8] for r in fills), 2), round(sum(costs) / len(costs) * 1e4, 2)))
    assert [row[:3] for row in got] == [row[:3] for row in expected] and len(got) == 2
    assert all(abs(g[3] - e[3]) <= 0.01 for g, e in zip(got, expected, strict=True))  # rounding of a mean's last digit
    assert all(e[3] > 0 for e in expected)  # market orders pay half the spread and slippage: a real answer


def test_the_market_is_stored_as_it_is_exported():
    assert store_export.arrow_schema(store_export.SCHEMAS["ticks"]) == record.ticks_schema()


def test_every_exported_column_is_described_in_the_docs():
    text = (ROOT / "docs" / "export.md").read_text()
    for name, columns in store_export.SCHEMAS.items():
        section = text[text.index(f"### {name}:"):]
        section = section[: section.find("\n### ", 1) if "\n### " in section[1:] else len(section)]
        for column in columns:
            assert f"| `{column.name}` |" in section, (name, column.name)


def test_bad_input_is_refused_with_a_code_and_writes_nothing(sessions, cup, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(NotFound) as unknown:
        store_export.export(sessions, "nope", out)
    assert unknown.value.code == "UNKNOWN_TOURNAMENT"
    with pytest.raises(InvalidValue) as bad_format:
        store_export.export(sessions, "cup", out, "xlsx")
    assert bad_format.value.code == "BAD_FORMAT" and "parquet, csv" in bad_format.value.message
    with pytest.raises(InvalidValue) as bad_table:
        store_export.export(sessions, "cup", out, "csv", tables=("fills", "secrets"))
    assert bad_table.value.code == "UNKNOWN_TABLE"
    assert not out.exists()


def test_the_export_command_writes_the_files_and_refuses_bad_input(sessions, cup, database_url, tmp_path):
    from typer.testing import CliRunner

    from arena.cli import app

    runner = CliRunner()
    env = {"ARENA_DATABASE_URL": database_url}
    out = tmp_path / "cup"
    result = runner.invoke(app, ["export", "cup", "--format", "csv", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    said = json.loads(result.output)
    expected = _from_database(sessions, cup)
    assert said["rows"] == {name: len(rows) for name, rows in expected.items()} and said["format"] == "csv"
    assert _from_files(out, "csv") == expected
    bob = next(k for k in cup if k.startswith("bob"))
    result = runner.invoke(app, ["export", "cup", "--out", str(tmp_path / "bob"), "--bot", bob], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["rejections"] == 0  # alice's bot was refused, not bob's
    assert _from_files(tmp_path / "bob", "parquet")["fills"] == [r for r in expected["fills"] if r[0] == bob]
    for args, code in ((["export", "nope", "--out", str(tmp_path / "x")], "UNKNOWN_TOURNAMENT"),
                       (["export", "cup", "--format", "xlsx", "--out", str(tmp_path / "x")], "BAD_FORMAT"),
                       (["export", "cup", "--bot", "eve:x", "--out", str(tmp_path / "x")], "UNKNOWN_BOT")):  # fmt: skip
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 1 and json.loads(result.output)["error"]["code"] == code, result.output
    assert not (tmp_path / "x").exists()


def test_the_files_are_one_snapshot_while_the_record_grows(sessions, engine, cup, tmp_path, monkeypatch):
    """A rejection recorded while the export runs (after it has read the market and before the rejections) is in no
    file: every table comes from one snapshot (PostgreSQL's default isolation would let it into the later ones)."""
    from arena.store.models import RejectionRecord

    alice = next(k for k in cup if k.startswith("alice"))
    read = store_export._batches

    def recording_meanwhile(session, query, columns, bots):
        with sessions.begin() as other:
            other.add(RejectionRecord(tournament_id=_cup_id(sessions), entry_id=cup[alice], ts=1, code="LATE",
                                      message="recorded during the export"))  # fmt: skip
        monkeypatch.setattr(store_export, "_batches", read)
        yield from read(session, query, columns, bots)

    monkeypatch.setattr(store_export, "_batches", recording_meanwhile)
    done = store_export.export(make_sessionmaker(engine, read_only=True), "cup", tmp_path, "parquet")
    assert done.rows["rejections"] == TICKS // 7
    assert "LATE" not in pq.read_table(tmp_path / "rejections.parquet").column("code").to_pylist()
    with sessions() as session:
        assert store_export.count_rows(session, _cup_id(sessions), store_export.Scope()) == sum(done.rows.values()) + 1


def test_the_service_loads_pyarrow_only_to_export():
    """pyarrow costs a process ~70 MiB and half a second: the API, the workers and the command line import it when
    they touch the market or export, not at start-up."""
    import subprocess
    import sys

    probe = ("import sys, arena.api.app, arena.service.tasks, arena.service.recorder, arena.cli; "
             "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
