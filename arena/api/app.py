"""The FastAPI application: ``create_app()``; ``arena serve`` runs it with uvicorn on 127.0.0.1."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp

from arena import __version__
from arena.api import (
    admin,
    contestants,
    dashboard,
    errors,
    exports,
    gateway,
    pages,
    ratings,
    remote,
    request_metrics,
    results,
    signin,
    spectators,
    webhooks_api,
)
from arena.api.body_limit import MULTIPART_OVERHEAD, BodyLimit, RouteLimit
from arena.api.forwarded_proto import ForwardedProto
from arena.api.metrics_access import CHALLENGE, REFUSAL, MetricsServer, authorized
from arena.api.ratelimit import Buckets, RateLimiter
from arena.api.request_limit import RequestLimit
from arena.api.spectator_wire import ServerSend
from arena.private_files import private_dir
from arena.runtime.connection import refused_credentials
from arena.service.background import Background
from arena.service.hub import ChangeHub
from arena.service.runs import bundles_root
from arena.service.scheduler import Scheduler
from arena.service.webhook_dispatch import webhook_dispatcher
from arena.settings import Settings
from arena.store.db import make_engine, make_sessionmaker
from arena.store.migrate import upgrade
from arena.uploads import BundleStore, UploadLimits
from arena.webhooks.keyring import SecretKeyring


@dataclass
class ArenaState:
    settings: Settings
    redis: redis.Redis
    aredis: aioredis.Redis
    hub: ChangeHub
    limiter: RateLimiter
    sign_ins: Buckets  # the sign-in budgets (arena.api.signin)
    sessions: sessionmaker[Session]
    bundles: BundleStore
    upload_limits: UploadLimits
    background: Background
    remote_keyring: SecretKeyring  # opens remote bots' sealed secrets (arena.api.remote_auth)


class ArenaApp(FastAPI):
    """FastAPI whose middleware stack sits inside ``ServerSend``, outside even Starlette's own error middleware (which
    wraps ``send``): spectator streams write to the server's own connection (arena.api.spectator_wire)."""

    def build_middleware_stack(self) -> ASGIApp:
        return ServerSend(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    upload_limits = UploadLimits(check_user=settings.upload_check_user)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        private_dir(settings.data_dir)  # 0700: the SQLite file, bundles and feeds are no other user's to read
        # The requests' pool waits for a free connection rather than failing: redis-py's default pool raises at
        # 100 connections, which a burst of spectators connecting at once reached (and was told "Redis is down").
        aredis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            settings.redis, max_connections=settings.redis_connections, timeout=5))  # fmt: skip
        # The hub's own pool: each live feed holds a connection while it blocks, and the cap on feeds keeps
        # them from starving the requests' pool; a few more serve the resumes' XRANGE pages.
        hub_redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
            settings.redis, max_connections=settings.stream_max_feeds + 16, timeout=5))  # fmt: skip
        url = settings.database
        db = make_engine(url)
        upgrade(url)  # the schema is migrated before the first request
        sessions = make_sessionmaker(db)
        app.state.arena = ArenaState(
            settings,
            redis.Redis.from_url(settings.redis),
            aredis,
            ChangeHub(hub_redis, settings.spectator_delay_s, max_feeds=settings.stream_max_feeds,
                      max_per_feed=settings.stream_max_per_feed, max_total=settings.stream_max_total,
                      backlog=settings.stream_backlog, heartbeat_s=settings.heartbeat_s),
            RateLimiter(aredis, settings.rate_limit, settings.rate_window_s),
            Buckets(aredis),
            sessions,
            BundleStore(bundles_root(settings.data_dir)),
            upload_limits,
            Background(sessions, settings.redis, tasks=settings.tasks, database_url=url, data_dir=settings.data_dir,
                       lease_ttl_s=settings.lease_ttl_s),
            SecretKeyring.from_settings(settings.webhooks_secret_keys, settings.data_dir),
        )
        app.state.webhooks = webhook_dispatcher(settings, sessions).start()
        scheduler = Scheduler(sessions, app.state.arena.background, grace_s=3 * settings.lease_ttl_s).start()
        metrics_server = MetricsServer(settings.metrics_port, settings.metrics_token).start() \
            if settings.metrics_port else None  # fmt: skip
        # What is alive now lives as long as the process (modules, classes, the routes' schemas: about 200,000
        # objects): kept out of the collector's generations, a full collection scans only what came since, such
        # as thousands of spectators' connections, instead of pausing the event loop to rescan it all each time.
        gc.freeze()
        try:
            yield
        finally:
            scheduler.stop()
            app.state.webhooks.stop()
            app.state.arena.background.close()
            await app.state.arena.hub.close()
            await hub_redis.aclose(close_connection_pool=True)
            await aredis.aclose()
            app.state.arena.redis.close()
            db.dispose()
            if metrics_server is not None:
                metrics_server.stop()

    app = ArenaApp(
        title="Arena",
        version=__version__,
        description="Sandboxed algorithmic trading competitions: contestants, admins and spectators.",
        lifespan=lifespan,
        # FastAPI's own paths, or none at all
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    errors.install(app)
    app.add_middleware(ForwardedProto, trusted_proxies=settings.trusted_proxies)  # Secure cookies behind TLS proxies
    app.add_middleware(
        BodyLimit,
        routes=[
            RouteLimit("POST", re.compile(r"/api/v1/bots/[^/]+/versions"),
                       upload_limits.max_upload_bytes + MULTIPART_OVERHEAD),
            RouteLimit("POST", re.compile(r"/api/v1/admin/feeds"), admin.MAX_FEED_BYTES + MULTIPART_OVERHEAD),
        ],
        default_bytes=settings.json_body_limit,
    )  # fmt: skip

    app.add_middleware(RequestLimit)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. It says nothing of Redis or the database (see /readyz)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["service"], responses=errors.responses(503))
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: Redis and the database answer. 503, naming what failed, while one does not."""
        state: ArenaState = request.app.state.arena
        checks: dict[str, str] = {}
        try:
            await state.aredis.ping()
            checks["redis"] = "ok"
        except errors.UNAVAILABLE as exc:
            checks["redis"] = "refused the credentials" if refused_credentials(exc) else f"unreachable: {exc}"

        def database() -> None:
            with state.sessions() as session:
                session.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(database)
            checks["database"] = "ok"
        except errors.UNAVAILABLE as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        failed = sorted(name for name, verdict in checks.items() if verdict != "ok")
        if failed:
            return errors.unavailable(f"not ready: {', '.join(failed)} unreachable", checks=checks)
        return JSONResponse({"status": "ready", "checks": checks})

    if not settings.metrics_port:  # else only on its own port (metrics_access)

        @app.get("/metrics", tags=["service"], response_class=Response,
                 responses=errors.responses(401, 422))  # 401: ARENA_METRICS_TOKEN is set, the token is not sent
        async def metrics(authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
            """Prometheus metrics; with ARENA_METRICS_TOKEN set, only for "Authorization: Bearer <token>"."""
            if not authorized(authorization, settings.metrics_token):
                raise errors.ApiError(401, "UNAUTHENTICATED", REFUSAL, CHALLENGE)
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(signin.router)
    app.include_router(spectators.router)
    app.include_router(contestants.router)
    app.include_router(results.router)  # before admin: admin's POST /tournaments/{slug}/{action} matches any action
    app.include_router(ratings.router)  # before admin, for the same reason
    app.include_router(exports.router)
    app.include_router(admin.router)
    app.include_router(dashboard.router)
    app.include_router(webhooks_api.router)
    app.include_router(remote.router)
    app.include_router(gateway.router)
    pages.install(app)
    request_metrics.install(app)  # last: the outermost middleware, it counts every answer
    return app
