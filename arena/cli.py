"""The ``arena`` command."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from arena.console import err, fail
from arena.examples import BOTS as EXAMPLE_BOTS  # installed with the package (arena/examples/bots)
from arena.progress import ShowProgress, bar, progress_console, steps

try:  # the click that recent typer vendors (and no longer depends on): the types TyperGroup's methods take and raise
    from typer import _click
except ImportError:  # typer before it vendored click, on click itself (pyproject allows typer>=0.12)
    import click as _click  # type: ignore[no-redef]

if TYPE_CHECKING:
    from rich.console import JustifyMethod
    from rich.table import Table

T = TypeVar("T")

# The command groups mounted on `arena`, by the module holding each one's Typer app: imported only when named (or
# when `arena --help` lists them), so that a command such as `arena backtest` does not pay for their imports.
LAZY_GROUPS = {"sandbox": "sandbox.cli", "images": "arena.images.cli"}


class _LazyGroups(TyperGroup):
    """The root command: its own commands, then the groups of LAZY_GROUPS, as `app.add_typer` would list them."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*(name for name in super().list_commands(ctx) if name not in LAZY_GROUPS), *LAZY_GROUPS]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name in LAZY_GROUPS and cmd_name not in self.commands:
            group = typer.main.get_group(importlib.import_module(LAZY_GROUPS[cmd_name]).app)
            group.name = cmd_name  # as add_typer(name=...) names it, for the help's listing
            self.add_command(group)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except _click.exceptions.UsageError:  # no such command
            if all(name in self.commands for name in LAZY_GROUPS):
                raise
            for name in LAZY_GROUPS:  # typer suggests a near name among the commands loaded: load them all
                self.get_command(ctx, name)
            return super().resolve_command(ctx, args)


app = typer.Typer(
    name="arena",
    help="Arena: sandboxed algorithmic trading competitions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyGroups,
)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"arena {version('arena')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("arena (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    _show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print Arena's version and exit.")
    ] = False,
) -> None:
    """Arena: sandboxed algorithmic trading competitions."""


