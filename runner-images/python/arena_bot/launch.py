"""``main(MyBot)``: one entry point for a bot file, wherever it runs.

In a tournament's sandbox and under ``arena backtest`` the bot speaks protocol v1 over stdio (:func:`run`); on a
contestant's own machine, with ``ARENA_GATEWAY`` (the gateway's URL for this bot), ``ARENA_KEY`` and
``ARENA_SECRET`` set, it connects to the bot gateway instead (:func:`connect`). The same file runs everywhere.
"""

from __future__ import annotations

import os
import sys

from arena_bot.bot import Bot
from arena_bot.remote import PATIENCE_S, connect
from arena_bot.runner import run

GATEWAY, KEY, SECRET = "ARENA_GATEWAY", "ARENA_KEY", "ARENA_SECRET"
PATIENCE = "ARENA_RECONNECT_S"  # how long a dropped remote bot tries to reconnect (seconds; connect's default)


def main(bot: type[Bot] | Bot, *, raise_errors: bool = False) -> int:
    """Run ``bot`` over stdio, or remotely when ``ARENA_GATEWAY`` is set; returns the exit status. With
    ``ARENA_GATEWAY`` but no ``ARENA_KEY`` or ``ARENA_SECRET``, says which is missing and returns 2."""
    gateway = os.environ.get(GATEWAY)
    if not gateway:
        return run(bot, raise_errors=raise_errors)
    missing = [name for name in (KEY, SECRET) if not os.environ.get(name)]
    if missing:
        print(f"arena_bot: {GATEWAY} is set but {' and '.join(missing)} is not: set the API key and secret "
              "the site showed when the remote key was made", file=sys.stderr)  # fmt: skip
        return 2
    try:
        patience = float(os.environ.get(PATIENCE) or PATIENCE_S)
    except ValueError:
        print(f"arena_bot: {PATIENCE} must be a number of seconds", file=sys.stderr)
        return 2
    return connect(gateway, os.environ[KEY], os.environ[SECRET], bot, raise_errors=raise_errors, patience_s=patience)
