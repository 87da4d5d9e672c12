"""Downloading a tournament's record (``arena.store.export``): a zip of Parquet or CSV files, or one table's file.

Who gets what:
- an admin: the whole record of any tournament (drafts too);
- anyone, signed in or not: the whole record of a finished tournament (its results are public then);
- before that, a contestant: their own bots' rows (and the market, which every entrant saw); anyone else's bot
  is 404 UNKNOWN_BOT, as if it did not exist.

An export takes seconds and disk: at most ``EXPORT_SLOTS`` run at once in a process (503 EXPORT_BUSY with
Retry-After beyond), one of more than ``EXPORT_MAX_ROWS`` rows is refused up front (409 EXPORT_TOO_LARGE: the
``arena export`` command has no cap), and the route counts against the rate limit like any other. The export
reads in its own read-only transaction, never the request's (on SQLite that would hold the write lock the
recorder needs), and its files live in a temporary folder removed once the answer has gone out.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Header, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.background import BackgroundTask

from arena.api import errors
from arena.api.deps import viewer_in
from arena.api.errors import ApiError
from arena.api.results import Slug
from arena.store import export as store_export
from arena.store.db import make_sessionmaker
from arena.store.errors import NotFound
from arena.store.models import Contestant, Entry, Tournament, TournamentStatus

router = APIRouter(prefix="/api/v1", tags=["results"])

EXPORT_SLOTS = 2  # exports running at once in one API process
EXPORT_MAX_ROWS = 20_000_000  # rows over every table; beyond, the command line (no HTTP answer that large)
RETRY_AFTER_S = 10

_slots = threading.BoundedSemaphore(EXPORT_SLOTS)

BotQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                       description="only this bot's rows (its key, <contestant>:<bot>)")]  # fmt: skip
MEDIA = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "zip": "application/zip"}


def scope_for(t: Tournament, who: Contestant | None, entries: list[Entry], bot: str | None) -> store_export.Scope:
    """What ``who`` may download of ``t`` (see the module's docstring), or the refusal."""
    insider = who is not None and who.is_admin
    if t.status is TournamentStatus.DRAFT and not insider:
        raise ApiError(404, "UNKNOWN_TOURNAMENT", f"no tournament {t.slug!r}")
    whole = insider or t.status is TournamentStatus.FINISHED
    if bot is not None:
        entry = next((e for e in entries if e.bot_key == bot), None)
        if entry is None or not (whole or (who is not None and entry.contestant_id == who.id)):
            raise ApiError(404, "UNKNOWN_BOT", f"{bot!r} is not one of your bots in tournament {t.slug!r}")
        return store_export.Scope(frozenset({entry.id}))
    if whole:
        return store_export.Scope()
    if who is None:
        raise ApiError(401, "UNAUTHENTICATED", f"tournament {t.slug!r} has not finished: sign in to download your "
                       "own bots' record (the whole record is public once it has finished)",
                       {"WWW-Authenticate": "ApiKey"})  # fmt: skip
    own = frozenset(e.id for e in entries if e.contestant_id == who.id)
    if not own:
        raise ApiError(404, "NOT_ENTERED", f"you have no bot in tournament {t.slug!r}")
    return store_export.Scope(own)


@router.get(
    "/tournaments/{slug}/export",
    response_class=FileResponse,
    responses={
        200: {"description": "a zip of the tables' files and manifest.json (or one table's file, with `table`)",
              "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA.values()}},
        **errors.responses(*errors.API_ERRORS, 404, 409),
    },
)  # fmt: skip
def export_record(
    request: Request,
    slug: Slug,
    format: Annotated[Literal["parquet", "csv"], Query(description="the files' format")] = "parquet",
    bot: BotQuery = None,
    table: Annotated[store_export.Table | None, Query(description="only this table's file, no zip")] = None,
    x_api_key: Annotated[str | None, Header(description="Your API key: your own bots' rows before the end.")] = None,
    arena_session: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> FileResponse:
    """A tournament's record as files a notebook reads (schema: docs/export.md): ticks, orders, fills, rejections,
    equity and standings. The whole record for admins, and for everyone once the tournament has finished; before
    that, a contestant's own bots only (and the market's ticks)."""
    state = request.app.state.arena
    with state.sessions.begin() as session:  # short: an API key's use is written down
        who = viewer_in(request, session, x_api_key, arena_session)
    reader = make_sessionmaker(state.sessions.kw["bind"], read_only=True)
    with reader() as session, session.begin():
        t = session.scalar(select(Tournament).where(Tournament.slug == slug))
        if t is None:
            raise ApiError(404, "UNKNOWN_TOURNAMENT", f"no tournament {slug!r}")
        scope = scope_for(t, who, list(t.entries), bot)
        rows = store_export.count_rows(session, t.id, scope)
    if rows > EXPORT_MAX_ROWS:
        raise ApiError(409, "EXPORT_TOO_LARGE", f"the export would hold {rows:,} rows, more than the API's "
                       f"{EXPORT_MAX_ROWS:,}: ask an admin to run `arena export {slug}`")  # fmt: skip
    if not _slots.acquire(blocking=False):
        raise ApiError(503, "EXPORT_BUSY", f"{EXPORT_SLOTS} exports are running; retry in {RETRY_AFTER_S} s",
                       {"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="arena-export-"))
    try:
        tables = (table,) if table else store_export.TABLES
        done = store_export.export(reader, slug, folder / "files", format, scope, tables)
        name = f"{slug}{'' if scope.whole else '-' + (bot or 'mine').replace(':', '_')}"
        if table:
            path, media, filename = done.files[0], MEDIA[format], f"{name}-{table}.{format}"
        else:
            path, media, filename = folder / "export.zip", MEDIA["zip"], f"{name}-{format}.zip"
            with path.open("wb") as archive:
                store_export.zip_export(done, archive)
    except NotFound as exc:  # deleted meanwhile
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(404, exc.code, exc.message) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        _slots.release()
    return FileResponse(path, media_type=media, filename=filename,
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))  # fmt: skip