def _parse_start(value: str | None) -> int | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@app.command()
def backtest(
    bot: Annotated[Path, typer.Argument(help="A bot file (or a folder with main.py) written against arena_bot.")],
    feed: Annotated[str, typer.Option(help="synthetic[:SEED] or CSV file(s), comma-separated.")] = "synthetic:42",
    rules: Annotated[Path | None, typer.Option(help="Ruleset override, YAML or JSON.")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: the bot's own).")] = None,
    ticks: Annotated[int, typer.Option(min=1, max=10_000_000, help="Synthetic feed: ticks to run.")] = 390,
    interval: Annotated[int, typer.Option(min=1, help="Synthetic feed: seconds between ticks.")] = 60,
    start: Annotated[str | None, typer.Option(help="Synthetic feed: first tick, ISO-8601 (UTC if naive).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the order-processing shuffle.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")] = False,
    chart: Annotated[
        bool | None, typer.Option("--chart/--no-chart", help="The terminal equity chart (default: when a TTY).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Also write a one-page HTML report there.")
    ] = None,
    progress: ShowProgress = None,
) -> None:
    """Run a bot in-process against a feed and print its result.

    This runs YOUR bot's code on this machine, outside any sandbox: only backtest bots you trust.
    """
    from arena.catalog import load_catalog
    from arena.engine.instruments import CatalogError
    from arena.engine.rules import RulesetError
    from arena.feeds import FeedError
    from arena.rulesfile import RulesFileError, load_rules
    from arena.runtime.backtest import BotLoadError, load_bot, run_backtest

    where = progress_console(progress, as_json)
    try:
        with steps(where, f"loading {bot.name}") as step:
            catalog = load_catalog()
            ruleset = load_rules(rules)
            user_bot = load_bot(bot)
            step(f"reading the feed {feed}")
            all_ticks = _read_feed(feed, catalog, ruleset, symbols, user_bot, start, interval, ticks)
    except (CatalogError, RulesetError, RulesFileError, BotLoadError, FeedError, ValueError) as exc:
        raise fail(getattr(exc, "code", "INVALID_INPUT"), str(exc), as_json) from None
    if not all_ticks:
        raise fail("EMPTY_FEED", "the feed produced no ticks for these symbols", as_json)
    if html is not None and not html.parent.is_dir():
        raise fail("INVALID_INPUT", f"--html: no such folder {html.parent}", as_json)
    _warn_of_drift()

    with bar(where) as shown:
        task = shown.add_task(f"backtest {bot.name}", total=len(all_ticks))
        result = run_backtest(user_bot, catalog, ruleset, all_ticks, seed=seed,
                              progress=(lambda n: shown.update(task, completed=n)) if where else None)  # fmt: skip
    if as_json:
        if html is not None:
            _write_html_report(html, bot, feed, result, as_json)
        print(json.dumps(result.as_dict()))
        return
    _print_summary(bot, feed, result, sys.stdout.isatty() if chart is None else chart)
    if html is not None:
        _write_html_report(html, bot, feed, result, as_json)
        err.print(f"report written to {html}", highlight=False)


def _read_feed(feed: str, catalog: Any, ruleset: Any, symbols: str | None, bot: Any, start: str | None,
               interval_s: int, ticks: int) -> list[Any]:
    """Every tick of the backtest's feed, checked: the bot's own symbols unless ``symbols`` names others."""
    from arena.feeds import DEFAULT_START, ReplayFeed, open_feed

    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else list(bot.symbols) or None
    source = open_feed(feed, catalog, wanted, start=_parse_start(start) or DEFAULT_START,
                       interval_ms=interval_s * 1000, ticks=ticks, extended_hours=ruleset.extended_hours)  # fmt: skip
    if isinstance(source, ReplayFeed):
        return source.read()  # the files read once, checked as validate() checks them
    source.validate()
    return list(source)


def _warn_of_drift() -> None:
    """Say where this backtest's Python differs from the runner image tournaments run the bot on."""
    from arena.images.drift import differences
    from sandbox.rootfs import image_layout, installed_image

    image = installed_image()
    drift = differences(image_layout(image).manifest) if image else []
    if drift:
        err.print(f"[yellow]warning[/] [RUNNER_DRIFT] {'; '.join(drift)}: a bot that uses them may score "
                  "differently in a tournament", highlight=False)


DEMO_RULES = {
    # The demo tournament's override of the default ruleset: no leverage, a whitelist, punitive fees.
    "max_leverage": 1,
    "symbols": ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"],
    "fees": {
        "crypto": {"maker_bps": 15, "taker_bps": 40, "min_per_fill": 1},
        "equity": {"maker_bps": 2, "taker_bps": 8, "per_unit": 0.005, "min_per_fill": 1},
        "etf": {"maker_bps": 2, "taker_bps": 8, "per_unit": 0.005, "min_per_fill": 1},
    },
}


def _demo_bots(folder: Path) -> list[Path]:
    bots = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not bots:
        raise FileNotFoundError(f"no bots in {folder}")
    return bots


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the market and of the order processing.")] = 7,
    ticks: Annotated[int, typer.Option(min=1, max=100_000, help="Ticks (one simulated minute each).")] = 240,
    bots: Annotated[Path, typer.Option(help="Folder of bots to enter.")] = EXAMPLE_BOTS,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the final standings, as one JSON object.")
    ] = False,
    web: Annotated[
        bool, typer.Option("--web", help="Run it in the web service instead, to watch in a browser (until Ctrl-C).")
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="With --web: the port on 127.0.0.1.")] = 8000,
    progress: ShowProgress = None,
) -> None:
    """Run a short tournament of the example bots, each in its own sandbox, with a live leaderboard."""
    if web:
        _demo_web(bots, seed, ticks, port)
        return
    from arena.runtime.redis_server import RedisServer
    from arena.runtime.spec import EntrySpec, TournamentSpec
    from arena.service.embedded import Planes
    from arena.settings import settings

    try:
        entries = [EntrySpec(bot=p.stem.replace("_", "-"), path=str(p)) for p in _demo_bots(bots)]
    except FileNotFoundError as exc:
        raise fail("NO_BOTS", str(exc), as_json) from None
    spec = TournamentSpec(id=f"demo-{seed}", rules=DEMO_RULES, feed=f"synthetic:{seed}", ticks=ticks, seed=seed,
                          entries=entries)  # fmt: skip
    if not as_json:
        _announce_sandbox()
    where = progress_console(progress, as_json)
    url, server = settings().redis_url, None
    try:
        if not url:
            with steps(where, "starting Redis"):
                server = RedisServer().start()
            url = server.url
        # The planes of production, each its own process: this one queues the tournament and shows it; an engine
        # worker runs it and a bot host runs the bots (all stopped below, even on Ctrl-C).
        planes = Planes(url, slots=max(8, len(entries)))
        with steps(where, "starting an engine worker and a bot host"):
            planes.start()  # stops what it started if it fails
        try:
            result = _demo_run(url, spec, where)
        finally:
            planes.stop()
    except KeyboardInterrupt:  # Ctrl-C: the planes stop (their bots with them), Redis is stopped below
        err.print("[yellow]interrupted[/]: the tournament was stopped before its end", highlight=False)
        raise typer.Exit(130) from None
    except RuntimeError as exc:
        raise fail("DEMO_FAILED", str(exc), as_json) from None
    finally:
        if server is not None:
            server.stop()
    if as_json:
        print(json.dumps({"tournament": spec.id, "standings": result["standings"]}))
        return
    _print_standings(result["standings"], result["reports"])


