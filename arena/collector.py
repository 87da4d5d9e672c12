"""The cyclic garbage collector kept off what a run builds to keep: a replay's books, a backtest's ticks and engine.

A bar file becomes tens of thousands of tuples and books that live on (none of them garbage); built with the
collector on, every few hundred of them would have it walk the objects of the whole process again, and once built
each later collection walks them too, several times over as they age. So the collector pauses while they are built,
and they join the oldest generation unexamined (``gc.freeze`` then ``gc.unfreeze``: every tracked object moves
there), where only a full collection looks at them.

``gc.freeze`` and ``gc.unfreeze`` act on the whole process: unfreezing would also release what someone else froze
(the API process freezes what it holds at start-up). So both are used only while nothing else is frozen; otherwise
the collector is only paused and then resumed, which costs time and changes nothing else.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off inside the block; then what exists joins the oldest generation (if nothing is frozen)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


@contextmanager
def frozen() -> Iterator[None]:
    """What exists now is left out of the collector's walks inside the block (if nothing else is frozen): a backtest's
    ticks, catalog and engine, which its short-lived messages would otherwise have it walk at each collection."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
