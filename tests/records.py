"""What the database holds of a tournament's run, comparable across runs (ids differ, content must not)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from arena.store import record
from arena.store import tournaments as repo
from arena.store.models import EquitySnapshot, FillRecord, OrderRecord, RejectionRecord, StandingRecord


def the_record(sessions: sessionmaker[Session], tournament_id: int) -> dict[str, Any]:
    """Per bot: its standing, its entry's end and its counts of orders, fills, rejections and equity samples; the
    run's status, the last tick recorded whole, and the market on record (rows, ticks, and their mean mid: each
    tick's books once, whoever recorded them)."""
    with sessions.begin() as session:
        t = repo.get_tournament(session, tournament_id)
        keys = {e.id: e.bot_key for e in t.entries}
        out: dict[str, Any] = {"status": t.status.value, "recorded_tick": t.recorded_tick}
        for model in (OrderRecord, FillRecord, RejectionRecord, EquitySnapshot):
            rows = session.execute(select(model.entry_id, func.count()).where(model.tournament_id == t.id)
                                   .group_by(model.entry_id))  # fmt: skip
            out[model.__tablename__] = {keys[e]: n for e, n in rows}
        standings = session.scalars(select(StandingRecord).where(StandingRecord.tournament_id == t.id))
        out["standings"] = sorted([keys[s.entry_id], s.rank, s.score, s.nav, s.trades, s.fees] for s in standings)
        market = pa.Table.from_batches(list(record.market_of(session, t.id)), schema=record.ticks_schema())
        mids = pc.divide(pc.add(market.column("bid"), market.column("ask")), 2)
        out["ticks"] = (market.num_rows, len(pc.unique(market.column("tick"))),
                        round(pc.mean(mids).as_py() or 0.0, 6))  # fmt: skip
        out["entries"] = sorted([e.bot_key, e.status.value, e.end_classification or ""] for e in t.entries)
        return out
