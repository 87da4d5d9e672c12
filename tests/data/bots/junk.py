"""Hostile: answers every tick with seeded junk lines (bad JSON, wrong types, huge, unknown, binary) and then done.

Speaks the protocol by hand (no SDK) so that it can write anything at all.
"""

import json
import random
import sys

out = sys.stdout.buffer
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
JUNK = [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"type": 42}',
    b'{"type": "teleport"}',
    b'{"type": "order"}',
    b'{"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": -5}',
    b'{"type": "order", "symbol": "BTC-USD", "side": "buy", "qty": "NaN"}',
    b'{"type": "cancel"}',
    b'{"type": "subscribe", "symbols": "BTC-USD"}',
    b"\xff\xfe\xfd",
    b'{"type": "log", "message": ' + b'"' + b"y" * 70_000 + b'"}',
    b"",
]
for raw in sys.stdin.buffer:
    try:
        message = json.loads(raw)
    except ValueError:
        continue
    if message.get("type") in ("hello", "tick"):
        for _ in range(rng.randint(1, 4)):
            out.write(rng.choice(JUNK) + b"\n")
        out.write(json.dumps({"type": "done", "n": message.get("n", 0)}).encode() + b"\n")
        out.flush()
    elif message.get("type") == "end":
        break
