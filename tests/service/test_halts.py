"""An engine worker's halts: stopping the worker halts every engine it runs; one run losing its lease halts only
that run (before: one process-wide event, so after a lease was lost every later run halted at once)."""

from __future__ import annotations

from arena.service.engine_worker import Halts


def test_a_lost_lease_halts_its_own_run_only() -> None:
    halts = Halts()
    first, second = halts.new(), halts.new()
    first.set()  # its lease was lost
    halts.done(first)
    assert not second.is_set() and not halts.new().is_set()


def test_a_stopping_worker_halts_what_runs_and_what_would_start() -> None:
    halts = Halts()
    running = halts.new()
    halts.halt_all()
    assert running.is_set() and halts.new().is_set()
