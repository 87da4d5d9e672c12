"""Fixtures: a fake clock and a real webhook receiver on loopback (tests/webhooks/receiver.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhooks.receiver import FakeClock, Receiver, serve


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[Receiver]:
    with serve(Receiver(clock)) as state:
        yield state
