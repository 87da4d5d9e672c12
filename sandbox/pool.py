"""Pre-started sandboxes waiting at the gate, so a bot does not pay the runtime's cold start.

Under gVisor a sandbox takes ~0.5 s to boot its Sentry and interpreter. A pool keeps a few booted, with
their limits already verified, each with an empty /bot; taking one copies the bot in and opens the gate
(the bot's argv and environment follow the gate byte), so a smoke test or a tournament start waits only
for the copy. A sandbox is only ever used once; the pool starts a new one in the background for each
taken.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING

from sandbox.errors import SandboxError
from sandbox.limits import Limits

if TYPE_CHECKING:
    from sandbox.supervise import BotProcess, Sandbox


class SandboxPool:
    """Keeps up to ``size`` sandboxes of ``limits`` booted and waiting. Thread-safe."""

    def __init__(self, sandbox: Sandbox, limits: Limits, size: int) -> None:
        if not 0 < size <= 64:
            raise ValueError(f"a pool holds between 1 and 64 sandboxes, not {size}")
        self.sandbox, self.limits, self.size = sandbox, limits, size
        self._ready: collections.deque[BotProcess] = collections.deque()
        self._lock = threading.Lock()
        self._wanted = threading.Condition(self._lock)
        self._closed = False
        self.last_error: str | None = None
        self._filler = threading.Thread(target=self._fill, name="sandbox-pool", daemon=True)
        self._filler.start()

    def take(self) -> BotProcess | None:
        """A waiting sandbox, or None when none is ready (the caller then starts one cold)."""
        with self._lock:
            while self._ready:
                process = self._ready.popleft()
                self._wanted.notify()
                if process.waiting:
                    return process
                process.discard()  # it ended at its gate (a host fault): never hand a bot to it
        return None

    @property
    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def wait_ready(self, count: int | None = None, timeout: float = 60.0) -> bool:
        """Block until ``count`` (default: all) sandboxes are waiting; for start-up and tests."""
        wanted = self.size if count is None else count
        with self._wanted:
            return self._wanted.wait_for(lambda: len(self._ready) >= wanted or self._closed, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            left = list(self._ready)
            self._ready.clear()
            self._wanted.notify_all()
        for process in left:
            process.discard()

    def _fill(self) -> None:
        while True:
            with self._wanted:
                self._wanted.wait_for(lambda: self._closed or len(self._ready) < self.size)
                if self._closed:
                    return
            try:
                process = self.sandbox.prestart(self.limits)
            except SandboxError as error:  # e.g. refused limits: no pool, every start goes cold
                self.last_error = str(error)
                with self._wanted:
                    self._wanted.wait(timeout=5.0)
                continue
            with self._wanted:
                if self._closed:
                    process.discard()
                    return
                self._ready.append(process)
                self._wanted.notify_all()
