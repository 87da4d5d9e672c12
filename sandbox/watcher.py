"""One thread per host process watches every bot it runs: an event loop over their pipes and pidfds.

A thread per bot (it read the bot's stderr, waited for its end and sampled its cgroup) cost nothing at ten bots;
at 500 per process the threads woke a thousand times a second and fought the relay's two threads for the
interpreter lock. The loop serves them all from one thread; what blocks (``runc kill``, the end's ``runc
delete`` and file removal) runs on a few worker threads instead, so one slow runtime call never delays another
bot's watch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable

_ENDING_THREADS = 4  # runc kill/delete take 10-50 ms each; a burst of ends must not queue behind one another
_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop): a forked child starts its own


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # a fork while another thread held it must not leave the child's copy held


os.register_at_fork(after_in_child=_after_fork)


def watcher_loop() -> asyncio.AbstractEventLoop:
    """This process's watcher loop, started on first use (a daemon thread: it dies with the process)."""
    global _loop
    with _lock:
        if _loop is not None and _loop[0] == os.getpid():
            return _loop[1]
        loop = asyncio.new_event_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(_ENDING_THREADS, "sandbox-end"))
        ready = threading.Event()
        loop.call_soon(ready.set)
        threading.Thread(target=loop.run_forever, name="sandbox-watcher", daemon=True).start()
        ready.wait()
        _loop = (os.getpid(), loop)
        return loop


def on_watcher(callback: Callable[[], object]) -> None:
    """Run ``callback`` on the watcher's thread (from any thread)."""
    watcher_loop().call_soon_threadsafe(callback)


def off_watcher(work: Callable[[], object]) -> None:
    """Run blocking ``work`` on an ending thread (from the watcher's thread)."""
    watcher_loop().run_in_executor(None, work)
