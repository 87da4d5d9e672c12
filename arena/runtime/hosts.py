"""Bot hosts: the machines that run sandboxed bots, as the engines see them through Redis.

A bot host announces itself every ``BEAT_S``: ``arena:hosts`` (HASH name -> its capacity and load, kept for
the admin's view) and ``arena:host:<name>:beat`` (its last heartbeat, expiring after ``LOST_AFTER_S``). A
host whose beat key is gone is lost: an engine ends the bots it placed there ``host_fault``, with the host,
its last heartbeat and when the loss was seen.

Placement is pure: spread a tournament's bots over the live hosts by free slots, most free first.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

import redis

BEAT_S = 1.0
LOST_AFTER_S = 4.0  # four missed beats
CONFIRM_S = 2.0  # and still gone this long later (two more beats it would have made)
HOSTS_KEY = "arena:hosts"


def beat_key(name: str) -> str:
    return f"arena:host:{name}:beat"


def queue_for(name: str) -> str:
    """The Celery queue only this host consumes: a placed bot's supervisor task goes there."""
    return f"host.{name}"


@dataclass(frozen=True)
class HostInfo:
    name: str
    slots: int
    used: int
    at: float  # Unix time of this announcement

    @property
    def free(self) -> int:
        return max(0, self.slots - self.used)


def announce(client: redis.Redis, info: HostInfo, lost_after_s: float = LOST_AFTER_S) -> None:
    raw = json.dumps(asdict(info))
    pipe = client.pipeline(transaction=False)
    pipe.hset(HOSTS_KEY, info.name, raw)
    pipe.set(beat_key(info.name), raw, px=int(lost_after_s * 1000))
    pipe.execute()


def withdraw(client: redis.Redis, name: str) -> None:
    """A host stopping cleanly: gone from the registry at once, not after its beat expires."""
    pipe = client.pipeline(transaction=False)
    pipe.hdel(HOSTS_KEY, name)
    pipe.delete(beat_key(name))
    pipe.execute()


def known(client: redis.Redis) -> dict[str, HostInfo]:
    """Every host that announced itself (alive or not), by its last announcement."""
    return {_s(name): HostInfo(**json.loads(raw)) for name, raw in client.hgetall(HOSTS_KEY).items()}


def alive(client: redis.Redis, names: Iterable[str]) -> dict[str, bool]:
    names = list(names)
    if not names:
        return {}
    beats = client.mget([beat_key(n) for n in names])
    return {name: beat is not None for name, beat in zip(names, beats, strict=True)}


def live_hosts(client: redis.Redis) -> list[HostInfo]:
    hosts = known(client)
    status = alive(client, hosts)
    return [h for name, h in sorted(hosts.items()) if status[name]]


def place(bots: Iterable[str], hosts: Iterable[HostInfo]) -> dict[str, str]:
    """bot -> host: each bot to the host with the most free slots left (ties by name), so a tournament's bots
    spread evenly over hosts of equal room. With no free slot anywhere, bots still go to the least loaded
    host: they queue there until a slot frees, and the engine's start timeout bounds the wait."""
    load = {h.name: [h.used, h.slots] for h in hosts}
    if not load:
        return {}
    placement = {}
    for bot in bots:
        name = max(sorted(load), key=lambda n: (load[n][1] - load[n][0], -load[n][0]))
        placement[bot] = name
        load[name][0] += 1
    return placement


class Heartbeat:
    """A bot host's announcements, every ``BEAT_S`` on a thread of its own until ``stop``. ``used`` counts the
    slots in use now. A Redis that is away for a while only delays beats: engines see the host lost if it
    stays away past ``LOST_AFTER_S``, which is the truth for bots that cannot reach their engine either."""

    def __init__(self, client: redis.Redis, name: str, slots: int, used: Callable[[], int],
                 every_s: float = BEAT_S) -> None:  # fmt: skip
        self.client, self.name, self.slots, self.used, self.every_s = client, name, slots, used, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}", daemon=True)

    def start(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> HostInfo:
        info = HostInfo(self.name, self.slots, self.used(), time.time())
        announce(self.client, info)
        return info

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            with contextlib.suppress(redis.RedisError):
                self.beat()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every_s * 2)
        with contextlib.suppress(redis.RedisError):
            withdraw(self.client, self.name)


class HostWatch:
    """An engine's view of the hosts its bots run on: which are lost, checked at most every ``every_s``.

    A host is lost when its beat key has been gone for ``confirm_s`` as this engine sees it, not at the first
    look: after a Redis restart every beat key may have expired meanwhile, and live hosts beat again within a
    second of Redis being back (found by the simulated cluster under load: a whole host declared lost)."""

    def __init__(self, client: redis.Redis, placement: Mapping[str, str], every_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, confirm_s: float = CONFIRM_S) -> None:  # fmt: skip
        self.client = client
        self.placement = dict(placement)
        self.every_s, self.confirm_s = every_s, confirm_s
        self._clock = clock
        self._checked = float("-inf")
        self._missing: dict[str, float] = {}  # host -> when this engine first found its beat gone
        self.lost: dict[str, dict[str, object]] = {}  # host -> evidence

    def newly_lost(self) -> dict[str, dict[str, object]]:
        """Hosts found gone since the last call: host -> evidence (host, last heartbeat, seen at)."""
        now = self._clock()
        if now - self._checked < self.every_s:
            return {}
        self._checked = now
        watched = sorted(set(self.placement.values()) - set(self.lost))
        gone = []
        for name, up in alive(self.client, watched).items():
            if up:
                self._missing.pop(name, None)
            elif now - self._missing.setdefault(name, now) >= self.confirm_s:
                gone.append(name)
        found: dict[str, dict[str, object]] = {}
        registry = known(self.client) if gone else {}
        for name in gone:
            last = registry.get(name)
            found[name] = {
                "host": name,
                "last_heartbeat": last.at if last else None,
                "seen_lost_at": time.time(),
            }
        self.lost.update(found)
        return found

    def bots_on(self, host: str) -> list[str]:
        return sorted(b for b, h in self.placement.items() if h == host)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
