"""A loopback Socket Mode endpoint: the WebSocket Slack hands out from apps.connections.open.

It says hello when a client connects, sends envelopes (slash commands, interactions) and collects what the
client answers: acknowledgements carry the envelope_id and, for slash commands, the reply payload."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import uuid
from typing import Any, Self

from aiohttp import WSMsgType, web


class FakeSocketMode:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._sockets: list[web.WebSocketResponse] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-socket-mode", daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True) -> str:
        """Deliver one envelope to the connected client; returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        asyncio.run_coroutine_threadsafe(self._sockets[-1].send_json(envelope), self._loop).result(timeout=10)
        return envelope_id

    def answer_to(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            answer = self.answers.get(timeout=timeout)
            if answer.get("envelope_id") == envelope_id:
                return answer

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id=A0SANDBOX"

    async def _shutdown(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings itself
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0SANDBOX"}})
        self.connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.answers.put(json.loads(msg.data))
        return ws
