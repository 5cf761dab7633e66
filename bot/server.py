"""HTTP front: Slack events, health, readiness and the CI API, served by waitress (not Bolt's dev server)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from sqlalchemy import text
from waitress.server import create_server

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
        return handler.handle(request)

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
                    ctx.gateway.client.auth_test()
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
    return web


class BotServer:
    """The web app on a waitress server in a background thread; port 0 picks a free port."""

    def __init__(self, web: Flask, *, host: str = "127.0.0.1", port: int = 0, threads: int = 16) -> None:
        self._server = create_server(web, host=host, port=port, threads=threads, clear_untrusted_proxy_headers=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotServer:
        self._thread = threading.Thread(target=self._server.run, name="waitress", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.run()

    def stop(self) -> None:
        self._server.close()
        if self._thread:
            self._thread.join(timeout=5)
        # waitress leaves its task threads to finish their current request
        self._server.task_dispatcher.shutdown()
