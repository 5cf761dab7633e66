"""SlackEmulator: a fake Slack on loopback (Web API, response URLs, file uploads) plus a user driver.

Used by end-to-end tests and as the backend of the local sandbox page. Real HTTP on 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.clock import Clock, SystemClock
from bot.sandbox import webapi
from bot.sandbox.driver import UserDriver
from bot.sandbox.responses import deliver, use_response_url
from bot.sandbox.state import ResponseUrl, WorkspaceState

RESET = "reset"  # fail_next(status=RESET): drop the connection without an answer


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: datetime
    fault: str | None = None  # "429", "500", "reset" when an injected fault answered instead


@dataclass
class _Fault:
    status: int | str
    retry_after: int
    remaining: int
    skip: int = 0  # calls let through before this fault starts
    error: str | None = None  # with status 200: Slack refuses the call with this error code


@dataclass
class _Faults:
    by_method: dict[str, list[_Fault]] = field(default_factory=dict)

    def take(self, method: str) -> _Fault | None:
        queue = self.by_method.get(method, [])
        while queue and queue[0].remaining <= 0:
            queue.pop(0)
        if not queue:
            return None
        if queue[0].skip > 0:
            queue[0].skip -= 1
            return None
        queue[0].remaining -= 1
        return queue[0]


class SlackEmulator(UserDriver):
    def __init__(
        self,
        signing_secret: str = "sandbox-signing-secret",
        bot_url: str | None = None,
        *,
        state_file: str | Path | None = None,
        clock: Clock | None = None,
        valid_tokens: set[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.signing_secret = signing_secret
        self.bot_url = bot_url
        # None: any xoxb- token is accepted
        self.valid_tokens = valid_tokens
        self.state = WorkspaceState(clock=clock or SystemClock(), state_file=Path(state_file) if state_file else None)
        self.base_url = ""
        self._host, self._port = host, port
        self._calls: list[RecordedCall] = []
        self._faults = _Faults()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # The sandbox page's routes (bot.sandbox.web): called first; True when it answered the request.
        self.web: Callable[[BaseHTTPRequestHandler, str, bytes], bool] | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            return
        server = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        host, port = server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.close_connections()

    def __enter__(self) -> SlackEmulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # --- directory -------------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, real_name: str = "", *, is_bot: bool = False) -> None:
        self.state.add_user(user_id, name, real_name, is_bot=is_bot)

    def add_channel(self, channel_id: str, name: str) -> None:
        self.state.add_channel(channel_id, name)

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        self.state.add_usergroup(group_id, handle, users)

    def issue_trigger(self, user_id: str) -> str:
        """A trigger_id as Slack would send with an interaction (valid 3 s, once)."""
        return self.state.issue_trigger(user_id)

    def issue_response_url(
        self, user_id: str, channel_id: str, message_ts: str | None = None, *, is_ephemeral: bool = False
    ) -> str:
        """A response_url for an interaction by `user_id` in `channel_id` (on `message_ts` if a click)."""
        target = ResponseUrl(user_id, channel_id, self.state.now_s(), message_ts, is_ephemeral)
        return self.state.issue_response_url(self.base_url, target)

    # --- reading state (copies, safe to keep) -----------------------------------------------------------

    def messages(self, channel_id: str = "C0DEPLOY") -> list[dict[str, Any]]:
        """Every message in the channel in post order, thread replies included."""
        with self.state.lock:
            return json.loads(json.dumps(self.state.messages.get(channel_id, [])))

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self.state.lock:
            found = self.state.find_message(channel_id, ts)
            return None if found is None else json.loads(json.dumps(found))

    def ephemerals(self, user_id: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return json.loads(json.dumps(self.state.ephemerals.get(user_id, [])))

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, bottom first."""
        with self.state.lock:
            return [json.loads(json.dumps(self.state.views[v])) for v in self.state.view_stacks.get(user_id, [])]

    def file_content(self, file_id: str) -> bytes | None:
        with self.state.lock:
            return self.state.file_content.get(file_id)

    @property
    def warnings(self) -> list[str]:
        with self.state.lock:
            return list(self.state.warnings)

    def events_since(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        return self.state.events_since(seq)

    def wait_for_events(self, seq: int, timeout: float) -> tuple[int, list[dict[str, Any]]]:
        return self.state.wait_for_events(seq, timeout)

    @property
    def changed(self) -> threading.Condition:
        return self.state.changed

    # --- recording and faults ----------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        with self.state.lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        with self.state.lock:
            self._calls.clear()

    def fail_next(
        self,
        method: str,
        status: int | str = 429,
        retry_after: int = 1,
        count: int = 1,
        *,
        skip: int = 0,
        error: str | None = None,
    ) -> None:
        """After `skip` calls, the next `count` calls to `method` get HTTP `status` (429 carries Retry-After),
        with status="reset" a dropped connection, or with status=200 and `error` Slack's refusal
        ({"ok": false, "error": error}, e.g. invalid_blocks)."""
        with self.state.lock:
            fault = _Fault(status=status, retry_after=retry_after, remaining=count, skip=skip, error=error)
            self._faults.by_method.setdefault(method, []).append(fault)

    # --- request handling (called from server threads) ------------------------------------------------

    def _record(self, method: str, params: dict[str, Any], headers: dict[str, str], fault: str | None) -> None:
        safe = {k: ("(redacted)" if k.lower() == "authorization" else v) for k, v in headers.items()}
        with self.state.lock:
            self._calls.append(RecordedCall(method, params, safe, self.state.now(), fault))

    def _authorise(self, method: str, headers: dict[str, str], params: dict[str, Any]) -> str | None:
        """None when the token is good, else Slack's error code. Never logs or records the token.
        apps.connections.open takes only an app-level token (xapp-), every other method a bot token."""
        auth = headers.get("authorization", "")
        token = str(auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else params.get("token") or "")
        if not token:
            return "not_authed"
        if token.startswith("xapp-") != (method == "apps.connections.open"):
            return "not_allowed_token_type"
        if self.valid_tokens is None:
            return None if token.startswith(("xoxb-", "xapp-")) else "invalid_auth"
        return None if token in self.valid_tokens else "invalid_auth"

    def handle_api(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        """(status, JSON body | fault) for one Web API call."""
        with self.state.lock:
            fault = self._faults.take(method)
        params = webapi.decode_params(params)
        shown = {k: v for k, v in params.items() if k != "token"}
        if fault is not None:
            self._record(method, shown, headers, str(fault.status))
            return (0, None) if fault.status == RESET else (int(fault.status), fault)
        self._record(method, shown, headers, None)
        code = self._authorise(method, headers, params)
        if code:
            return 200, webapi.error(code)
        handler = webapi.METHODS.get(method)
        if handler is None:
            self.state.warn(f"unknown_method: {method}")
            return 200, webapi.error("unknown_method")
        result = handler(self.state, params, self.base_url)
        if not result.get("ok") and result.get("error") in ("invalid_blocks", "invalid_arguments"):
            for problem in result.get("errors", []):
                self.state.warn(f"{method}: {result['error']}: {problem}")
        return 200, result

    def handle_upload(self, file_id: str, body: bytes) -> tuple[int, str]:
        ws = self.state
        with ws.lock:
            info = ws.files.get(file_id)
            if info is None or info["uploaded"]:
                return 404, "Not Found"
            ws.file_content[file_id] = body
            info["uploaded"] = True
            info["size"] = len(body)
            ws.save()
        return 200, f"OK - {len(body)}"

    def handle_response_url(self, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return 400, {"ok": False, "error": "invalid_json"}
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_json"}
        target, code = use_response_url(self.state, key)
        if target is None:
            self.state.warn(f"response_url: {code}")
            return 404, {"ok": False, "error": code}
        code = deliver(self.state, target, payload)
        if code:
            self.state.warn(f"response_url: {code}")
            return 200, {"ok": False, "error": code}
        return 200, {"ok": True}


def _make_handler(emu: SlackEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SlackEmulator/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # quiet: request lines could carry tokens in query strings

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8", extra)

        def _reset(self) -> None:
            # SO_LINGER 0: closing sends RST, the client sees "connection reset by peer"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if emu.web is not None and emu.web(self, "GET", b""):
                return
            path = urlsplit(self.path).path
            parts = path.strip("/").split("/")
            if len(parts) >= 2 and parts[0] == "files":
                content = emu.file_content(parts[1])
                if content is not None:
                    self._send(200, content, "application/octet-stream")
                    return
            if parts[0] == "api" and len(parts) == 2:
                self._api(parts[1], b"")
                return
            self._json(404, {"ok": False, "error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            path = urlsplit(self.path).path
            parts = path.strip("/").split("/")
            body = self._body()
            if emu.web is not None and emu.web(self, "POST", body):
                return
            if parts[0] == "api" and len(parts) == 2:
                self._api(parts[1], body)
            elif parts[0] == "upload" and len(parts) == 2:
                status, text = emu.handle_upload(parts[1], body)
                self._send(status, text.encode(), "text/plain; charset=utf-8")
            elif parts[0] == "response" and len(parts) == 2:
                status, data = emu.handle_response_url(parts[1], body)
                self._json(status, data)
            else:
                self._json(404, {"ok": False, "error": "not_found"})

        def _api(self, method: str, body: bytes) -> None:
            params: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            content_type = self.headers.get("Content-Type", "")
            if body and content_type.startswith("application/json"):
                try:
                    decoded = json.loads(body)
                except json.JSONDecodeError:
                    self._json(200, webapi.error("invalid_json"))
                    return
                if isinstance(decoded, dict):
                    params.update(decoded)
            elif body:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, result = emu.handle_api(method, params, headers)
            if status == 0:
                self._reset()
            elif isinstance(result, _Fault):
                extra = {"Retry-After": str(result.retry_after)} if status == 429 else {}
                error = result.error or ("ratelimited" if status == 429 else "internal_error")
                self._json(status, {"ok": False, "error": error}, extra)
            else:
                self._json(status, result)

    return Handler
