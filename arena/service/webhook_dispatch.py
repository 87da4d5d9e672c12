"""Webhooks in the service: from a running tournament to the delivery queue, and from the queue to endpoints.

* :class:`WebhookObserver` is a tournament :class:`Observer`. On the engine's thread it only filters the
  bots' messages down to the kinds that can become webhooks and queues them; a writer thread turns them
  into events (``events_from_bot_messages``, ids derived from the facts) and enqueues one delivery per
  subscribed endpoint of the bot's owner. The store's (endpoint, event id) uniqueness de-duplicates, so
  a batch written twice (a retried transaction, a re-derived tick) queues nothing twice.
* :class:`Dispatcher` is a thread that claims due deliveries as workers come free, makes one attempt each
  (``Deliverer.attempt``, bounded by its deadline) on a pool, at most a few at once per endpoint and per
  contestant, and records the outcome: delivered, rescheduled after ``RetryPolicy.delay`` (exponential
  backoff, full jitter, Retry-After honoured), or failed for good.
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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from arena.engine.events import AccountUpdate, Event
from arena.engine.tick import Tick
from arena.metrics import WEBHOOK_BACKLOG
from arena.runtime.tournament import BotState, Observer, Standing
from arena.settings import Settings
from arena.store import tournaments as tournament_repo
from arena.store import webhooks as webhook_repo
from arena.store.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from arena.store.types import utcnow
from arena.webhooks import AddressPolicy, Deliverer, Endpoint, RetryPolicy, WebhookEvent, events_from_bot_messages
from arena.webhooks.delivery import AttemptResult
from arena.webhooks.events import RISK_MARGIN_WARNING, SYSTEM_STATUS, tournament_finished_message
from arena.webhooks.keyring import KeyringError, SecretKeyring
from arena.webhooks.signing import standard_secret

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

    def market(self, n: int, tick: Tick) -> None:
        self._each("market", n, tick)

    def events(self, n: int, ts: int, events: list[Event], requests: list[tuple[str, Any]]) -> None:
        self._each("events", n, ts, events, requests)

    def messages(self, out: dict[str, list[dict[str, Any]]]) -> None:
        self._each("messages", out)

    def finished(self, standings: list[Standing], bots: dict[str, BotState]) -> None:
        self._each("finished", standings, bots)

    def replayed(self, n: int, ts: int, updates: list[AccountUpdate]) -> None:
        self._each("replayed", n, ts, updates)

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
    endpoint_id: int
    owner: int | None  # the endpoint's contestant (None: the endpoint is gone)
    attempt: int  # the number of the attempt about to be made (1-based)
    due: datetime | None  # next_attempt_at before the claim (restored if the attempt is not made)
    endpoint: Endpoint | None
    event: WebhookEvent | None
    problem: str | None  # why it cannot be attempted (endpoint disabled, bad payload)


class Dispatcher:
    """Delivers due webhook deliveries until ``stop()``. One per service process is enough; more are safe.

    Attempts run on ``workers`` threads, each started as soon as a worker is free: the loop never waits for
    a group of attempts, so one slow endpoint holds only its own attempts, each ended by the deliverer's
    deadline. At most ``per_endpoint`` attempts to one endpoint and ``per_contestant`` to one contestant's
    endpoints are in flight at once (in this dispatcher); the rest of their deliveries wait in the queue
    while other endpoints' are sent. ``keyring`` opens the endpoints' sealed secrets. ``policy`` (default:
    the deliverer's) decides how many attempts and the wait between them; tests pass a fast one.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        keyring: SecretKeyring,
        deliverer: Deliverer | None = None,
        policy: RetryPolicy | None = None,
        addresses: AddressPolicy | None = None,
        attempt_timeout_s: float = 10.0,
        poll_s: float = 0.5,
        workers: int = 16,
        per_endpoint: int = 2,
        per_contestant: int = 4,
        lease_s: float = 300.0,
        hold_s: float = 60.0,
        rng: random.Random | None = None,
        backlog_every_s: float = 5.0,
    ) -> None:
        if min(workers, per_endpoint, per_contestant) < 1:
            raise ValueError("workers, per_endpoint and per_contestant must be at least 1")
        self.sessions = sessions
        self.keyring = keyring
        self._own_deliverer = deliverer is None
        self.deliverer = deliverer or Deliverer(
            policy, addresses=addresses, timeout=attempt_timeout_s, max_connections=workers
        )
        self.policy = policy or self.deliverer.policy
        self.poll_s = poll_s
        self.workers = workers
        self.per_endpoint = per_endpoint
        self.per_contestant = per_contestant
        self.lease = timedelta(seconds=lease_s)  # far longer than an attempt (its deadline) and its record
        self.hold = timedelta(seconds=hold_s)  # how long a delivery whose secret no key opens waits
        self.rng = rng or random.Random()
        self.backlog_every_s = backlog_every_s  # how often the loop counts the pending deliveries (a metric)
        self._backlog_due = 0.0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="arena-webhooks")
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[_Claim, Future[None]]] = {}  # by delivery id
        self._wake = threading.Event()  # an attempt finished: a worker is free
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def addresses(self) -> AddressPolicy:
        return self.deliverer.addresses

    def start(self) -> Dispatcher:
        self._thread = threading.Thread(target=self._loop, name="arena-webhook-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, let attempts in flight finish (bounded by ``timeout``), release the rest."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            futures = [future for _, future in self._in_flight.values()]
        wait_for(futures, timeout=max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_deliverer:
            self.deliverer.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before claiming: an attempt ending from here on wakes the wait below
            try:
                self.run_once()
                if time.monotonic() >= self._backlog_due:
                    self._backlog_due = time.monotonic() + self.backlog_every_s
                    self.measure_backlog()
            except Exception:
                log.exception("webhook dispatcher: a round failed")
            self._wake.wait(self.poll_s)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def run_once(self) -> int:
        """Claim what is due, as far as free workers and the caps allow, and start an attempt for each
        (without waiting for it). Returns how many were started."""
        with self._lock:
            claims = [claim for claim, _ in self._in_flight.values()]
        free = self.workers - len(claims)
        if free <= 0 or self._stop.is_set():
            return 0
        started = self._claim(free, Counter(c.endpoint_id for c in claims), Counter(c.owner for c in claims))
        for claim in started:
            with self._lock:
                future = self._pool.submit(self._attempt, claim)
                self._in_flight[claim.delivery_id] = (claim, future)
            future.add_done_callback(partial(self._finished, claim))
        return len(started)

    def _finished(self, claim: _Claim, _done: object) -> None:
        with self._lock:
            self._in_flight.pop(claim.delivery_id, None)
        self._wake.set()

    def measure_backlog(self) -> int:
        """Count the pending deliveries (due now or waiting for a retry) into ``arena_webhook_backlog``."""
        with self.sessions() as session:
            pending = session.scalar(
                select(func.count()).select_from(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            )  # fmt: skip
        WEBHOOK_BACKLOG.set(pending or 0)
        return pending or 0

    def _claim(self, free: int, per_endpoint: Counter[int], per_owner: Counter[int | None]) -> list[_Claim]:
        """Lease up to ``free`` due deliveries, oldest first, keeping within the caps given what is in flight."""
        now = utcnow()
        full_endpoints = {e for e, n in per_endpoint.items() if n >= self.per_endpoint}
        full_owners = {o for o, n in per_owner.items() if o is not None and n >= self.per_contestant}
        claims: list[_Claim] = []
        with self.sessions.begin() as session:
            due = webhook_repo.due_deliveries(session, now, free * self.per_endpoint, per_endpoint=self.per_endpoint,
                                              skip_endpoints=full_endpoints, skip_contestants=full_owners)  # fmt: skip
            endpoints = {e.id: e for e in _endpoints(session, {d.endpoint_id for d in due})}
            for delivery in due:
                if len(claims) >= free:
                    break
                endpoint = endpoints.get(delivery.endpoint_id)
                owner = endpoint.contestant_id if endpoint is not None else None
                if per_endpoint[delivery.endpoint_id] >= self.per_endpoint or (
                    owner is not None and per_owner[owner] >= self.per_contestant
                ):
                    continue  # left unleased: a later round takes it
                try:
                    claim = self._claim_of(delivery, endpoint)
                except KeyringError as exc:  # no configured key opens the secret: wait for the operator
                    log.error("webhook delivery %d: %s; held for %s", delivery.id, exc, self.hold)
                    delivery.next_attempt_at = now + self.hold
                    continue
                per_endpoint[delivery.endpoint_id] += 1
                per_owner[owner] += 1
                claims.append(claim)
                delivery.next_attempt_at = now + self.lease
        return claims

    def _claim_of(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint | None) -> _Claim:
        attempt = delivery.attempts + 1
        ids = (delivery.id, delivery.endpoint_id, endpoint.contestant_id if endpoint is not None else None)
        if endpoint is None or not endpoint.active:
            return _Claim(*ids, attempt, delivery.next_attempt_at, None, None, "the endpoint is disabled")
        secret = self.keyring.open(endpoint.sealed_secret)
        try:
            event = WebhookEvent(**delivery.payload)
            target = Endpoint(endpoint.url, (standard_secret(secret),))  # one from before wrapped, same key
        except (TypeError, ValueError) as exc:
            return _Claim(*ids, attempt, delivery.next_attempt_at, None, None, f"undeliverable: {exc}")
        return _Claim(*ids, attempt, delivery.next_attempt_at, target, event, None)

    def _attempt(self, claim: _Claim) -> None:
        if self._stop.is_set():
            self._release(claim)  # shutting down: released, not attempted
            return
        started = utcnow()  # retries are timed from the start, so the stored times do not show how long it took
        if claim.endpoint is None or claim.event is None:
            result = AttemptResult(None, claim.problem, retryable=False)
        else:
            try:
                result = self.deliverer.attempt(claim.endpoint, claim.event, claim.attempt)
            except Exception:  # a bug of ours, not the endpoint's doing: retried on the usual schedule
                log.exception("webhook delivery %d: the attempt failed", claim.delivery_id)
                result = AttemptResult(None, "internal error (see the operator's log)", retryable=True)
        try:
            self._record(claim, result, started)
        except Exception:  # the attempt was made; if its record is lost, the lease makes it go again
            log.exception("webhook delivery %d: recording the attempt failed", claim.delivery_id)

    def _record(self, claim: _Claim, result: AttemptResult, started: datetime) -> None:
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
                next_at = started + timedelta(seconds=wait)
            error = result.error or f"HTTP {result.status}"
            webhook_repo.mark_attempt_failed(session, delivery, error, next_at)
            log.info("webhook %s: attempt %d failed (%s)%s", claim.event.id if claim.event else "?",
                     claim.attempt, error, "" if next_at else "; giving up")  # fmt: skip

    def _release(self, claim: _Claim) -> None:
        with self.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, claim.delivery_id)
            if delivery is not None and delivery.status is DeliveryStatus.PENDING:
                delivery.next_attempt_at = claim.due


def webhook_dispatcher(settings: Settings, sessions: sessionmaker[Session]) -> Dispatcher:
    """The service's dispatcher as the settings say (ValueError names a bad one). Every stored secret not yet
    sealed with the newest key (plain text from before 0004, or an older key's) is sealed with it first."""
    keyring = SecretKeyring.from_settings(settings.webhooks_secret_keys, settings.data_dir)
    with sessions.begin() as session:
        resealed = webhook_repo.reseal_secrets(session, keyring.reseal)
    if resealed:
        log.info("webhooks: %d stored secrets sealed with the newest key", resealed)
    addresses = AddressPolicy.of(allow_loopback=settings.webhooks_allow_loopback, ports=settings.webhooks_allowed_ports,
                                 denied=settings.webhooks_denied_networks)  # fmt: skip
    return Dispatcher(sessions, keyring=keyring, addresses=addresses, per_endpoint=settings.webhooks_per_endpoint,
                      attempt_timeout_s=settings.webhooks_attempt_timeout_s)  # fmt: skip


def _endpoints(session: Session, ids: set[int]) -> list[WebhookEndpoint]:
    if not ids:
        return []
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(ids))))
