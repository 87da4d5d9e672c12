"""Hostile: floods the host with valid log lines (bounded at 200,000) instead of finishing its tick."""

import json
import sys

for raw in sys.stdin.buffer:
    message = json.loads(raw)
    if message.get("type") == "tick":
        line = json.dumps({"type": "log", "message": "spam"}).encode() + b"\n"
        try:
            for _ in range(200_000):
                sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            break
    elif message.get("type") == "hello":
        sys.stdout.buffer.write(b'{"type": "done", "n": 0}\n')
        sys.stdout.buffer.flush()
