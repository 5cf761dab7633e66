"""Loopback fakes for PagerDuty Events v2, Opsgenie Alert API v2 and a signed-webhook receiver.

Real HTTP servers on 127.0.0.1, port 0. They validate request shapes like the real services
(docs/slack-platform.md), keep incident/alert state, record every request, and inject faults."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from bot.clock import Clock, SystemClock
from bot.paging import signing

Answer = tuple[int, dict[str, str], Any]

PD_SEVERITIES = {"critical", "error", "warning", "info"}
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
OG_PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}
OG_RESPONDER_TYPES = {"team", "user", "escalation", "schedule"}


@dataclass
class Recorded:
    method: str
    path: str  # raw, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int = 0  # what the fake answered
    fault: bool = False

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Fault:
    status: int | None  # None: answer normally after the delay
    retry_after: float | None = None
    body: Any = None
    delay: float = 0.0


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads, so nothing outlives a test
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected in fault tests; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        rec = Recorded(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        status, headers, payload = self.server.fake._dispatch(rec)
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class FakeServer:
    """Base: lifecycle, recording and fault injection. Subclasses implement `handle`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self.requests: list[Recorded] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # fault injection
    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """The next `count` requests get `status` (429, 500, 503 ...), with Retry-After if given."""
        with self._lock:
            for _ in range(count):
                self._faults.append(_Fault(status, retry_after, {"message": f"injected {status}"}))

    def reject_next(self, message: str = "Injected rejection", errors: list[str] | None = None) -> None:
        """The next request gets a 400 in the provider's error format."""
        with self._lock:
            self._faults.append(_Fault(400, None, self._rejection(message, errors or [message])))

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Answer the next requests only after `seconds` (to trip a client timeout)."""
        with self._lock:
            for _ in range(count):
                self._faults.append(_Fault(None, delay=seconds))

    def _rejection(self, message: str, errors: list[str]) -> Any:
        return {"message": message, "errors": errors}

    # dispatch
    def _dispatch(self, rec: Recorded) -> Answer:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        with self._lock:
            if fault is not None and fault.status is not None:
                headers = {} if fault.retry_after is None else {"Retry-After": _num(fault.retry_after)}
                answer: Answer = (fault.status, headers, fault.body)
                rec.fault = True
            else:
                answer = self.handle(rec)
            rec.status = answer[0]
            self.requests.append(rec)
            return answer

    def handle(self, rec: Recorded) -> Answer:
        raise NotImplementedError

    def _json_body(self, rec: Recorded) -> Any:
        try:
            return json.loads(rec.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# PagerDuty ---------------------------------------------------------------------------------------


@dataclass
class Incident:
    dedup_key: str
    state: str  # triggered | acknowledged | resolved
    summary: str
    severity: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.state != "resolved"


class FakePagerDuty(FakeServer):
    def __init__(self, routing_key: str | None = None) -> None:
        """`routing_key` restricts accepted keys; None accepts any non-empty key."""
        super().__init__()
        self.routing_key = routing_key
        self.incidents: list[Incident] = []
        self.change_events: list[dict[str, Any]] = []

    def incident(self, dedup_key: str) -> Incident | None:
        """The latest incident for a dedup key."""
        for inc in reversed(self.incidents):
            if inc.dedup_key == dedup_key:
                return inc
        return None

    def _rejection(self, message: str, errors: list[str]) -> Any:
        return {"status": "invalid event", "message": message, "errors": errors}

    def _invalid(self, errors: list[str]) -> Answer:
        return 400, {}, self._rejection("Event object is invalid", errors)

    def handle(self, rec: Recorded) -> Answer:
        if rec.method != "POST" or rec.path not in ("/v2/enqueue", "/v2/change/enqueue"):
            return 404, {}, {"status": "not found", "message": "Not Found"}
        if "json" not in rec.headers.get("content-type", ""):
            return self._invalid(["Content-Type must be application/json"])
        body = self._json_body(rec)
        if not isinstance(body, dict):
            return 400, {}, {"status": "invalid request", "message": "Could not parse JSON", "errors": []}
        errors = self._check_routing_key(body)
        if rec.path == "/v2/change/enqueue":
            return self._change(body, errors)
        return self._event(body, errors)

    def _check_routing_key(self, body: dict[str, Any]) -> list[str]:
        key = body.get("routing_key")
        if not isinstance(key, str) or not key:
            return ["'routing_key' is missing or blank"]
        if self.routing_key is not None and key != self.routing_key:
            return ["Invalid routing key"]
        return []

    def _event(self, body: dict[str, Any], errors: list[str]) -> Answer:
        action = body.get("event_action")
        if action not in PD_ACTIONS:
            errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
        dedup_key = body.get("dedup_key")
        if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup_key:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            errors.extend(_check_pd_payload(body.get("payload")))
            links = body.get("links", [])
            if not isinstance(links, list) or not all(isinstance(x, dict) and x.get("href") for x in links):
                errors.append("'links' must be a list of objects with 'href'")
        if errors:
            return self._invalid(errors)
        key = dedup_key or uuid.uuid4().hex
        current = self.incident(key)
        if action == "trigger":
            if current is None or not current.open:
                payload = body["payload"]
                current = Incident(key, "triggered", payload["summary"], payload["severity"])
                self.incidents.append(current)
            current.events.append(body)
        elif current is not None and current.open:
            # Ack/resolve of an unknown or closed key is accepted and ignored, as PagerDuty does.
            current.state = "acknowledged" if action == "acknowledge" else "resolved"
            current.events.append(body)
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": key}

    def _change(self, body: dict[str, Any], errors: list[str]) -> Answer:
        payload = body.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' must be 1..1024 characters")
            if "timestamp" in payload and not _is_iso(payload["timestamp"]):
                errors.append("'payload.timestamp' must be ISO 8601")
        if errors:
            return self._invalid(errors)
        self.change_events.append(body)
        return 202, {}, {"status": "success", "message": "Change event processed", "errors": []}


def _check_pd_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in PD_SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    if "timestamp" in payload and not _is_iso(payload["timestamp"]):
        errors.append("'payload.timestamp' must be ISO 8601")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict | str):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# Opsgenie ----------------------------------------------------------------------------------------


@dataclass
class Alert:
    alias: str
    message: str
    priority: str
    status: str = "open"  # open | closed
    acknowledged: bool = False
    count: int = 1
    bodies: list[dict[str, Any]] = field(default_factory=list)


class FakeOpsgenie(FakeServer):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: list[Alert] = []

    def alert(self, alias: str) -> Alert | None:
        for alert in reversed(self.alerts):
            if alert.alias == alias:
                return alert
        return None

    def _answer(self, status: int = 202, **extra: Any) -> Answer:
        body = {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4()), **extra}
        return status, {}, body

    def _rejection(self, message: str, errors: list[str]) -> Any:
        return {"message": message, "errors": errors, "took": 0.0, "requestId": str(uuid.uuid4())}

    def handle(self, rec: Recorded) -> Answer:
        if rec.headers.get("authorization") != f"GenieKey {self.api_key}":
            return 401, {}, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())}
        if rec.method != "POST":
            return 404, {}, self._rejection("Not found", ["Not found"])
        parts = rec.path.split("/")  # split before unquoting so an encoded "/" stays in the alias
        if parts == ["", "v2", "alerts"]:
            return self._create(rec)
        if len(parts) == 5 and parts[:3] == ["", "v2", "alerts"] and parts[4] in ("acknowledge", "close"):
            return self._action(rec, unquote(parts[3]), parts[4])
        return 404, {}, self._rejection("Not found", ["Not found"])

    def _create(self, rec: Recorded) -> Answer:
        body = self._json_body(rec)
        if not isinstance(body, dict):
            return 400, {}, self._rejection("Could not parse request body", [])
        errors: dict[str, str] = {}
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            errors["message"] = "Message can not be empty."
        elif len(message) > 130:
            errors["message"] = "Message can not be longer than 130 characters."
        alias = body.get("alias")
        if not isinstance(alias, str) or not alias or len(alias) > 512:
            errors["alias"] = "Alias must be 1..512 characters."
        priority = body.get("priority", "P3")
        if priority not in OG_PRIORITIES:
            errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
        details = body.get("details", {})
        if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
            errors["details"] = "Details values must be strings."
        for responder in body.get("responders", []):
            if not isinstance(responder, dict) or responder.get("type") not in OG_RESPONDER_TYPES:
                errors["responders"] = "Responder type must be one of team, user, escalation, schedule."
            elif not any(responder.get(k) for k in ("id", "name", "username")):
                errors["responders"] = "Responder needs an id, name or username."
        if errors:
            return (
                422,
                {},
                {
                    "message": "Request body is not processable. Please check the errors.",
                    "errors": errors,
                    "took": 0.0,
                    "requestId": str(uuid.uuid4()),
                },
            )
        assert isinstance(alias, str) and isinstance(message, str)
        current = self.alert(alias)
        if current is not None and current.status == "open":
            current.count += 1  # Opsgenie deduplicates open alerts by alias
        else:
            current = Alert(alias=alias, message=message, priority=str(priority))
            self.alerts.append(current)
        current.bodies.append(body)
        return self._answer()

    def _action(self, rec: Recorded, alias: str, action: str) -> Answer:
        if rec.query.get("identifierType") != ["alias"]:
            return 404, {}, self._rejection("Alert does not exist", ["identifierType must be alias here"])
        current = self.alert(alias)
        # Opsgenie processes these asynchronously: 202 even when the alias matches nothing.
        if current is not None and current.status == "open":
            if action == "acknowledge":
                current.acknowledged = True
            else:
                current.status = "closed"
        return self._answer()


# Signed webhook receiver -------------------------------------------------------------------------


class FakeWebhookReceiver(FakeServer):
    """Accepts POSTs on any path signed with `secret`; records the verified JSON bodies."""

    def __init__(self, secret: str, clock: Clock | None = None, tolerance_s: int = 300) -> None:
        super().__init__()
        self.secret = secret
        self.clock = clock or SystemClock()
        self.tolerance_s = tolerance_s
        self.deliveries: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return self.base_url + "/hooks/deploybot"

    def handle(self, rec: Recorded) -> Answer:
        ok = signing.verify(
            self.secret,
            rec.headers.get(signing.TIMESTAMP_HEADER.lower(), ""),
            rec.body,
            rec.headers.get(signing.SIGNATURE_HEADER.lower(), ""),
            now=self.clock.now(),
            tolerance_s=self.tolerance_s,
        )
        if not ok:
            return 401, {}, {"ok": False, "error": "invalid signature"}
        body = self._json_body(rec)
        if not isinstance(body, dict):
            return 400, {}, {"ok": False, "error": "body must be a JSON object"}
        self.deliveries.append(body)
        return 200, {}, {"ok": True}
