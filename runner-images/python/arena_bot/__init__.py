"""arena_bot: the Arena bot SDK (standard library only).

from arena_bot import Bot, run

class BuyAndHold(Bot):
    symbols = ("SPY",)

    def on_tick(self, ts):
        if not self.portfolio.position("SPY"):
            self.buy("SPY", 100)

if __name__ == "__main__":
    run(BuyAndHold)  # speaks protocol v1 over stdio in a tournament; `arena backtest` ignores this
"""

from arena_bot.book import Book, SequenceGap
from arena_bot.bot import PROTOCOL_VERSION, Bot, Fill, MarginWarning, OrderUpdate, Status, Ticker, Trade
from arena_bot.errors import (
    AccountDisabledError,
    ArenaError,
    ConcentrationLimitError,
    ContractExpiredError,
    DuplicateClientOrderIdError,
    ExchangeClosedError,
    ExtendedHoursNotAllowedError,
    FokNotFillableError,
    InsufficientMarginError,
    InvalidOrderError,
    LiquidityHaltError,
    LossLimitError,
    NoConversionRateError,
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
from arena_bot.history import Bar
from arena_bot.instruments import Instrument
from arena_bot.launch import main
from arena_bot.orders import OpenOrder
from arena_bot.portfolio import Holding, Portfolio
from arena_bot.remote import GatewayRefused, connect
from arena_bot.runner import run

__all__ = [
    "PROTOCOL_VERSION",
    "AccountDisabledError",
    "ArenaError",
    "Bar",
    "Book",
    "Bot",
    "ConcentrationLimitError",
    "ContractExpiredError",
    "DuplicateClientOrderIdError",
    "ExchangeClosedError",
    "ExtendedHoursNotAllowedError",
    "Fill",
    "FokNotFillableError",
    "GatewayRefused",
    "Holding",
    "Instrument",
    "InsufficientMarginError",
    "InvalidOrderError",
    "LiquidityHaltError",
    "LossLimitError",
    "MarginWarning",
    "NoConversionRateError",
    "NoMarketDataError",
    "OpenOrder",
    "OrderRejectedError",
    "OrderTypeNotAllowedError",
    "OrderUpdate",
    "Portfolio",
    "PostOnlyWouldCrossError",
    "RateLimitedError",
    "SequenceGap",
    "ShortSellingNotAllowedError",
    "Status",
    "SymbolNotAllowedError",
    "Ticker",
    "TimeInForceNotAllowedError",
    "Trade",
    "UnknownOrderError",
    "UnknownSymbolError",
    "connect",
    "error_for",
    "main",
    "run",
]
