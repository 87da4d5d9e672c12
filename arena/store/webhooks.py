"""Webhook endpoints and the delivery queue (the dispatcher signs and sends; this is its record)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.store.errors import InvalidValue, NotFound, integrity
from arena.store.models import Contestant, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from arena.store.types import utcnow
from arena.webhooks import events as webhook_events
from arena.webhooks.signing import new_secret

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset(webhook_events.EVENT_TYPES)


def create_webhook(
    session: Session, contestant: Contestant, url: str, events: Iterable[str] = (), *, seal: Callable[[str], str]
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (stored as ``seal(secret)``; show the secret to the owner once)."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise InvalidValue("url must be an http(s) URL of at most 2048 characters", "INVALID_URL")
    wanted = sorted(set(events))
    unknown = set(wanted) - EVENT_TYPES
    if unknown:
        raise InvalidValue(
            f"unknown event type(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(EVENT_TYPES))}",
            "INVALID_EVENT_TYPE",
        )
    secret = new_secret()  # Standard Webhooks: whsec_ + base64 of 32 random bytes
    endpoint = WebhookEndpoint(contestant_id=contestant.id, url=url, sealed_secret=seal(secret), events=wanted)
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def reseal_secrets(session: Session, reseal: Callable[[str], str | None]) -> int:
    """Store ``reseal(value)`` for each endpoint whose secret it changes (plain text left by an older version,
    or sealed under a key being retired); returns how many changed. A secret it cannot open (it raises
    ValueError) is left as it is and logged: its deliveries wait until the key is configured."""
    changed = 0
    for endpoint in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)):
        try:
            new = reseal(endpoint.sealed_secret)
        except ValueError as exc:
            log.error("webhook %d: its secret cannot be resealed: %s", endpoint.id, exc)
            continue
        if new is not None:
            endpoint.sealed_secret = new
            changed += 1
    session.flush()
    return changed


def webhooks_of(session: Session, contestant: Contestant) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.contestant_id == contestant.id)
    return list(session.scalars(query.order_by(WebhookEndpoint.id)))


def get_webhook(session: Session, endpoint_id: int, owner: Contestant | None = None) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (owner is not None and endpoint.contestant_id != owner.id):
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


def delete_webhook(session: Session, endpoint_id: int, owner: Contestant) -> None:
    session.delete(get_webhook(session, endpoint_id, owner))
    session.flush()


def subscribers(session: Session, contestant_id: int, event_type: str) -> list[WebhookEndpoint]:
    """The contestant's active endpoints that want ``event_type`` (an empty subscription list means all)."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.contestant_id == contestant_id, WebhookEndpoint.active.is_(True)
    )
    return [e for e in session.scalars(query) if not e.events or event_type in e.events]


def enqueue(
    session: Session, endpoint: WebhookEndpoint, event_id: str, event_type: str, payload: dict[str, Any]
) -> WebhookDelivery:
    """Queue one event for one endpoint. Idempotent on (endpoint, event id): a repeat returns the first."""
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=event_id, type=event_type, payload=payload)
    try:
        with integrity(session, {"uq_webhook_deliveries_endpoint_id_event_id": _Duplicate()}):
            session.add(delivery)
    except _Duplicate:
        existing = session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event_id
            )
        )
        assert existing is not None
        return existing
    return delivery


class _Duplicate(InvalidValue):
    def __init__(self) -> None:
        super().__init__("duplicate event", "DUPLICATE_EVENT")


def due_deliveries(
    session: Session,
    now: datetime | None = None,
    limit: int = 100,
    *,
    per_endpoint: int | None = None,
    skip_endpoints: Collection[int] = (),
    skip_contestants: Collection[int] = (),
) -> list[WebhookDelivery]:
    """Pending deliveries whose time has come, oldest first: at most ``per_endpoint`` of each endpoint, none of
    ``skip_endpoints`` nor of ``skip_contestants``' endpoints (they have enough attempts in flight), so a big
    backlog of one endpoint cannot fill the answer. On PostgreSQL the rows are locked (SKIP LOCKED) until the
    transaction ends, so several dispatchers never send the same delivery twice."""
    due = [WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= (now or utcnow())]
    if skip_endpoints:
        due.append(WebhookDelivery.endpoint_id.not_in(list(skip_endpoints)))
    if skip_contestants:
        theirs = select(WebhookEndpoint.id).where(WebhookEndpoint.contestant_id.in_(list(skip_contestants)))
        due.append(WebhookDelivery.endpoint_id.not_in(theirs))
    order = (WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    query = select(WebhookDelivery).where(*due)
    if per_endpoint is not None:
        rank = func.row_number().over(partition_by=WebhookDelivery.endpoint_id, order_by=order).label("rank")
        ranked = select(WebhookDelivery.id, rank).where(*due).subquery()
        # The due conditions stay on the outer query too: PostgreSQL re-checks them on a row another
        # dispatcher claimed meanwhile, and skips it.
        query = query.where(WebhookDelivery.id.in_(select(ranked.c.id).where(ranked.c.rank <= per_endpoint)))
    return list(session.scalars(query.order_by(*order).limit(limit).with_for_update(skip_locked=True)))


def mark_delivered(session: Session, delivery: WebhookDelivery, now: datetime | None = None) -> None:
    delivery.attempts += 1
    delivery.status = DeliveryStatus.DELIVERED
    delivery.delivered_at = now or utcnow()
    delivery.next_attempt_at = None
    session.flush()


def mark_attempt_failed(
    session: Session, delivery: WebhookDelivery, error: str, next_attempt_at: datetime | None
) -> None:
    """Count a failed attempt; retry at ``next_attempt_at`` (backoff is the dispatcher's), or give up (None)."""
    delivery.attempts += 1
    delivery.last_error = error[-2000:]
    delivery.next_attempt_at = next_attempt_at
    if next_attempt_at is None:
        delivery.status = DeliveryStatus.FAILED
    session.flush()