def _demo_web(folder: Path, seed: int, ticks: int, port: int) -> None:
    from arena import showcase

    try:
        bots = {p.stem.replace("_", "-"): p for p in _demo_bots(folder)}
    except FileNotFoundError as exc:
        raise fail("NO_BOTS", str(exc), False) from None

    def ready(site: showcase.Showcase) -> bool:
        out = Console(soft_wrap=True)
        out.print(f"[bold]Watch the tournament:[/] {site.spectator_url()}")
        out.print(f"Admin dashboard:       {site.url}/admin   (admin / [bold]{site.admin_password}[/])")
        name, key = next(iter(site.keys.items()))
        out.print(f"Contestant pages:      {site.url}/me      ({name}'s API key: {key})")
        out.print("[dim]Ctrl-C to stop; everything it made is thrown away.[/]")
        return True  # serve until interrupted

    try:
        showcase.serve(bots, DEMO_RULES, port=port, ticks=ticks, tick_s=1.0, seed=seed, ready=ready)
    except RuntimeError as exc:
        raise fail("DEMO_FAILED", str(exc), False) from None


def _announce_sandbox() -> None:
    from sandbox import Sandbox, SandboxError

    try:
        about = Sandbox().describe()
    except SandboxError as exc:
        raise fail("SANDBOX_UNAVAILABLE", str(exc), False) from None
    platform = f" on {about['platform']}" if about["platform"] else ""
    image = f"runner image {str(about['image'])[:12]} (Python {about['python']})" if about["image"] else "host Python"
    err.print(f"[dim]bots run under {about['runtime']} {about['version'] or ''}{platform}, {image}[/]", highlight=False)


