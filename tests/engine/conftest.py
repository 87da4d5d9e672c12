"""Engine fixtures: the packaged catalog, real session calendars, and hand-built books."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from arena.engine.engine import Engine
from arena.engine.instruments import InstrumentCatalog
from arena.engine.rules import Ruleset, resolve_ruleset
from arena.engine.sessions import SessionCalendars


@pytest.fixture(scope="session")
def calendars() -> SessionCalendars:
    return SessionCalendars.build(date(2026, 1, 1), date(2027, 3, 31))


EngineFactory = Callable[..., Engine]


@pytest.fixture
def make_engine(catalog: InstrumentCatalog, calendars: SessionCalendars) -> EngineFactory:
    """An engine with one account 'a' under the default ruleset, or ``rules`` merged over it."""

    def factory(rules: dict | None = None, accounts: tuple[str, ...] = ("a",)) -> Engine:
        ruleset: Ruleset = resolve_ruleset(rules)
        engine = Engine(catalog, calendars, default_ruleset=ruleset)
        for account in accounts:
            engine.open_account(account)
        return engine

    return factory
