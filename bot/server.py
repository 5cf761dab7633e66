"""HTTP front: Slack events, health, readiness and the CI API, served by waitress (not Bolt's dev server)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy import text
from waitress import wasyncore
from waitress.server import TcpWSGIServer, create_server

from bot.alerts.inbound import pagerduty_blueprint
from bot.api import api_blueprint
from bot.context import AppContext

log = logging.getLogger(__name__)
AUTH_TTL_S = 30.0


def create_web_app(ctx: AppContext, bolt: App | None) -> Flask:
    web = Flask("deploybot")
    handler = SlackRequestHandler(bolt) if bolt is not None else None
    auth_cache: dict[str, Any] = {"at": -1e9, "ok": False, "error": "not checked"}
    lock = threading.Lock()

    @web.post("/slack/events")
    def slack_events() -> Any:
        if handler is None:
            return Response("Slack is not configured (Socket Mode)", status=404)
        try:
            return handler.handle(request)
        except Exception:
            # Bolt parses the body before checking it: say what is wrong with a broken one, not a stack trace.
            # Checked only on failure, so a good request's body is parsed once.
            problem = malformed(request.get_data(cache=True), request.content_type or "")
            if not problem:
                raise
        log.warning("rejected a malformed Slack request: %s", problem)
        return Response(problem, status=400)

    @web.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @web.get("/readyz")
    def readyz() -> Any:
        problems = {}
        try:
            with ctx.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            problems["database"] = type(exc).__name__
        with lock:
            if time.monotonic() - auth_cache["at"] > AUTH_TTL_S or not auth_cache["ok"]:
                try:
                    ctx.gateway.auth_test()
                    auth_cache.update(ok=True, error=None)
                except Exception as exc:  # noqa: BLE001
                    auth_cache.update(ok=False, error=type(exc).__name__)
                auth_cache["at"] = time.monotonic()
            if not auth_cache["ok"]:
                problems["slack"] = auth_cache["error"]
        if problems:
            return jsonify(status="unavailable", problems=problems), 503
        return jsonify(status="ready")

    web.register_blueprint(api_blueprint(ctx))
    web.register_blueprint(pagerduty_blueprint(ctx))
    return web


def malformed(body: bytes, content_type: str) -> str | None:
    """What is wrong with a body Bolt could not take, or None."""
    if "application/x-www-form-urlencoded" in content_type:
        fields = parse_qs(body.decode("utf-8", "replace"))
        if "payload" in fields:
            try:
                payload = json.loads(fields["payload"][0])
            except json.JSONDecodeError:
                return "payload is not valid JSON"
            if not isinstance(payload, dict) or "type" not in payload:
                return "payload must be a JSON object with a type"
        return None
    if "application/json" in content_type:
        try:
            json.loads(body or b"{}")
        except json.JSONDecodeError:
            return "body is not valid JSON"
    return None


class BotServer:
    """The web app on a waitress server in a background thread; port 0 picks a free port.

    The server polls its own socket map and closes it from its own thread: closing waitress' sockets from
    another thread races the poll.
    """

    def __init__(self, web: Flask, *, host: str = "127.0.0.1", port: int = 0, threads: int = 16) -> None:
        self._map: dict[int, Any] = {}
        server = create_server(web, map=self._map, host=host, port=port, threads=threads)
        assert isinstance(server, TcpWSGIServer)
        self._server = server
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotServer:
        self._thread = threading.Thread(target=self.serve_forever, name="waitress", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=0.05, map=self._map, count=1)
        finally:
            wasyncore.close_all(self._map)
            self._server.task_dispatcher.shutdown()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
