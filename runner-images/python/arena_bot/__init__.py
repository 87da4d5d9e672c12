"""arena_bot: the Arena bot SDK (standard library only).

from arena_bot import Bot

class BuyAndHold(Bot):
    symbols = ("SPY",)

    def on_tick(self, ts):
        if not self.portfolio.position("SPY"):
            self.buy("SPY", 100)
"""

from arena_bot.book import Book, SequenceGap
from arena_bot.bot import PROTOCOL_VERSION, Bot, Fill, OrderUpdate
from arena_bot.errors import (
    AccountDisabledError,
    ArenaError,
    ConcentrationLimitError,
    ContractExpiredError,
    DuplicateClientOrderIdError,
    ExchangeClosedError,
    FokNotFillableError,
    InsufficientMarginError,
    InvalidOrderError,
    LiquidityHaltError,
    LossLimitError,
    NoMarketDataError,
    OrderRejectedError,
    OrderTypeNotAllowedError,
    PostOnlyWouldCrossError,
    RateLimitedError,
    ShortSellingNotAllowedError,
    SymbolNotAllowedError,
    TimeInForceNotAllowedError,
    UnknownOrderError,
    UnknownSymbolError,
    error_for,
)
from arena_bot.portfolio import Holding, Portfolio

__all__ = [
    "PROTOCOL_VERSION",
    "AccountDisabledError",
    "ArenaError",
    "Book",
    "Bot",
    "ConcentrationLimitError",
    "ContractExpiredError",
    "DuplicateClientOrderIdError",
    "ExchangeClosedError",
    "Fill",
    "FokNotFillableError",
    "Holding",
    "InsufficientMarginError",
    "InvalidOrderError",
    "LiquidityHaltError",
    "LossLimitError",
    "NoMarketDataError",
    "OrderRejectedError",
    "OrderTypeNotAllowedError",
    "OrderUpdate",
    "Portfolio",
    "PostOnlyWouldCrossError",
    "RateLimitedError",
    "SequenceGap",
    "ShortSellingNotAllowedError",
    "SymbolNotAllowedError",
    "TimeInForceNotAllowedError",
    "UnknownOrderError",
    "UnknownSymbolError",
    "error_for",
]
