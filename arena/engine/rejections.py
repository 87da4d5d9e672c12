"""Rejection: why the engine refused an order, as a machine-readable code and a message."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectionCode(StrEnum):
    EXCHANGE_CLOSED = "EXCHANGE_CLOSED"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    CONCENTRATION_LIMIT = "CONCENTRATION_LIMIT"
    LIQUIDITY_HALT = "LIQUIDITY_HALT"
    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    ORDER_TYPE_NOT_ALLOWED = "ORDER_TYPE_NOT_ALLOWED"
    TIME_IN_FORCE_NOT_ALLOWED = "TIME_IN_FORCE_NOT_ALLOWED"
    RATE_LIMITED = "RATE_LIMITED"
    INVALID_ORDER = "INVALID_ORDER"
    LOSS_LIMIT = "LOSS_LIMIT"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    CONTRACT_EXPIRED = "CONTRACT_EXPIRED"
    SHORT_SELLING_NOT_ALLOWED = "SHORT_SELLING_NOT_ALLOWED"
    POST_ONLY_WOULD_CROSS = "POST_ONLY_WOULD_CROSS"
    FOK_NOT_FILLABLE = "FOK_NOT_FILLABLE"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    NO_MARKET_DATA = "NO_MARKET_DATA"
    ACCOUNT_DISABLED = "ACCOUNT_DISABLED"
    EXTENDED_HOURS_NOT_ALLOWED = "EXTENDED_HOURS_NOT_ALLOWED"
    # The instrument is quoted in a currency whose conversion pair has no price yet, so it cannot be valued in USD.
    NO_CONVERSION_RATE = "NO_CONVERSION_RATE"


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectionCode
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
