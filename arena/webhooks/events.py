"""Webhook events: what a contestant's endpoint receives, and how the runtime's bot messages become events.

An event's body is its canonical JSON (sorted keys, compact, UTF-8) — exactly the bytes that are signed
and sent. Event ids are ``evt_`` + 26 Crockford base32 characters (a ULID layout): 48 bits of the event's
time in ms, then 80 bits. Ids therefore sort by event time. For events derived from bot messages the 80
bits come from a hash of (run, tournament, bot, message), so the same fact always gets the same id: if a
worker crashes and re-derives a tick's events, the receiver's de-duplication by id still holds. Nothing
here reads a clock or global randomness.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ORDER_PARTIAL_FILL = "order.partial_fill"
ORDER_FILLED = "order.filled"
RISK_MARGIN_WARNING = "risk.margin_warning"
SYSTEM_STATUS = "system.status"
TOURNAMENT_FINISHED = "tournament.finished"
ACHIEVEMENT_EARNED = "achievement.earned"  # a badge or level, from the record once the tournament is rated
EVENT_TYPES = (ORDER_PARTIAL_FILL, ORDER_FILLED, RISK_MARGIN_WARNING, SYSTEM_STATUS, TOURNAMENT_FINISHED,
               ACHIEVEMENT_EARNED)

MAX_STANDINGS = 100  # tournament.finished carries the top of the board, not an unbounded list
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MAX_MS = (1 << 48) - 1


def _base32(value: int, chars: int) -> str:
    out = []
    for _ in range(chars):
        value, digit = divmod(value, 32)
        out.append(_CROCKFORD[digit])
    return "".join(reversed(out))


def event_id(ms: int, entropy: int) -> str:
    """``evt_`` + a ULID of the time ``ms`` (clamped to 48 bits) and 80 bits of ``entropy``."""
    ms = min(max(int(ms), 0), _MAX_MS)
    return "evt_" + _base32(ms, 10) + _base32(entropy & ((1 << 80) - 1), 16)


def derived_event_id(ms: int, *key: Any) -> str:
    """A deterministic id: the same time and key give the same id."""
    digest = hashlib.sha256(canonical_json(list(key))).digest()
    return event_id(ms, int.from_bytes(digest[:10], "big"))


def random_event_id(ms: int, rng: random.Random) -> str:
    """An id for an ad-hoc event (not derived from a message), from a generator the caller seeds."""
    return event_id(ms, rng.getrandbits(80))


def _jsonable(value: Any, where: str = "data") -> Any:
    """A plain-JSON copy: tuples become lists, non-finite floats null (JSON has no NaN), keys strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {type(k).__name__}")
            out[k] = _jsonable(v, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[]") for v in value]
    if hasattr(value, "as_dict"):
        return _jsonable(value.as_dict(), where)
    raise TypeError(f"{where}: {type(value).__name__} is not JSON")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: int  # ms since the epoch: when it happened in the tournament (market time in a replay)
    tournament: str
    bot: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}; expected one of {', '.join(EVENT_TYPES)}")
        if not (isinstance(self.id, str) and self.id.startswith("evt_") and len(self.id) == 30):
            raise ValueError(f"event id must be 'evt_' + 26 characters, got {self.id!r}")
        if isinstance(self.created, bool) or not isinstance(self.created, int) or self.created < 0:
            raise ValueError(f"created must be non-negative int ms, got {self.created!r}")
        for name in ("tournament", "bot"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string")
        object.__setattr__(self, "data", _jsonable(dict(self.data)))  # frozen: a private plain-JSON copy

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "created": self.created,
            "tournament": self.tournament,
            "bot": self.bot,
            "data": self.data,
        }

    def body(self) -> bytes:
        """The canonical JSON body: what is signed and POSTed."""
        return canonical_json(self.as_dict())

    @classmethod
    def from_body(cls, body: bytes) -> WebhookEvent:
        obj = json.loads(body)
        return cls(obj["id"], obj["type"], obj["created"], obj["tournament"], obj["bot"], obj["data"])


# -- from the runtime's bot messages -----------------------------------------------------------------


def tournament_finished_message(ts: int, standings: Sequence[Any], reason: str = "finished") -> dict[str, Any]:
    """The host-side marker the runtime appends for each bot when a tournament ends (never sent to bots).

    ``standings`` are runtime ``Standing``s or their dicts, best first.
    """
    return {"type": TOURNAMENT_FINISHED, "ts": ts, "reason": reason, "standings": _jsonable(list(standings))}


def _event_type(message: Mapping[str, Any]) -> str | None:
    kind = message.get("type")
    if kind == "order_update":
        # Only fills: a Fill's update carries qty and price; accepted/rejected/cancelled are not webhooks.
        status = message.get("status")
        if status == "partial_fill":
            return ORDER_PARTIAL_FILL
        if status == "filled" and "price" in message:
            return ORDER_FILLED
        return None
    if kind in (RISK_MARGIN_WARNING, SYSTEM_STATUS, TOURNAMENT_FINISHED):
        return kind
    return None


def _finished_data(bot: str, message: Mapping[str, Any]) -> dict[str, Any]:
    standings = [s for s in message.get("standings") or [] if isinstance(s, Mapping)]
    own = next((s for s in standings if s.get("bot") == bot), None)
    return {
        "reason": message.get("reason", "finished"),
        "standing": own,  # this bot's line (None if it was not entered)
        "standings": list(standings[:MAX_STANDINGS]),
        "entrants": len(standings),
    }


def events_from_bot_messages(
    tournament: str, bot: str, messages: Iterable[Mapping[str, Any]], run: str = ""
) -> list[WebhookEvent]:
    """The webhook events among one bot's messages, in order. Pure: same input, same events and ids.

    order_update partial_fill/filled -> order.partial_fill/order.filled; risk.margin_warning and
    system.status as they are; a ``tournament_finished_message`` -> tournament.finished. Everything else
    (book, portfolio, tick, accepted/rejected/cancelled orders, ...) is not a webhook. ``run`` tells
    re-runs of the same tournament apart, so that a re-run's events are not taken for duplicates.
    """
    events = []
    for message in messages:
        kind = _event_type(message)
        if kind is None:
            continue
        ts = message.get("ts")
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise ValueError(f"{message.get('type')} message without an integer 'ts'")
        if kind == TOURNAMENT_FINISHED:
            data = _finished_data(bot, message)
        else:
            data = {k: v for k, v in message.items() if k != "type"}
        # The whole message is the key: each fill has its own order_id/filled_qty, each status its ts.
        eid = derived_event_id(ts, run, tournament, bot, _jsonable(dict(message)))
        events.append(WebhookEvent(eid, kind, max(ts, 0), tournament, bot, data))
    return events
