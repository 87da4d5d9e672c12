"""Hostile bodies: oversized, growing past the cap while streaming, and large anonymous uploads."""

from __future__ import annotations

import socket
import time

from arena.uploads.limits import MiB

CHUNK = 64 * 1024


def read_answer(conn: socket.socket) -> bytes:
    """The answer's head and the start of its body (until the envelope is in, or the server closes)."""
    answer = b""
    while b'"}}' not in answer and (data := conn.recv(4096)):
        answer += data
    return answer


def test_an_oversized_content_length_is_413_at_once(api):
    server = api()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 2147483648\r\n\r\n")  # fmt: skip  (and not one byte of the body)
        answer = read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 413") and b'"BODY_TOO_LARGE"' in answer


def test_a_chunked_body_growing_past_the_cap_is_cut_off_with_413(api):
    """2 MiB sent chunked (no Content-Length) to a route capped at 1 MiB."""
    server = api()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        try:
            for _ in range(32):
                conn.sendall(b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n")
        except OSError:
            pass  # closed by the server after its answer
        answer = read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 413") and b'"BODY_TOO_LARGE"' in answer


def test_an_anonymous_upload_is_401_before_its_body_is_read(api):
    """A 20 MiB multipart upload without a key: the answer comes after the headers, not after the body."""
    server = api()
    boundary = b"x0x0x0"
    head = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="bot.py"\r\n'
            b"Content-Type: text/x-python\r\n\r\n")  # fmt: skip
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"POST /api/v1/bots/x/versions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n")  # fmt: skip
        conn.sendall(b"%x\r\n" % len(head) + head + b"\r\n")
        conn.sendall(b"%x\r\n" % CHUNK + b"#" * CHUNK + b"\r\n")  # 64 KiB of the 20 MiB
        sent = len(head) + CHUNK
        conn.settimeout(5)
        started = time.monotonic()
        answer = read_answer(conn)  # today's answer comes without the other 19.9 MiB being sent
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"UNAUTHENTICATED"' in answer and time.monotonic() - started < 5 and sent < 20 * MiB // 100


def test_an_upload_over_its_cap_is_413_and_a_normal_one_is_not(api, http):
    server = api()
    big = http.post(f"{server.url}/api/v1/bots/x/versions", files={"file": ("bot.py", b"#" * (6 * MiB))})
    assert big.status_code == 413 and big.json()["error"]["code"] == "BODY_TOO_LARGE"
    small = http.post(f"{server.url}/api/v1/bots/x/versions", files={"file": ("bot.py", b"pass\n")})
    assert small.status_code == 401 and small.json()["error"]["code"] == "UNAUTHENTICATED"
