"""Redis stream replies in the one shape Arena reads them.

redis-py types a reply for every way a client may be set up: RESP2 lists or RESP3 maps for a read of several
streams, and None for an entry deleted while pending (XCLAIM, XREADGROUP). Arena reads with XRANGE, XREVRANGE
and XREAD, whose entries are never None, over RESP2 (the default) or RESP3; ids and fields are bytes, or str
from a client with ``decode_responses``. These functions read either protocol's shape and state the entry type
once, here, instead of at every read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, cast

if TYPE_CHECKING:
    from redis.typing import StreamRangeResponse, XReadResponse

Fields: TypeAlias = dict[bytes | str, bytes | str]
Entry: TypeAlias = tuple[bytes | str, Fields]


def entries(reply: StreamRangeResponse | None) -> list[Entry]:
    """An XRANGE or XREVRANGE reply: (id, fields), oldest first (newest first for XREVRANGE)."""
    return cast("list[Entry]", reply or [])  # never a None entry: only pending-entry reads have those


def streams(reply: XReadResponse | None) -> list[tuple[bytes | str, list[Entry]]]:
    """An XREAD reply, (stream key, its entries) for each stream that has new ones; [] when it timed out."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3: {key: entries}, or {key: [entries]} from some redis-py versions
        return [(key, cast("list[Entry]", value[0] if value and isinstance(value[0], list) else value))
                for key, value in reply.items()]  # fmt: skip
    return [(key, cast("list[Entry]", found)) for key, found in reply]  # RESP2: [[key, entries], ...]


def entry_field(fields: Fields, name: str) -> bytes | str:
    """One field of an entry, whether the client decodes replies or not (KeyError if it is missing)."""
    raw = name.encode()
    return fields[raw] if raw in fields else fields[name]
