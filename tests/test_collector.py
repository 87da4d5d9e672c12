"""arena.collector: the collector paused and long-lived objects frozen, never releasing what someone else froze."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from arena import collector


@pytest.fixture
def frozen_by_another() -> Iterator[int]:
    """Objects frozen by someone else in this process (the API process freezes what it holds at start-up)."""
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()


def test_paused_turns_the_collector_off_and_back_as_it_was() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()


def test_neither_releases_what_another_froze(frozen_by_another: int) -> None:
    kept = [[n] for n in range(1000)]  # tracked objects made while paused
    with collector.paused():
        kept += [[n] for n in range(1000)]
    # Still frozen (unfreezing would have made it 0; a few frozen objects may have been freed meanwhile).
    assert gc.get_freeze_count() > frozen_by_another * 0.9
    with collector.frozen():
        assert gc.get_freeze_count() <= frozen_by_another  # nothing of the block's frozen on top
    assert gc.get_freeze_count() > frozen_by_another * 0.9
    assert len(kept) == 2000


def test_frozen_releases_what_it_froze() -> None:
    if gc.get_freeze_count():
        pytest.skip("something in this test process froze objects before this test")
    with collector.frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with collector.paused():
        pass
    assert gc.get_freeze_count() == 0
