"""Hostile: writes over-long lines. Tick 1: three lines of 200 KB (each a valid JSON log message, over protocol
v1's 64 KiB) and reports on stderr the errors it gets back; from tick 2: 40 lines of 256 KiB a tick (10 MiB)."""

import json
import sys


def send(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


tick = 0
for raw in sys.stdin.buffer:
    message = json.loads(raw)
    kind = message.get("type")
    if kind == "error":
        print(f"refused at tick {tick}: {message.get('code')}", file=sys.stderr, flush=True)
    elif kind == "hello":
        send(b'{"type": "done", "n": 0}\n')
    elif kind == "tick":
        n = tick = message["n"]
        size, count = (200_000, 3) if n == 1 else (256 * 1024, 40)
        line = json.dumps({"type": "log", "message": "x" * size}).encode() + b"\n"
        try:
            send(line * count + json.dumps({"type": "done", "n": n}).encode() + b"\n")
        except BrokenPipeError:
            break
    elif kind == "end":
        break
