"""The web pages: spectators' tournament list and live page, the contestant pages and the admin dashboard.

Plain HTML and ES modules shipped in ``arena/web`` (no build step, nothing from a CDN); the pages talk to
the same JSON API as everyone else. A strict Content-Security-Policy allows only this origin's scripts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from string import Template

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.api.ratings import Name as ContestantName
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


@dataclass(frozen=True)
class Page:
    name: str  # its module: static/js/<name>.js
    title: str
    style: str  # its stylesheet beside arena.css: static/css/<style>.css
    section: str  # the navigation link it belongs under


NAV = (("/", "Tournaments"), ("/ratings", "Ratings"), ("/me", "My bots"), ("/admin", "Admin"))
_PAGES = {
    page.name: page
    for page in (
        Page("index", "Tournaments", "spectator", "/"),
        Page("tournament", "Tournament", "spectator", "/"),
        Page("ratings", "Ratings", "spectator", "/ratings"),
        Page("profile", "Contestant", "spectator", "/ratings"),
        Page("contestant", "Contestant", "dashboard", "/me"),
        Page("admin", "Admin", "dashboard", "/admin"),
    )
}


@functools.cache
def _html(name: str) -> str:
    """A page: the one layout (page.html) with its title, stylesheet, module and navigation filled in."""
    page = _PAGES[name]
    links = []
    for href, label in NAV:
        current = ' aria-current="page"' if href == page.section else ""
        links.append(f'      <a href="{href}"{current}>{label}</a>')
    layout = Template((PAGES / "page.html").read_text())
    return layout.substitute(title=page.title, style=page.style, page=page.name, nav="\n".join(links))


def _page(name: str) -> HTMLResponse:
    # Pages are tiny and change with the package: revalidate rather than cache blindly.
    return HTMLResponse(_html(name), headers={"Cache-Control": "no-cache"})


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> HTMLResponse:
    return _page("index")


@router.api_route("/t/{tournament}", methods=["GET", "HEAD"])
def tournament(tournament: TournamentId) -> HTMLResponse:  # the script reads the slug from the address
    return _page("tournament")


@router.api_route("/ratings", methods=["GET", "HEAD"])
def ratings() -> HTMLResponse:
    return _page("ratings")


@router.api_route("/c/{name}", methods=["GET", "HEAD"])
def profile(name: ContestantName) -> HTMLResponse:  # the script reads the name from the address
    return _page("profile")


@router.api_route("/me", methods=["GET", "HEAD"])
def contestant() -> HTMLResponse:
    return _page("contestant")


@router.api_route("/admin", methods=["GET", "HEAD"])
def admin() -> HTMLResponse:
    return _page("admin")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every HTTP answer that does not set them itself (plain ASGI: a
    long-lived stream keeps no task of its own for it, as Starlette's ``BaseHTTPMiddleware`` would)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", ()))
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_secured)