def _standings_table(standings: list[Any], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("rank", "right"), ("bot", "left"), ("score", "right"),
                                                      ("NAV", "right"), ("max DD", "right"), ("status", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for s in standings:
        table.add_row(str(s.rank), s.bot, f"{s.score:,.2f}", f"{s.nav:,.2f}", f"{s.max_drawdown:.3%}", s.status)
    return table


def _demo_run(url: str, spec: Any, where: Console | None) -> dict[str, Any]:
    """Queue ``spec`` to the engine worker and wait for its result, showing its progress and the live leaderboard
    on ``where`` (if any)."""
    import time

    import redis
    from rich.console import Group
    from rich.live import Live

    from arena.runtime.bus import Bus
    from arena.runtime.leaderboard import Leaderboard
    from arena.service import tasks

    tasks.configure(url)
    queued = tasks.start_tournament(spec.model_dump(mode="json"))
    client = redis.Redis.from_url(url)
    bus, board = Bus(client, spec.id), Leaderboard(client, spec.id)
    progress = bar(where)
    # Until the first tick: the engine worker takes the tournament and the bot host boots a sandbox per bot.
    task = progress.add_task(f"tournament {spec.id}: starting {len(spec.entries)} sandboxes", total=spec.ticks)
    try:
        with Live(Group(progress), refresh_per_second=10, console=where or err, transient=True,
                  auto_refresh=where is not None) as view:  # fmt: skip
            while not queued.ready():
                if where is not None:
                    at = bus.progress()
                    if at:
                        progress.update(task, completed=at[0], description=f"tournament {spec.id}")
                    view.update(Group(progress, _live_table(board.top(len(spec.entries)), bus.statuses())))
                time.sleep(0.1)  # the display's refresh, while the engine worker runs the tournament
        return queued.get(timeout=30)
    except Exception as exc:  # the engine task failed: its error, for the operator
        raise RuntimeError(f"the tournament failed: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()


def _live_table(standings: list[Any], statuses: dict[str, str]) -> Table:
    from rich.table import Table

    table = Table(title="live leaderboard", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("rank", "right"), ("bot", "left"), ("score", "right"),
                                                      ("status", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for s in standings:
        table.add_row(str(s.rank), s.bot, f"{s.score:,.2f}", statuses.get(s.bot, ""))
    return table


def _print_standings(standings: list[dict[str, Any]], reports: dict[str, dict[str, Any]]) -> None:
    out = Console()
    out.print(_standings_table([SimpleNamespace(**s) for s in standings], "final standings"))
    for bot, report in sorted(reports.items()):
        status, errors = report.get("status", "?"), report.get("protocol_errors", 0)
        if status not in ("exited", "killed") or errors:
            out.print(f"[dim]{bot}: {status} {report.get('reason', '')} ({errors} protocol errors)[/]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback unless you mean it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    embedded: Annotated[
        bool, typer.Option("--embedded", help="Also start an engine worker and a bot host, as child processes.")
    ] = False,
    slots: Annotated[int | None, typer.Option(min=1, help="With --embedded: the bot host's slots.")] = None,
) -> None:
    """Run the HTTP service: web pages (/, /me, /admin), the API (OpenAPI at /docs), streams and /metrics.

    It runs no engine and no bot: tournaments go to engine workers and bot hosts (``arena worker``) through
    Celery on Redis. --embedded starts one of each beside it, for a single machine."""
    import uvicorn

    from arena.api.app import create_app
    from arena.service.embedded import Planes
    from arena.settings import settings

    config = settings().model_copy(update={"tasks": "celery"})
    _require_redis(config.redis)
    planes = None
    if embedded:
        env = {"ARENA_DATABASE_URL": config.database, "ARENA_DATA_DIR": str(config.data_dir.resolve())}
        planes = Planes(config.redis, env, slots=slots or config.bot_slots).start()
    else:
        Console(stderr=True).print("[dim]API only: tournaments run on `arena worker` processes "
                                   "(or start this with --embedded).[/]")  # fmt: skip
    try:
        # A spectator's open stream must not hold a shutdown: after 5 s open connections are closed.
        uvicorn.run(create_app(config), host=host, port=port, log_level="info", timeout_graceful_shutdown=5,
                    proxy_headers=False)  # X-Forwarded-For: only from ARENA_TRUSTED_PROXIES (client_identity)
    finally:
        if planes is not None:
            planes.stop()


@app.command()
def up(
    port: Annotated[int, typer.Option(min=1, max=65535, help="The API's port (on 127.0.0.1).")] = 8000,
    slots: Annotated[int | None, typer.Option(min=1, help="The bot host's slots; default ARENA_BOT_SLOTS.")] = None,
    progress: ShowProgress = None,
) -> None:
    """A complete local deployment in the production shape, each part its own process: Redis (its append-only
    file under the data dir, unless ARENA_REDIS_URL names one), the API, one engine worker and one bot host.
    Ctrl-C (or SIGTERM) stops all of it."""
    import signal
    import time

    from arena.private_files import private_dir, stored_secret
    from arena.runtime.connection import redacted
    from arena.runtime.redis_server import RedisServer, RedisUnavailable
    from arena.service.embedded import Planes
    from arena.settings import settings

    config = settings()
    data_dir = config.data_dir.resolve()
    out = Console(soft_wrap=True)
    signal.signal(signal.SIGTERM, _interrupted)
    own_redis = None
    planes = None
    where = progress_console(progress)
    try:
        if config.redis_url:
            redis_url = config.redis_url
            _require_redis(redis_url)
        else:
            try:  # its password is made once and kept 0600 beside its files; the parts get it in their URL
                password = stored_secret(data_dir / "redis" / "password")
                with steps(where, "starting Redis"):
                    own_redis = RedisServer(data_dir=data_dir / "redis", password=password).start()
            except RedisUnavailable as exc:
                raise fail("REDIS_UNAVAILABLE", str(exc), False) from None
            redis_url = own_redis.url
        env = {"ARENA_REDIS_URL": redis_url, "ARENA_DATABASE_URL": config.database, "ARENA_DATA_DIR": str(data_dir)}
        logs = private_dir(data_dir / "logs")
        planes = Planes(redis_url, env, slots=slots or config.bot_slots, log_dir=logs)
        with steps(where, "starting an engine worker and a bot host"):
            planes.start()
        planes.add("api", ["serve", "--port", str(port)])
        out.print(f"[bold]Arena is up[/]: http://127.0.0.1:{port}  (API docs at /docs)")
        password_note = f" (password in {data_dir / 'redis' / 'password'})" if own_redis else ""
        out.print(f"Redis {redacted(redis_url)}{password_note}; engine worker and bot host running; logs in {logs}")
        out.print("[dim]First time? `arena create-contestant --admin admin` makes an admin. Ctrl-C stops it all.[/]")
        while all(p.poll() is None for p in planes.processes.values()):
            time.sleep(0.2)  # watching the processes; Ctrl-C or SIGTERM interrupts
        raise fail("PART_EXITED", "a part of the deployment exited; see the logs in " + str(logs), False)
    except KeyboardInterrupt:
        out.print("[dim]stopping...[/]")
    finally:
        if planes is not None:
            planes.stop()
        if own_redis is not None:
            own_redis.stop()


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops `arena up` as Ctrl-C does


@app.command("create-contestant")
def create_contestant(
    name: Annotated[str, typer.Argument(help="The contestant's (or admin's) name.")],
    admin: Annotated[bool, typer.Option("--admin", help="An administrator (can run tournaments).")] = False,
    password: Annotated[
        bool,
        typer.Option("--password", help="Also set a dashboard password (asked for, or $ARENA_PASSWORD)."),
    ] = False,
) -> None:
    """Create a contestant (the first admin, typically) and print their API key, once."""
    from arena.store import accounts

    secret = _ask_password() if password else None

    def create(session: Any) -> str:
        who = accounts.create_contestant(session, name, is_admin=admin)
        if secret is not None:
            accounts.set_password(who, secret)
        return accounts.create_api_key(session, who, "created on the command line")[1]

    print(_in_store(create))


@app.command("set-password")
def set_password(name: Annotated[str, typer.Argument(help="The contestant's (or admin's) name.")]) -> None:
    """Set the password someone signs in to the web dashboard with (asked for, or $ARENA_PASSWORD)."""
    from arena.store import accounts
    from arena.store.errors import NotFound

    secret = _ask_password()

    def change(session: Any) -> None:
        who = accounts.contestant_by_name(session, name)
        if who is None:
            raise NotFound(f"no contestant {name!r}", "UNKNOWN_CONTESTANT")
        accounts.set_password(who, secret)

    _in_store(change)
    print(f"password set for {name}")


def _ask_password() -> str:
    return os.environ.get("ARENA_PASSWORD") or typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _in_store(action: Callable[[Any], T]) -> T:
    """Run ``action(session)`` in one transaction on the configured database (migrated first)."""
    from sqlalchemy.orm import Session

    from arena.store.db import database_url, make_engine
    from arena.store.errors import StoreError
    from arena.store.migrate import upgrade

    url = database_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            return action(session)
    except StoreError as exc:
        raise fail(exc.code, exc.message, False) from None
    finally:
        engine.dispose()


@app.command("export")
def export_record(
    tournament: Annotated[str, typer.Argument(help="The tournament's slug.")],
    format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    out: Annotated[Path, typer.Option("--out", help="The folder for the files (made if missing).")] = Path("."),
    bot: Annotated[str | None, typer.Option(help="Only this bot's rows (its key, <contestant>:<bot>).")] = None,
    progress: ShowProgress = None,
) -> None:
    """Write a tournament's record (ticks, orders, fills, rejections, equity, standings) as Parquet or CSV files,
    read from the service's database (ARENA_DATABASE_URL, else the SQLite file in ARENA_DATA_DIR). Prints JSON."""
    from sqlalchemy import select

    from arena.store import export
    from arena.store.db import database_url, make_engine, make_sessionmaker
    from arena.store.errors import StoreError
    from arena.store.migrate import is_current
    from arena.store.models import Entry

    try:
        export.check_format(format)
        url = database_url()
        if not is_current(url):
            raise fail("SCHEMA_NOT_CURRENT", f"the database at {_redacted(url)} is not at this version's schema (or "
                       "empty): start the service once (it migrates), or check ARENA_DATABASE_URL", True)  # fmt: skip
        engine = make_engine(url)
        sessions = make_sessionmaker(engine, read_only=True)  # never the write lock: a running tournament records on
        try:
            scope = export.Scope()
            if bot is not None:
                with sessions() as session:
                    t = export.find_tournament(session, tournament)
                    entry = session.scalar(select(Entry.id).where(Entry.tournament_id == t.id, Entry.bot_key == bot))
                if entry is None:
                    raise fail("UNKNOWN_BOT", f"{bot!r} is not entered in tournament {tournament!r}", True)
                scope = export.Scope(frozenset({entry}))
            with steps(progress_console(progress), f"exporting the record of {tournament}"):  # stdout: the JSON only
                done = export.export(sessions, tournament, out, format, scope)
        finally:
            engine.dispose()
    except StoreError as exc:
        raise fail(exc.code, exc.message, True) from None
    print(json.dumps({"tournament": done.tournament, "format": done.format, "out": str(out), "rows": done.rows,
                      "files": [p.name for p in done.files]}))  # fmt: skip


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues: engine, bots.")] = "engine,bots",
    slots: Annotated[
        int | None, typer.Option(min=1, help="Concurrent tasks (bot slots); default ARENA_BOT_SLOTS.")
    ] = None,
    redis_url: Annotated[str | None, typer.Option(help="Broker; default ARENA_REDIS_URL.")] = None,
    name: Annotated[
        str | None, typer.Option(help="This bot host's name (unique among hosts); default <hostname>.<pid>.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT.")
    ] = None,
) -> None:
    """Start a worker: an engine worker (--queues engine: runs tournaments, takes over those whose engine died)
    and/or a bot host (--queues bots: runs the sandboxed bots placed on it, in --slots slots)."""
    from arena.service import tasks
    from arena.service.bot_host import default_name
    from arena.settings import settings

    url = redis_url or settings().redis_url
    if not url:
        raise fail("NO_REDIS", "set ARENA_REDIS_URL or pass --redis-url", False)
    _require_redis(url)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - {"engine", "bots"})
    if unknown or not wanted:
        raise fail("BAD_QUEUES", f"queues are engine and/or bots, got {queues!r}", False)
    if "engine" in wanted:
        _require_database(settings().database)
    tasks.configure(url)
    if metrics_port:
        import prometheus_client

        prometheus_client.start_http_server(metrics_port, addr="127.0.0.1")
    concurrency = slots or settings().bot_slots
    host_name = name or default_name()
    consumed = tasks.serve_as(wanted, host_name, concurrency)
    # Threads: each task mostly waits on Redis and on its bot's pipes. No gossip or mingle: workers find each
    # other through Redis keys, not broadcast (and start faster).
    tasks.app.worker_main(["worker", "-Q", ",".join(consumed), "-P", "threads", "-c", str(concurrency), "-l", "INFO",
                           "--without-gossip", "--without-mingle", "-n", f"{host_name}@%h"])  # fmt: skip


def _require_redis(url: str) -> None:
    """Refuse to start on a Redis that does not answer or refuses the URL's password (REDIS_AUTH): a clear
    message now, not a traceback per retry later."""
    from arena.runtime.connection import RedisRefused, check

    try:
        check(url)
    except RedisRefused as exc:
        raise fail(exc.code, str(exc), False) from None


def _require_database(url: str) -> None:
    """An engine worker records what it runs: refuse a database that does not answer, before taking any work."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from arena.store.db import make_engine

    try:
        engine = make_engine(url)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        raise fail("DATABASE_UNREACHABLE", f"cannot use the database at {_redacted(url)}: {exc}", False) from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        reason = str(exc).splitlines()[0]
        raise fail("DATABASE_UNREACHABLE", f"cannot reach the database at {_redacted(url)}: {reason}", False) from None
    finally:
        engine.dispose()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _summary_rows(result: Any) -> list[tuple[str, str]]:
    return [
        ("NAV", f"{result.nav:,.2f}"),
        ("cash", f"{result.cash:,.2f}"),
        ("max drawdown, intra-tick (the score's)", f"{result.max_drawdown:.4%}"),
        ("score", f"{result.score:,.2f}"),
        ("ticks", f"{result.ticks:,}"),
        ("orders", f"{result.orders:,}"),
        ("fills", f"{len(result.fills):,}"),
        ("rejections", f"{len(result.rejections):,}"),
    ]


def _print_summary(bot: Path, feed: str, result: Any, chart: bool) -> None:
    from rich.table import Table

    from arena.runtime.report import statistic_rows, terminal_chart

    out = Console()
    out.print(f"[bold]{bot.name}[/] on [bold]{feed}[/]", highlight=False)
    if chart and result.curve_ts:
        size = out.size
        width, height = max(min(size.width, 120), 40), max(min(size.height - 4, 30), 16)
        print(terminal_chart(result.curve_ts, result.curve_nav, width, height, color=out.is_terminal))
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    stats = statistic_rows(result.statistics) if result.statistics else []
    for name, value in _summary_rows(result) + stats:
        table.add_row(name, value)
    out.print(table)
    if result.rejections:
        codes: dict[str, int] = {}
        for r in result.rejections:
            codes[r["code"]] = codes.get(r["code"], 0) + 1
        out.print("rejections by code: " + ", ".join(f"{c} ×{n}" for c, n in sorted(codes.items())))
    for line in result.logs[-5:]:
        out.print(f"[dim]bot log:[/] {line}", highlight=False)


def _write_html_report(path: Path, bot: Path, feed: str, result: Any, as_json: bool) -> None:
    from arena.runtime.report import html_report

    if result.statistics is None:
        raise fail("EMPTY_FEED", "no equity curve to report", as_json)
    page = html_report(f"Backtest of {bot.name}", f"feed {feed}", _summary_rows(result), result.statistics,
                       result.curve_ts, result.curve_nav)  # fmt: skip
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise fail("REPORT_WRITE_FAILED", f"--html: cannot write {path}: {exc.strerror}", as_json) from None


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
