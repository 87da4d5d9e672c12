"""Hostile: cancels 900 orders that do not exist every tick (under the line budget, far over the order-rate cap)."""

import json
import sys

for raw in sys.stdin.buffer:
    message = json.loads(raw)
    if message.get("type") in ("hello", "tick"):
        n = message["n"] if message["type"] == "tick" else 0
        lines = [json.dumps({"type": "cancel", "client_order_id": f"ghost-{n}-{i}"}) for i in range(900)]
        lines.append(json.dumps({"type": "done", "n": n}))
        try:
            sys.stdout.buffer.write(("\n".join(lines) + "\n").encode())
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            break
    elif message.get("type") == "end":
        break
