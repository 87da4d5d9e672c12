"""Webhooks in the service: from a running tournament to the delivery queue, and from the queue to endpoints.

* :class:`WebhookObserver` is a tournament :class:`Observer`. On the engine's thread it only filters the
  bots' messages down to the kinds that can become webhooks and queues them; a writer thread turns them
  into events (``events_from_bot_messages``, ids derived from the facts) and enqueues one delivery per
  subscribed endpoint of the bot's owner. The store's (endpoint, event id) uniqueness de-duplicates, so
  a batch written twice (a retried transaction, a re-derived tick) queues nothing twice.
* :class:`Dispatcher` is a thread that claims due deliveries, makes one attempt each
  (``Deliverer.attempt``) on a small pool, and records the outcome: delivered, rescheduled after
  ``RetryPolicy.delay`` (exponential backoff, full jitter, Retry-After honoured), or failed for good.
  Claiming pushes ``next_attempt_at`` out by a lease, in a short transaction (row-locked with SKIP LOCKED
  on PostgreSQL), so no transaction is open during HTTP and several dispatchers never send a delivery
  at the same time; a dispatcher that dies mid-attempt leaves the delivery to be retried when its lease
  runs out (delivery is at least once; receivers de-duplicate by event id).
* :class:`Observers` fans a tournament's hooks out to several observers (the record, webhooks, ...).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from arena.engine.events import Event
from arena.metrics import WEBHOOK_BACKLOG
from arena.runtime.tournament import BotState, Observer, Standing
from arena.store import tournaments as tournament_repo
from arena.store import webhooks as webhook_repo
from arena.store.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from arena.store.types import utcnow
from arena.webhooks import Deliverer, Endpoint, RetryPolicy, WebhookEvent, events_from_bot_messages
from arena.webhooks.delivery import AttemptResult
from arena.webhooks.events import RISK_MARGIN_WARNING, SYSTEM_STATUS, tournament_finished_message

log = logging.getLogger("arena.webhooks")

# Message types that may become webhooks (events_from_bot_messages makes the exact cut): the cheap filter
# the engine's thread applies, so portfolio updates never cross the queue.
_CANDIDATES = frozenset({"order_update", RISK_MARGIN_WARNING, SYSTEM_STATUS})


# -- fan-out ------------------------------------------------------------------------------------------


class Observers(Observer):
    """Several observers as one: each hook calls every observer's hook in turn, in the given order.

    An observer that raises is logged and skipped for that call, so one observer's failure neither ends
    the tournament nor starves the others. ``close()`` closes every observer that has a ``close``."""

    def __init__(self, observers: Iterable[Observer | None]) -> None:
        self.observers = [o for o in observers if o is not None]

    def _each(self, hook: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                log.exception("observer %s.%s failed", type(observer).__name__, hook)

    def events(self, n: int, ts: int, events: list[Event], requests: list[tuple[str, Any]]) -> None:
        self._each("events", n, ts, events, requests)

    def messages(self, out: dict[str, list[dict[str, Any]]]) -> None:
        self._each("messages", out)

    def finished(self, standings: list[Standing], bots: dict[str, BotState]) -> None:
        self._each("finished", standings, bots)

    def close(self) -> None:
        for observer in self.observers:
            close = getattr(observer, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing observer %s failed", type(observer).__name__)


# -- from the tournament to the queue -----------------------------------------------------------------

_Batch = list[tuple[str, list[dict[str, Any]]]]  # (bot key, its messages)
_STOP = object()


class WebhookObserver(Observer):
    """Queues webhook deliveries for what a tournament's bots are told, and ``tournament.finished``.

    ``owners`` maps each entered bot key to its owner's contestant id; bots not in it are ignored.
    ``run_id`` tells re-runs of a tournament apart (it goes into the event ids). The hooks only queue;
    the writer thread does the database work, and ``finished`` (or ``close``) waits for it to drain.
    If the writer falls ``max_queued`` batches behind, further batches are dropped (and counted in
    ``dropped``) rather than stall the engine.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        tournament: str,
        owners: Mapping[str, int],
        run_id: str = "",
        *,
        max_queued: int = 10_000,
        flush_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.tournament = tournament
        self.owners = dict(owners)
        self.run_id = run_id
        self.flush_timeout_s = flush_timeout_s
        self.clock = clock
        self.enqueued = 0  # deliveries queued (new or already there)
        self.dropped = 0  # message batches dropped because the writer was too far behind
        self.failed = 0  # batches the writer could not store
        self._last_ts = 0
        self._queue: queue.Queue[Any] = queue.Queue(max_queued)
        self._closed = False
        self._thread = threading.Thread(target=self._write_loop, name=f"webhooks-{tournament}", daemon=True)
        self._thread.start()

    # hooks (engine thread): filter and queue, nothing more

    def events(self, n: int, ts: int, events: list[Event], requests: list[tuple[str, Any]]) -> None:
        if ts > self._last_ts:
            self._last_ts = ts

    def messages(self, out: dict[str, list[dict[str, Any]]]) -> None:
        batch: _Batch = []
        for bot, messages in out.items():
            if bot not in self.owners:
                continue
            wanted = [m for m in messages if m.get("type") in _CANDIDATES]
            if wanted:
                batch.append((bot, wanted))
                ts = wanted[-1].get("ts")
                if isinstance(ts, int) and ts > self._last_ts:
                    self._last_ts = ts
        if batch:
            self._put(batch)

    def finished(self, standings: list[Standing], bots: dict[str, BotState]) -> None:
        """``tournament.finished`` for every entrant, then wait until everything queued is stored."""
        ts = self._last_ts or int(self.clock() * 1000)  # market time of the end; wall time if nothing happened
        message = tournament_finished_message(ts, standings)
        entrants = [b for b in (bots or self.owners) if b in self.owners]
        if entrants:
            self._put([(bot, [message]) for bot in entrants])
        self.close()

    def close(self) -> None:
        """Flush and stop the writer (idempotent). Waits at most ``flush_timeout_s``."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(queue.Full):  # waits only while the writer drains a full queue
            self._queue.put(_STOP, timeout=self.flush_timeout_s)
        self._thread.join(self.flush_timeout_s)
        if self._thread.is_alive():
            log.error("webhooks of %s: the writer did not finish within %s s", self.tournament, self.flush_timeout_s)

    def _put(self, batch: _Batch) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("webhooks of %s: writer behind, %d message batches dropped", self.tournament, self.dropped)

    # writer thread

    def _write_loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < 500:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            work = [pair for item in items if item is not _STOP for pair in item]
            if work:
                self._write(work)
            if any(item is _STOP for item in items):
                return

    def _write(self, work: _Batch) -> None:
        for attempt in range(1, 4):
            try:
                with self.sessions.begin() as session:
                    self.enqueued += self._enqueue(session, work)
                return
            except OperationalError:  # database busy or gone: enqueue is idempotent, so replay the batch whole
                log.warning("webhooks of %s: storing failed (try %d)", self.tournament, attempt, exc_info=True)
                time.sleep(0.2 * attempt)  # brief backoff before the replay
            except Exception:
                log.exception("webhooks of %s: storing deliveries failed", self.tournament)
                break
        self.failed += 1

    def _enqueue(self, session: Session, work: _Batch) -> int:
        endpoints = _active_endpoints(session, {self.owners[bot] for bot, _ in work})
        count = 0
        for bot, messages in work:
            mine = endpoints.get(self.owners[bot])
            if not mine:
                continue  # the owner has no webhooks: nothing to derive
            try:
                events = events_from_bot_messages(self.tournament, bot, messages, run=self.run_id)
            except (TypeError, ValueError):  # a malformed message must not cost the rest of the batch
                log.exception("webhooks of %s: cannot derive events for %s", self.tournament, bot)
                continue
            for event in events:
                for endpoint in mine:
                    if not endpoint.events or event.type in endpoint.events:
                        webhook_repo.enqueue(session, endpoint, event.id, event.type, event.as_dict())
                        count += 1
        return count


def _active_endpoints(session: Session, contestant_ids: set[int]) -> dict[int, list[WebhookEndpoint]]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.contestant_id.in_(contestant_ids), WebhookEndpoint.active.is_(True)
    )
    found: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in session.scalars(query.order_by(WebhookEndpoint.id)):
        found.setdefault(endpoint.contestant_id, []).append(endpoint)
    return found


def webhook_observer(sessions: sessionmaker[Session], tournament_id: int | str) -> WebhookObserver:
    """The observer for a started tournament: its (not disqualified) entries' owners, and a run id that
    differs between runs of the same tournament (its start time), so a re-run's events are new events."""
    with sessions.begin() as session:
        t = tournament_repo.get_tournament(session, tournament_id)
        owners = {e.bot_key: e.contestant_id for e in t.entries if not e.disqualified}
        run_id = f"{t.id}@{t.started_at.isoformat() if t.started_at else ''}"
        slug = t.slug
    return WebhookObserver(sessions, slug, owners, run_id)


