"""Hostile: answers hello with 20,000 lines that are not JSON before its 'done', then plays along (a smoke test
passes it, with a log entry per bad line)."""

import json
import sys

for raw in sys.stdin:
    message = json.loads(raw)
    if message.get("type") == "hello":
        sys.stdout.write("this is not JSON\n" * 20_000)
    if message.get("type") in ("hello", "tick"):
        print(json.dumps({"type": "done", "n": message.get("n", 0)}), flush=True)
    elif message.get("type") == "end":
        break
