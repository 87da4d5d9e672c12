"""The web pages: spectators' tournament list and live page, the contestant pages and the admin dashboard.

Plain HTML and ES modules shipped in ``arena/web`` (no build step, nothing from a CDN); the pages talk to
the same JSON API as everyone else. A strict Content-Security-Policy allows only this origin's scripts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from arena.api.spectators import TournamentId

WEB = Path(__file__).resolve().parent.parent / "web"
PAGES = WEB / "pages"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    # Pages are tiny and change with the package: revalidate rather than cache blindly.
    return FileResponse(PAGES / f"{name}.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    return _page("index")


@router.api_route("/t/{tournament}", methods=["GET", "HEAD"])
def tournament(tournament: TournamentId) -> FileResponse:  # the script reads the slug from the address
    return _page("tournament")


@router.api_route("/me", methods=["GET", "HEAD"])
def contestant() -> FileResponse:
    return _page("contestant")


@router.api_route("/admin", methods=["GET", "HEAD"])
def admin() -> FileResponse:
    return _page("admin")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
