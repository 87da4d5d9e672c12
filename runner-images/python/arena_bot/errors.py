"""Typed errors, one per rejection code, so a bot can ``except InsufficientMarginError``."""

from __future__ import annotations


class ArenaError(Exception):
    """Base of every error the SDK raises or reports. ``code`` is the host's machine-readable code."""

    code = "ERROR"

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class OrderRejectedError(ArenaError):
    """The host refused an order; subclasses name the reason."""

    code = "REJECTED"


def _rejection(name: str, code: str, doc: str) -> type[OrderRejectedError]:
    return type(name, (OrderRejectedError,), {"code": code, "__doc__": doc})


ExchangeClosedError = _rejection("ExchangeClosedError", "EXCHANGE_CLOSED", "The venue's session is closed.")
InsufficientMarginError = _rejection(
    "InsufficientMarginError", "INSUFFICIENT_MARGIN", "The order would breach the leverage cap."
)
ConcentrationLimitError = _rejection(
    "ConcentrationLimitError", "CONCENTRATION_LIMIT", "One position would exceed its share of NAV."
)
LiquidityHaltError = _rejection("LiquidityHaltError", "LIQUIDITY_HALT", "The visible book cannot absorb the order.")
SymbolNotAllowedError = _rejection("SymbolNotAllowedError", "SYMBOL_NOT_ALLOWED", "Not tradeable in this tournament.")
OrderTypeNotAllowedError = _rejection(
    "OrderTypeNotAllowedError", "ORDER_TYPE_NOT_ALLOWED", "This order type is not allowed here."
)
TimeInForceNotAllowedError = _rejection(
    "TimeInForceNotAllowedError", "TIME_IN_FORCE_NOT_ALLOWED", "This time in force is not allowed here."
)
RateLimitedError = _rejection("RateLimitedError", "RATE_LIMITED", "Too many orders too fast.")
InvalidOrderError = _rejection("InvalidOrderError", "INVALID_ORDER", "The order is malformed.")
LossLimitError = _rejection("LossLimitError", "LOSS_LIMIT", "The daily loss limit was reached.")
UnknownSymbolError = _rejection("UnknownSymbolError", "UNKNOWN_SYMBOL", "No such instrument.")
ContractExpiredError = _rejection("ContractExpiredError", "CONTRACT_EXPIRED", "The futures contract has expired.")
ShortSellingNotAllowedError = _rejection(
    "ShortSellingNotAllowedError", "SHORT_SELLING_NOT_ALLOWED", "Short selling is off in this tournament."
)
PostOnlyWouldCrossError = _rejection(
    "PostOnlyWouldCrossError", "POST_ONLY_WOULD_CROSS", "A post-only order would have taken liquidity."
)
FokNotFillableError = _rejection("FokNotFillableError", "FOK_NOT_FILLABLE", "A fill-or-kill order could not fill.")
DuplicateClientOrderIdError = _rejection(
    "DuplicateClientOrderIdError", "DUPLICATE_CLIENT_ORDER_ID", "An open order already uses that client id."
)
UnknownOrderError = _rejection("UnknownOrderError", "UNKNOWN_ORDER", "No such open order.")
NoMarketDataError = _rejection("NoMarketDataError", "NO_MARKET_DATA", "No book for that symbol yet.")
AccountDisabledError = _rejection("AccountDisabledError", "ACCOUNT_DISABLED", "This account may no longer trade.")
ExtendedHoursNotAllowedError = _rejection(
    "ExtendedHoursNotAllowedError", "EXTENDED_HOURS_NOT_ALLOWED",
    "The order may not trade in extended hours here (the ruleset, the venue or the asset class).",
)  # fmt: skip
NoConversionRateError = _rejection(
    "NoConversionRateError", "NO_CONVERSION_RATE",
    "The instrument's quote currency has no conversion rate to USD yet (its conversion pair has no price).",
)  # fmt: skip

_BY_CODE: dict[str, type[OrderRejectedError]] = {
    cls.code: cls
    for cls in (
        ExchangeClosedError, InsufficientMarginError, ConcentrationLimitError, LiquidityHaltError,
        SymbolNotAllowedError, OrderTypeNotAllowedError, TimeInForceNotAllowedError, RateLimitedError,
        InvalidOrderError, LossLimitError, UnknownSymbolError, ContractExpiredError, ShortSellingNotAllowedError,
        PostOnlyWouldCrossError, FokNotFillableError, DuplicateClientOrderIdError, UnknownOrderError,
        NoMarketDataError, AccountDisabledError, ExtendedHoursNotAllowedError, NoConversionRateError,
    )
}  # fmt: skip


def error_for(code: str, message: str) -> OrderRejectedError:
    """The typed error for a rejection code (a plain OrderRejectedError for codes this SDK predates)."""
    return _BY_CODE.get(code, OrderRejectedError)(message, code)