# -- from the queue to the endpoints ------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    attempt: int  # the number of the attempt about to be made (1-based)
    due: datetime | None  # next_attempt_at before the claim (restored if the attempt is not made)
    endpoint: Endpoint | None
    event: WebhookEvent | None
    problem: str | None  # why it cannot be attempted (endpoint disabled, bad payload)


class Dispatcher:
    """Delivers due webhook deliveries until ``stop()``. One per service process is enough; more are safe.

    ``policy`` (default: the deliverer's) decides how many attempts and the wait between them; tests
    pass a fast one. ``allow_loopback`` is for development and tests only.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        deliverer: Deliverer | None = None,
        policy: RetryPolicy | None = None,
        allow_loopback: bool = False,
        poll_s: float = 0.5,
        workers: int = 4,
        lease_s: float = 300.0,
        rng: random.Random | None = None,
        backlog_every_s: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self._own_deliverer = deliverer is None
        self.deliverer = deliverer or Deliverer(policy, allow_loopback=allow_loopback)
        self.policy = policy or self.deliverer.policy
        self.poll_s = poll_s
        self.batch = workers * 4
        self.lease = timedelta(seconds=lease_s)  # longer than a batch can take (each attempt <= ~15 s)
        self.rng = rng or random.Random()
        self.backlog_every_s = backlog_every_s  # how often the loop counts the pending deliveries (a metric)
        self._backlog_due = 0.0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="arena-webhooks")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Dispatcher:
        self._thread = threading.Thread(target=self._loop, name="arena-webhook-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, let attempts in flight finish (bounded by ``timeout``), release the rest."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_deliverer:
            self.deliverer.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() >= self.batch  # a full batch: more may be due, go again at once
                if time.monotonic() >= self._backlog_due:
                    self._backlog_due = time.monotonic() + self.backlog_every_s
                    self.measure_backlog()
            except Exception:
                log.exception("webhook dispatcher: a round failed")
                busy = False
            if not busy:
                self._stop.wait(self.poll_s)

    def run_once(self) -> int:
        """Claim what is due, attempt each once, record the outcomes. Returns how many were claimed."""
        claims = self._claim()
        if not claims:
            return 0
        results = list(self._pool.map(self._attempt, claims))
        skipped = [c for c, r in zip(claims, results, strict=True) if r is None]
        if skipped:
            self._release(skipped)
        return len(claims)

    def measure_backlog(self) -> int:
        """Count the pending deliveries (due now or waiting for a retry) into ``arena_webhook_backlog``."""
        with self.sessions() as session:
            pending = session.scalar(
                select(func.count()).select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            )  # fmt: skip
        WEBHOOK_BACKLOG.set(pending or 0)
        return pending or 0

    def _claim(self) -> list[_Claim]:
        now = utcnow()
        claims = []
        with self.sessions.begin() as session:
            due = webhook_repo.due_deliveries(session, now, self.batch)
            endpoints = {e.id: e for e in _endpoints(session, {d.endpoint_id for d in due})}
            for delivery in due:
                claims.append(_claim_of(delivery, endpoints.get(delivery.endpoint_id)))
                delivery.next_attempt_at = now + self.lease
        return claims

    def _attempt(self, claim: _Claim) -> AttemptResult | None:
        if self._stop.is_set():
            return None  # shutting down: released, not attempted
        if claim.endpoint is None or claim.event is None:
            result = AttemptResult(None, claim.problem, retryable=False)
        else:
            result = self.deliverer.attempt(claim.endpoint, claim.event, claim.attempt)
        try:
            self._record(claim, result)
        except Exception:  # the attempt was made; if its record is lost, the lease makes it go again
            log.exception("webhook delivery %d: recording the attempt failed", claim.delivery_id)
        return result

    def _record(self, claim: _Claim, result: AttemptResult) -> None:
        with self.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, claim.delivery_id)
            if delivery is None or delivery.status is not DeliveryStatus.PENDING:
                return  # its endpoint was deleted meanwhile
            if result.ok:
                webhook_repo.mark_delivered(session, delivery)
                return
            next_at = None
            if result.retryable and claim.attempt < self.policy.max_attempts:
                wait = self.policy.delay(claim.attempt, self.rng, result.retry_after)
                next_at = utcnow() + timedelta(seconds=wait)
            error = result.error or f"HTTP {result.status}"
            webhook_repo.mark_attempt_failed(session, delivery, error, next_at)
            log.info("webhook %s: attempt %d failed (%s)%s", claim.event.id if claim.event else "?",
                     claim.attempt, error, "" if next_at else "; giving up")  # fmt: skip

    def _release(self, claims: Sequence[_Claim]) -> None:
        with self.sessions.begin() as session:
            for claim in claims:
                delivery = session.get(WebhookDelivery, claim.delivery_id)
                if delivery is not None and delivery.status is DeliveryStatus.PENDING:
                    delivery.next_attempt_at = claim.due


def _endpoints(session: Session, ids: set[int]) -> list[WebhookEndpoint]:
    if not ids:
        return []
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids))))


def _claim_of(delivery: WebhookDelivery, endpoint: WebhookEndpoint | None) -> _Claim:
    attempt = delivery.attempts + 1
    if endpoint is None or not endpoint.active:
        return _Claim(delivery.id, attempt, delivery.next_attempt_at, None, None, "the endpoint is disabled")
    try:
        event = WebhookEvent(**delivery.payload)
        target = Endpoint(endpoint.url, (endpoint.secret.encode(),))
    except (TypeError, ValueError) as exc:
        return _Claim(delivery.id, attempt, delivery.next_attempt_at, None, None, f"undeliverable: {exc}")
    return _Claim(delivery.id, attempt, delivery.next_attempt_at, target, event, None)
