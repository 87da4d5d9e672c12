"""Journal: what a tournament's engine consumed each tick, written when the tick is complete.

The engine is deterministic: given the tournament's ticks, seed and, for each tick, the admin commands it
obeyed, the bots that went out and the requests it processed (in the order it processed them), it reaches
the same state bit for bit. So when an engine worker dies mid-tournament, another one rebuilds the exact
state by replaying this journal and goes on from the next tick, with the bots still running.

Each entry (stream ``arena:{T}:journal``, entry id ``n-0``; the start-up, tick 0, is ``0-1``) holds:

- ``after``: the orders stream's cursor once the tick was complete (the new engine reads on from there), and
  ``seen``: each bot's last report number consumed (a second copy of a report, sent again by a client's retry
  across a Redis restart, is dropped by its number);
- ``steps``: what the engine did, in order: ``["dq", bot]`` (disqualified), ``["tick"]`` (the market tick
  applied), ``["out", bot, status, report, n]`` (a bot ended or never showed), ``["batch", requests]`` (a
  lockstep tick's orders and cancels, by bot), ``["one", bot, request]`` (a realtime order as it came);
- ``carry``: the requests read during the tick that belong to the next one (at tick 0, those sent during
  start-up; in lockstep, what a bot wrote after its ``done``), handled first in the next tick's batch;
- at tick 0, ``running`` (the bots that came up).

Appends are fenced: they succeed only while the writer's lease value is the current one, so an engine that
lost its lease (paused, partitioned) cannot add to a journal another engine now writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis

from arena.engine.orders import Cancel
from arena.runtime.bus import Bus
from arena.runtime.lease import lease_key
from arena.runtime.streams import entries

Request = dict[str, Any] | Cancel

_APPEND = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED the lease is no longer held by this engine')
end
return redis.call('XADD', KEYS[1], ARGV[2], 'e', ARGV[3])
"""


class Fenced(RuntimeError):
    """This engine's lease was taken over: it must stop writing."""

    code = "LEASE_LOST"


@dataclass
class TickRecord:
    n: int
    after: str
    steps: list[list[Any]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # tick 0 only
    carry: list[tuple[str, Request]] = field(default_factory=list)  # read, for the next tick's batch
    seen: dict[str, int] = field(default_factory=dict)  # bot -> the last report number consumed


def encode_request(request: Request) -> Any:
    if isinstance(request, Cancel):
        return {"cancel": [request.order_id, request.client_order_id]}
    return request


def decode_request(data: Any) -> Request:
    if isinstance(data, dict) and set(data) == {"cancel"}:
        return Cancel(*data["cancel"])
    return data


class Journal:
    def __init__(self, client: redis.Redis, tournament: str, fence: str | None = None) -> None:
        self.client = client
        self.key = Bus(client, tournament).journal_key
        self._lease_key = lease_key(tournament)
        self.fence = fence  # the lease value (owner#token) appends must match; None: unfenced
        self._append = client.register_script(_APPEND)

    def append(self, record: TickRecord) -> None:
        body: dict[str, Any] = {"n": record.n, "after": record.after, "steps": record.steps, "seen": record.seen}
        if record.n == 0:
            body["running"] = record.running
        if record.carry:
            body["carry"] = [[bot, encode_request(r)] for bot, r in record.carry]
        entry_id = f"{record.n}-0" if record.n else "0-1"
        try:
            self._append(keys=[self.key, self._lease_key],
                         args=[self.fence or "", entry_id, json.dumps(body, separators=(",", ":"))])  # fmt: skip
        except redis.ResponseError as exc:
            if str(exc).startswith("FENCED"):
                raise Fenced(f"tournament journal {self.key}: {exc}") from None
            raise

    def records(self) -> list[TickRecord]:
        """Every complete tick so far, in order (tick 0 first when the start-up completed)."""
        records = []
        for _id, fields in entries(self.client.xrange(self.key)):
            body = json.loads(fields[b"e"])
            records.append(
                TickRecord(
                    body["n"], body["after"], body["steps"], body.get("running", []),
                    [(bot, decode_request(r)) for bot, r in body.get("carry", [])], body.get("seen", {}),
                )
            )  # fmt: skip
        return records
