"""OpenOrder: one of the bot's orders that is still working, as ``Bot.open_orders`` keeps it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order from the moment it is sent until the host reports it filled, cancelled, expired or rejected.

    ``status`` is ``sent`` (not yet acknowledged), ``accepted`` or ``partial_fill``; ``order_id`` is the host's
    id, None until accepted. An order being cancelled stays here until the host confirms the cancel.
    """

    client_order_id: str
    symbol: str
    side: str
    qty: float
    order_type: str
    tif: str = "gtc"
    limit_price: float | None = None
    stop_price: float | None = None
    post_only: bool = False
    session: str = "regular"  # or "extended": may trade in pre-market and after-hours too
    order_id: int | None = None
    filled_qty: float = 0.0
    status: str = "sent"

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled_qty, 0.0)

    @property
    def signed_remaining(self) -> float:
        """What is left to fill, positive for a buy and negative for a sell."""
        return self.remaining if self.side == "buy" else -self.remaining

    # Bots written when open orders were the dicts sent (``order["symbol"]``) keep working.
    def __getitem__(self, key: str) -> Any:
        if key == "type":
            return "order"
        if key in _FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


_FIELDS = frozenset(f.name for f in fields(OpenOrder))
