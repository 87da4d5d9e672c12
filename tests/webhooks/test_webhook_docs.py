"""docs/webhooks.md stays true: its verification snippet runs (stdlib only), its test vector and example
payloads are what the code produces."""

from __future__ import annotations

import ast
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from arena.runtime.protocol import margin_warning_message, system_status_message
from arena.webhooks.delivery import Deliverer, Endpoint, RetryPolicy
from arena.webhooks.events import events_from_bot_messages, tournament_finished_message
from arena.webhooks.signing import sign, signature_header
from tests.webhooks.receiver import LOOPBACK, SECRET, FakeClock, Receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
TS = 1_767_225_600


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def snippet() -> str:
    text = doc()
    marker = text.index("<!-- verify-snippet")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, marker)
    assert match is not None
    return match.group(1)


@pytest.fixture(scope="module")
def snippet_ns() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "contestant_code"}
    exec(compile(snippet(), str(DOC), "exec"), ns)
    return ns


def test_snippet_uses_only_the_standard_library() -> None:
    modules = set()
    for node in ast.walk(ast.parse(snippet())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules and modules <= sys.stdlib_module_names


def test_snippet_accepts_signed_and_rejects_forged(snippet_ns: dict[str, Any]) -> None:
    verify, invalid = snippet_ns["verify_arena_webhook"], snippet_ns["InvalidWebhook"]
    body = b'{"id":"evt_x","type":"system.status"}'
    header = sign(SECRET, TS, body)
    assert verify([SECRET], str(TS), header, body, now=TS + 299) == {"id": "evt_x", "type": "system.status"}
    rotating = signature_header([b"whsec_new", SECRET], TS, body)
    verify([SECRET], str(TS), rotating, body, now=TS)
    verify([b"whsec_new"], str(TS), rotating, body, now=TS)
    verify([SECRET], str(TS), f"v2=abc, {header}", body, now=TS)  # unknown schemes skipped
    for args in [
        ([SECRET], str(TS), header, body + b" ", TS),  # tampered body
        ([SECRET], str(TS + 1), header, body, TS),  # tampered timestamp
        ([SECRET], str(TS), header[:-1] + ("0" if header[-1] != "0" else "1"), body, TS),  # tampered signature
        ([b"other"], str(TS), header, body, TS),  # wrong secret
        ([SECRET], str(TS), header, body, TS + 301),  # stale
        ([SECRET], str(TS), header, body, TS - 301),  # from the future
        ([SECRET], None, header, body, TS),
        ([SECRET], str(TS), None, body, TS),
        ([SECRET], "12.5", header, body, TS),
        ([SECRET], str(TS), "v1=ü" + header[4:], body, TS),  # non-ASCII must not crash compare_digest
        ([SECRET], str(TS), "deadbeef", body, TS),
    ]:
        with pytest.raises(invalid):
            verify(*args[:4], now=args[4])


def test_snippet_as_a_real_receiver(snippet_ns: dict[str, Any], receiver: Receiver, clock: FakeClock) -> None:
    verify = snippet_ns["verify_arena_webhook"]
    receiver.verifier = lambda secrets, ts, sig, body, now: verify(secrets, ts, sig, body, now=now)
    receiver.script = [("process_then", 503)]
    (event,) = events_from_bot_messages("cup", "bot-a", [system_status_message("open", TS * 1000, venue="NYSE")])
    policy = RetryPolicy(max_attempts=3, jitter=False)
    with Deliverer(policy, addresses=LOOPBACK, sleep=clock.sleep, clock=clock.time, rng=random.Random(1)) as d:
        assert d.deliver(Endpoint(receiver.url, (SECRET,)), event).ok
        assert not d.deliver(Endpoint(receiver.url, (b"whsec_wrong",)), event).ok
    assert [r.verdict for r in receiver.requests] == ["processed", "duplicate", "bad_signature:InvalidWebhook"]


def test_the_documented_test_vector() -> None:
    text = doc()
    vector = re.search(r"Secret `(\w+)`.*?`X-Arena-Timestamp: (\d+)`.*?`(v1=[0-9a-f]{64})`", text, re.S)
    assert vector is not None
    secret, timestamp, signature = vector.group(1).encode(), int(vector.group(2)), vector.group(3)
    body = next(line for line in text.splitlines() if line.startswith('{"bot"') and '"order.filled"' in line)
    assert sign(secret, timestamp, body.encode()) == signature
    # The request example in the doc carries the same timestamp and signature.
    assert f"X-Arena-Timestamp: {timestamp}" in text and f"X-Arena-Signature: {signature}" in text


def test_example_payloads_are_what_the_code_produces() -> None:
    line = {"max_drawdown": 0.0, "status": "finished"}
    standings = [
        line | {"bot": "alpha", "rank": 1, "score": 1043210.5, "nav": 1051000.0, "max_drawdown": 0.0074},
        line | {"bot": "momentum-7", "rank": 2, "score": 1012000.0, "nav": 1030000.0, "max_drawdown": 0.0175},
    ]
    fill = {"type": "order_update", "order_id": 17, "client_order_id": "buy-1", "symbol": "SPY", "side": "buy"}
    messages = [
        {**fill, "status": "partial_fill", "ts": 1767225660000, "qty": 40.0, "price": 587.12, "fee": 0.47}
        | {"filled_qty": 40.0, "remaining": 60.0},
        {**fill, "status": "filled", "ts": 1767225720000, "qty": 60.0, "price": 587.15, "fee": 0.7}
        | {"filled_qty": 100.0, "remaining": 0.0},
        margin_warning_message(1700000.0, 2000000.0, 1767225780000, 1000000.0),
        system_status_message("halt", 1767225840000, symbol="SPY", reason="volatility"),
        tournament_finished_message(1767229200000, standings),
    ]
    produced = {e.type: e.as_dict() for e in events_from_bot_messages("spring-cup", "momentum-7", messages)}
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", doc(), re.S)]
    documented = {b["type"]: b for b in blocks}
    assert documented == produced
