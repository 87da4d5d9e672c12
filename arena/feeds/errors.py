"""FeedError: why a market data source cannot be used, as a machine-readable code and a message."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class FeedErrorCode(StrEnum):
    # The feed specification or its parameters.
    BAD_SPEC = "BAD_SPEC"
    BAD_PARAMETER = "BAD_PARAMETER"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    UNKNOWN_VENUE = "UNKNOWN_VENUE"
    CALENDAR = "CALENDAR"
    NO_CONVERSION_DATA = "NO_CONVERSION_DATA"  # a symbol quoted in another currency, without its conversion pair
    # The file as a whole.
    NO_SUCH_FILE = "NO_SUCH_FILE"
    UNREADABLE = "UNREADABLE"
    ENCODING = "ENCODING"
    EMPTY_FILE = "EMPTY_FILE"
    BAD_HEADER = "BAD_HEADER"
    MISSING_COLUMN = "MISSING_COLUMN"
    # One row.
    BAD_CSV = "BAD_CSV"
    WRONG_FIELD_COUNT = "WRONG_FIELD_COUNT"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    BAD_NUMBER = "BAD_NUMBER"
    CROSSED_QUOTE = "CROSSED_QUOTE"
    OFF_TICK = "OFF_TICK"
    BAD_OHLC = "BAD_OHLC"
    OUT_OF_ORDER = "OUT_OF_ORDER"
    DUPLICATE_ROW = "DUPLICATE_ROW"
    NOT_A_SESSION = "NOT_A_SESSION"


class FeedError(ValueError):
    """A feed cannot be opened or read. ``path`` and ``line`` (1-based) locate the culprit when known."""

    def __init__(
        self, code: FeedErrorCode, message: str, path: str | Path | None = None, line: int | None = None
    ) -> None:
        self.code = FeedErrorCode(code)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.code.value}: {self.message}"

    def __reduce__(self) -> tuple[type[FeedError], tuple[FeedErrorCode, str, str | None, int | None]]:
        # Keeps the fields when the error crosses a process boundary (Celery, multiprocessing).
        return (type(self), (self.code, self.message, self.path, self.line))

    def as_dict(self) -> dict[str, str | int | None]:
        return {"code": self.code.value, "message": self.message, "path": self.path, "line": self.line}
