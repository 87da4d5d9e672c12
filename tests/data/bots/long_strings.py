"""Hostile: orders and cancels with strings longer than the record's columns (a 5,000-character symbol, a
200-character client order id, a NUL); reports on stderr the errors it gets back."""

import json
import sys

LINES = [
    {"type": "order", "symbol": "S" * 5000, "side": "buy", "qty": 1},
    {"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": 0.01, "client_order_id": "c" * 200},
    {"type": "order", "symbol": "BTC\x00USD", "side": "buy", "qty": 0.01},
    {"type": "cancel", "client_order_id": "x\x00"},
    {"type": "order", "symbol": "BTC-USD", "side": "b" * 500, "qty": 0.01},
]

for raw in sys.stdin.buffer:
    message = json.loads(raw)
    kind = message.get("type")
    if kind == "error":
        print(f"refused: {message.get('code')}", file=sys.stderr, flush=True)
    elif kind in ("hello", "tick"):
        n = message["n"] if kind == "tick" else 0
        out = [json.dumps(line) for line in LINES] if n == 1 else []
        sys.stdout.write("\n".join([*out, json.dumps({"type": "done", "n": n})]) + "\n")
        sys.stdout.flush()
    elif kind == "end":
        break
