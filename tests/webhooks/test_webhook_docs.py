"""docs/webhooks.md stays true: its verification snippet (the official standardwebhooks library) accepts real
deliveries to a loopback receiver and refuses forged ones, its test vector and example payloads are what the
code produces, and its conversion of a secret from before gives the key Arena signs with."""

from __future__ import annotations

import ast
import base64
import json
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from arena.runtime.protocol import margin_warning_message, system_status_message
from arena.webhooks import signing
from arena.webhooks.delivery import Deliverer, Endpoint, RetryPolicy
from arena.webhooks.events import events_from_bot_messages, tournament_finished_message
from arena.webhooks.signing import sign, standard_secret
from tests.webhooks.receiver import LOOPBACK, SECRET, Receiver, serve

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
ID = "evt_01KDVDRZ60HPKDJAMSFM912P2V"


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


def test_snippet_uses_the_official_library() -> None:
    imports = [node for node in ast.walk(ast.parse(snippet())) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [getattr(node, "module", None) for node in imports] == ["standardwebhooks.webhooks"]


def test_snippet_accepts_signed_and_rejects_forged(snippet_ns: dict[str, Any]) -> None:
    verify = snippet_ns["verify_arena_webhook"]
    body = b'{"id":"evt_x","type":"system.status"}'
    now = int(time.time())
    headers = signing.headers(SECRET, "evt_x", now, body)
    assert verify([SECRET], headers, body) == {"id": "evt_x", "type": "system.status"}
    new = signing.new_secret()
    rotating = signing.headers([new, SECRET], "evt_x", now, body)
    verify([SECRET], rotating, body)
    verify([new], rotating, body)
    verify([signing.new_secret(), SECRET], headers, body)  # the receiver's own rotation
    signature = headers["webhook-signature"]
    verify([SECRET], headers | {"webhook-signature": f"v2,abc {signature}"}, body)  # unknown versions skipped
    flipped = signature[:3] + ("A" if signature[3] != "A" else "B") + signature[4:]  # the MAC's first bits
    for secrets, forged, data in [
        ([SECRET], headers, body + b" "),  # tampered body
        ([SECRET], headers | {"webhook-timestamp": str(now + 1)}, body),
        ([SECRET], headers | {"webhook-id": "evt_y"}, body),
        ([SECRET], headers | {"webhook-signature": flipped}, body),
        ([signing.new_secret()], headers, body),  # wrong secret
        ([SECRET], signing.headers(SECRET, "evt_x", now - 301, body), body),  # stale
        ([SECRET], signing.headers(SECRET, "evt_x", now + 301, body), body),  # from the future
        ([SECRET], {k: v for k, v in headers.items() if k != "webhook-timestamp"}, body),
        ([SECRET], headers | {"webhook-timestamp": "soon"}, body),
        ([SECRET], headers | {"webhook-signature": "deadbeef"}, body),  # malformed: ValueError inside
        ([SECRET], headers | {"webhook-signature": "v1,!!!"}, body),
    ]:
        with pytest.raises(WebhookVerificationError):
            verify(secrets, forged, data)


class WallClock:
    def time(self) -> float:
        return time.time()


def test_snippet_as_a_real_receiver_of_real_deliveries(snippet_ns: dict[str, Any]) -> None:
    verify = snippet_ns["verify_arena_webhook"]
    receiver = Receiver(WallClock(), verifier=lambda secrets, headers, body, now: verify(secrets, headers, body))  # type: ignore[arg-type]
    receiver.script = [("process_then", 503)]
    (event,) = events_from_bot_messages("cup", "bot-a", [system_status_message("open", 1_767_225_600_000)])
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, jitter=False)
    before = "whsec_Fq3-kD_zN0m7y8Wq1o2PbX4vR9sT6uLcAeHgJiKlMn0"  # a secret from before, as stored
    with serve(receiver), Deliverer(policy, addresses=LOOPBACK, rng=random.Random(1)) as d:
        assert d.deliver(Endpoint(receiver.url, (SECRET,)), event).ok  # 503 after processing, then a retry
        assert not d.deliver(Endpoint(receiver.url, (signing.new_secret(),)), event).ok
        # The doc's conversion of a secret from before, given to the library, verifies what Arena sends with it.
        receiver.secrets = ["whsec_" + base64.b64encode(before.encode()).decode()]
        assert d.deliver(Endpoint(receiver.url, (standard_secret(before),)), event).ok
    verdicts = [r.verdict for r in receiver.requests]
    assert verdicts == ["processed", "duplicate", "bad_signature:WebhookVerificationError", "duplicate"]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {event.id}


def test_the_documented_test_vector() -> None:
    text = doc()
    vector = re.search(
        r"Secret `(whsec_[A-Za-z0-9+/=]+)`, `webhook-id: (evt_\w+)`,\s*`webhook-timestamp: (\d+)`"
        r".*?`(v1,[A-Za-z0-9+/=]+)`",
        text,
        re.S,
    )
    assert vector is not None
    secret, msg_id, timestamp, signature = vector.group(1), vector.group(2), int(vector.group(3)), vector.group(4)
    body = next(line for line in text.splitlines() if line.startswith('{"bot"') and '"order.filled"' in line)
    assert json.loads(body)["id"] == msg_id == ID
    assert sign(secret, msg_id, timestamp, body.encode()) == signature
    # The request example in the doc carries the same id, timestamp and signature.
    for line in (f"webhook-id: {msg_id}", f"webhook-timestamp: {timestamp}", f"webhook-signature: {signature}"):
        assert f"\n{line}\n" in text


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
    # achievement.earned comes from a tournament's awards, not from bot messages: tests/service/test_awards.py
    # checks its example against what the awards queue.
    documented = {b["type"]: b for b in blocks if b["type"] != "achievement.earned"}
    assert documented == produced
