"""A bot host: the process that runs the supervisors (and their sandboxes) an engine placed on it.

``arena worker --queues bots --slots N`` is one: a Celery worker on the shared ``bots`` queue (smoke tests) and
on its own ``host.<name>`` queue (the bots placed on it), with N threads, one per slot. It announces its name,
slots and slots in use every second (``arena.runtime.hosts``); an engine that stops hearing it ends the bots it
placed there ``host_fault``. Its sandboxes die with it (each is started with a parent-death signal).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import redis

from arena.metrics import HOST_SLOTS
from arena.runtime.connection import connect
from arena.runtime.hosts import Heartbeat, queue_for
from arena.runtime.relay import relay_for
from arena.runtime.supervisor import STARTS_AT_ONCE, Supervisor, supervise
from sandbox import adopt_bots


def default_name() -> str:
    """Unique per process on a machine: two bot hosts on one machine (or in two network namespaces) differ."""
    return f"{socket.gethostname()}.{os.getpid()}"


class BotHost:
    def __init__(self, redis_url: str, name: str, slots: int) -> None:
        self.redis_url, self.name, self.slots = redis_url, name, slots
        self.queue = queue_for(name)
        self._used = 0
        self._lock = threading.Lock()
        self._gate = threading.Semaphore(STARTS_AT_ONCE)
        self._heartbeat: Heartbeat | None = None
        self._supervisors: set[Supervisor] = set()  # running here now

    @property
    def used(self) -> int:
        return self._used

    def start(self) -> None:
        adopt_bots()  # a bot host only supervises: on runc its bots get its pipes directly (sandbox/adoption.py)
        self._heartbeat = Heartbeat(redis.Redis.from_url(self.redis_url), self.name, self.slots, lambda: self._used)
        self._heartbeat.start()
        self._count(0)

    def stop(self) -> None:
        """This host is stopping: withdraw it and end its bots now (each ends host_fault, saying why), so its
        supervisors return and the worker can exit instead of waiting for the tournaments' ends."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        with self._lock:
            running = list(self._supervisors)
        for supervisor in running:
            supervisor.stop(f"its bot host {self.name} stopped")

    def _count(self, delta: int) -> None:
        with self._lock:
            self._used += delta
            HOST_SLOTS.labels(state="used").set(self._used)
            HOST_SLOTS.labels(state="free").set(max(0, self.slots - self._used))
        if delta and self._heartbeat is not None:
            # Announce the change now, not at the next beat: a tournament placed right after another ends must see
            # these slots free (a stale count put every bot on one host, the rest queued past their start timeout).
            with contextlib.suppress(redis.RedisError):
                self._heartbeat.beat()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self._count(1)
        try:
            yield
        finally:
            self._count(-1)

    def supervise(self, tournament: str, bot: str, path: str, limits: dict[str, Any]) -> dict[str, Any]:
        """Run one bot's supervisor to its end in a slot of this host; its report."""
        client = connect(self.redis_url)  # rides out a Redis restart: the bot waits, it is not thrown out
        try:
            with self.slot():
                return supervise(client, tournament, bot, path, limits, host=self.name, gate=self._gate,
                                 running=self._supervisors,
                                 relay=relay_for(self.redis_url, tournament, connect)).as_dict()  # fmt: skip
        finally:
            client.close()
