"""Contestants' webhooks: register an endpoint (its signing secret is shown once), list, delete, and see
recent deliveries. Each contestant sees only their own; another's webhook answers 404. docs/webhooks.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from arena.api import errors
from arena.api.deps import Db, Me
from arena.api.errors import ApiError
from arena.api.paging import Page, Paging, by_id
from arena.store import webhooks as webhook_repo
from arena.store.errors import NotFound
from arena.store.models import WebhookDelivery, WebhookEndpoint
from arena.webhooks import EVENT_TYPES, EndpointError, check_endpoint

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=errors.responses(*errors.API_ERRORS, 403, 404, 409))

MAX_WEBHOOKS = 10  # per contestant: each one multiplies the deliveries of every event

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class WebhookIn(BaseModel):
    url: str = Field(
        max_length=2048,
        description="http(s) URL on an allowed port (by default 80, 443, 8080-8443) whose host resolves only to "
        "public addresses.",
    )
    events: list[str] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description=f"Event types to receive, some of: {', '.join(EVENT_TYPES)}. Empty: all of them.",
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]  # [] = every type
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, e: WebhookEndpoint) -> WebhookOut:
        return cls(id=e.id, url=e.url, events=list(e.events or []), active=e.active, created_at=e.created_at)


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret. Shown only now: store it; it is never shown again.")


class DeliveryOut(BaseModel):
    event_id: str
    type: str
    status: str  # pending, delivered, failed
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(event_id=d.event_id, type=d.type, status=d.status.value, attempts=d.attempts,
                   last_error=d.last_error, created_at=d.created_at, next_attempt_at=d.next_attempt_at,
                   delivered_at=d.delivered_at)  # fmt: skip


def _mine(session: Db, me: Me, webhook_id: int) -> WebhookEndpoint:
    try:
        return webhook_repo.get_webhook(session, webhook_id, me)
    except NotFound:
        raise NotFound(f"you have no webhook {webhook_id}", "UNKNOWN_WEBHOOK") from None


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(request: Request, body: WebhookIn, session: Db, me: Me) -> WebhookCreated:
    """Register an endpoint for your bots' events. The answer carries the signing secret, once."""
    unknown = sorted(set(body.events) - set(EVENT_TYPES))
    if unknown:
        raise ApiError(422, "INVALID_EVENT_TYPE",
                       f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")  # fmt: skip
    dispatcher = request.app.state.webhooks
    try:
        # Resolves the host (a sync route runs in the thread pool); checked again at every connection.
        check_endpoint(body.url, dispatcher.addresses)
    except EndpointError as exc:
        raise ApiError(422, exc.code.upper(), exc.message) from None
    count = session.scalar(select(func.count(WebhookEndpoint.id)).where(WebhookEndpoint.contestant_id == me.id)) or 0
    if count >= MAX_WEBHOOKS:
        raise ApiError(409, "TOO_MANY_WEBHOOKS", f"at most {MAX_WEBHOOKS} webhooks; delete one first")
    endpoint, secret = webhook_repo.create_webhook(session, me, body.url, body.events, seal=dispatcher.keyring.seal)
    return WebhookCreated(**WebhookOut.of(endpoint).model_dump(), secret=secret)


@router.get("/webhooks", response_model=Page[WebhookOut])
def my_webhooks(session: Db, me: Me, paging: Paging) -> Page[WebhookOut]:
    """Your webhooks, oldest first."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.contestant_id == me.id)
    rows, after = by_id(session, query, WebhookEndpoint.id, paging, "webhooks")
    return Page(items=[WebhookOut.of(e) for e in rows], next=after)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: WebhookId, session: Db, me: Me) -> Response:
    """Delete the endpoint and its queued deliveries."""
    webhook_repo.delete_webhook(session, _mine(session, me, webhook_id).id, me)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
def deliveries(webhook_id: WebhookId, session: Db, me: Me, paging: Paging) -> Page[DeliveryOut]:
    """The endpoint's deliveries, newest first: event, attempts, status, last error."""
    endpoint = _mine(session, me, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    rows, after = by_id(session, query, WebhookDelivery.id, paging, "deliveries", newest_first=True)
    return Page(items=[DeliveryOut.of(d) for d in rows], next=after)
