"""Spectator connections as the change hub writes to them: each leaderboard change, encoded once, is written as the
same bytes straight to every spectator's transport, with no task or generator per spectator on the way.

ASGI hands an app only ``send``, one awaited call per message per connection. Under uvicorn, the ``send`` it passes
is a method of the connection's own object (its WebSocket protocol, or its HTTP request cycle), which holds the
connection's asyncio transport; ``ServerSend``, the outermost middleware, keeps that ``send`` in the scope. A
WebSocket then takes the change's frame as is; a server-sent event stream takes it as one chunk, where uvicorn
chunks the body (its httptools cycle says so; the h11 one and HTTP/1.0 do not). Anywhere else a spectator gets a
writer task of its own through ASGI ``send`` (``Relayed``), bounded the same way: slower, and still correct.

A spectator's unsent bytes are bounded (``BUFFER_BYTES``, beyond what the kernel holds): one further behind is
dropped at once, never waited for, and resumes from the last id it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.service.hub import ChangeHub, End
from arena.service.spectator_frames import Frames

SERVER_SEND = "arena.server_send"  # the scope key holding the server's own `send`
BUFFER_BYTES = 128 * 1024  # unsent bytes a spectator may have waiting in its transport; more and it is dropped
CLOSE_S = 5.0  # for the closing message to go out to a spectator that stopped reading; then the connection is cut


class ServerSend:
    """Keeps the server's own ``send`` in the scope (``SERVER_SEND``), beneath every middleware's wrapper."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


class Transport(Protocol):
    """What a spectator's writes need of an asyncio (or uvloop) transport."""

    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def get_write_buffer_size(self) -> int: ...
    def abort(self) -> None: ...


def _owner(scope: Scope) -> Any:
    """The object whose method is the server's ``send`` (uvicorn: the connection's protocol or request cycle)."""
    return getattr(scope.get(SERVER_SEND), "__self__", None)


def _transport(owner: Any) -> Transport | None:
    transport = getattr(owner, "transport", None)
    needed = ("write", "is_closing", "get_write_buffer_size", "abort")
    return transport if all(callable(getattr(transport, name, None)) for name in needed) else None


class _Sink:
    """What every spectator sink shares: the future its connection waits on until the hub ends its stream."""

    def __init__(self, transport: Transport | None) -> None:
        self.transport = transport
        self.ended: asyncio.Future[End] = asyncio.get_running_loop().create_future()

    def deliver(self, frames: Frames) -> bool:
        raise NotImplementedError

    def end(self, why: End) -> None:
        if not self.ended.done():
            self.ended.set_result(why)

    def stop(self) -> None:
        """Called once the hub has forgotten the sink."""

    def _write(self, data: bytes) -> bool:
        transport = self.transport
        assert transport is not None
        if transport.is_closing():
            return True  # the client left: its connection sees the disconnect and leaves the hub
        if transport.get_write_buffer_size() > BUFFER_BYTES:
            return False
        transport.write(data)
        return True


class WebSocketWire(_Sink):
    """Writes each change's WebSocket frame to the connection's transport."""

    def deliver(self, frames: Frames) -> bool:
        return self._write(frames.websocket)


class EventWire(_Sink):
    """Writes each change's event, as one chunk of the chunked body, to the connection's transport."""

    def deliver(self, frames: Frames) -> bool:
        return self._write(frames.event_chunk)


class Relayed(_Sink):
    """Through ASGI ``send``, by a writer task of its own: where the transport is out of reach."""

    def __init__(self, send: Callable[[Frames], Awaitable[None]], size: Callable[[Frames], int]) -> None:
        super().__init__(None)
        self.send, self.size = send, size
        self.queue: deque[Frames] = deque()
        self.queued = 0
        self.wake = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._relay())

    def deliver(self, frames: Frames) -> bool:
        if self.queued > BUFFER_BYTES:
            return False
        self.queue.append(frames)
        self.queued += self.size(frames)
        self.wake.set()
        return True

    async def _relay(self) -> None:
        with contextlib.suppress(Exception):  # the client left: its connection sees the disconnect
            while True:
                await self.wake.wait()
                self.wake.clear()
                while self.queue:
                    frames = self.queue.popleft()
                    self.queued -= self.size(frames)
                    await self.send(frames)

    def stop(self) -> None:
        self.task.cancel()


def websocket_sink(scope: Scope, send: Send) -> _Sink:
    """The sink of an accepted WebSocket connection (``send`` is the app's, for the fallback)."""
    transport = _transport(_owner(scope))
    if transport is not None:
        return WebSocketWire(transport)
    return Relayed(lambda f: send({"type": "websocket.send", "text": f.text}), lambda f: len(f.websocket))


def event_sink(scope: Scope, send: Send) -> _Sink:
    """The sink of an event stream whose response has started (``send`` is the app's, for the fallback)."""
    owner = _owner(scope)
    transport = _transport(owner)
    if transport is not None and getattr(owner, "chunked_encoding", None) is True:
        return EventWire(transport)
    return Relayed(lambda f: send({"type": "http.response.body", "body": f.event, "more_body": True}),
                   lambda f: len(f.event))  # fmt: skip


async def watch(hub: ChangeHub, tournament: str, sink: _Sink, after: str | None, receive: Receive) -> End | None:
    """Serve one spectator until the hub ends its stream (why) or the client leaves (None). ``HubFull`` if it is
    over a cap. What a spectator sends is read and dropped (the server bounds each message's size)."""
    try:
        await hub.join(tournament, sink, after)
        while True:
            message = asyncio.ensure_future(receive())
            await asyncio.wait((message, sink.ended), return_when=asyncio.FIRST_COMPLETED)
            if sink.ended.done():
                message.cancel()
                return sink.ended.result()
            if _left(message.result()):
                return None
    finally:
        hub.leave(tournament, sink)
        sink.stop()


def _left(message: Message) -> bool:
    return message["type"] in ("websocket.disconnect", "http.disconnect")


async def finish(sink: _Sink, last: Awaitable[None]) -> None:
    """Send the stream's last message (a close frame, the body's end), or cut the connection if the spectator does
    not read it within ``CLOSE_S``."""
    try:
        await asyncio.wait_for(last, CLOSE_S)
    except TimeoutError:
        if sink.transport is not None:
            sink.transport.abort()
    except Exception:  # the client left meanwhile: nothing is left to end
        return
