"""A fake Prometheus HTTP API (GET /api/v1/query) on 127.0.0.1:0, in Prometheus' exact JSON shapes."""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

Labels = dict[str, str]


@dataclass(frozen=True)
class RecordedQuery:
    query: str
    time: float | None  # the `time` parameter as sent; None when absent


def prom_float(value: float) -> str:
    """Prometheus renders sample values as strings: "0.25", "NaN", "+Inf"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _at_key(at: datetime | float | None) -> float | None:
    if at is None:
        return None
    ts = at.timestamp() if isinstance(at, datetime) else float(at)
    return round(ts, 3)


class FakePrometheus:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, delay_s: float = 0.0) -> None:
        self.host, self.port = host, port
        self.delay_s = delay_s  # every answer waits this long (timeouts, benchmarks)
        self._lock = threading.Lock()
        self._results: dict[tuple[str, float | None], list[tuple[Labels, float]]] = {}
        self._bad: dict[str, str] = {}
        self._fail: list[int] = []
        self.requests: list[RecordedQuery] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # setup -----------------------------------------------------------------------------------------------
    def set_result(self, query: str, value: float | None, at: datetime | float | None = None) -> None:
        """One series with `value` (None = empty result, i.e. no data); `at` limits it to that eval time."""
        self.set_vector(query, [] if value is None else [({}, value)], at=at)

    def set_vector(self, query: str, series: list[tuple[Labels, float]], at: datetime | float | None = None) -> None:
        with self._lock:
            self._results[(query, _at_key(at))] = list(series)

    def set_bad(self, query: str, error: str = 'parse error: unexpected character inside braces: "!"') -> None:
        with self._lock:
            self._bad[query] = error

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * count)

    @property
    def queries(self) -> list[RecordedQuery]:
        with self._lock:
            return list(self.requests)

    # lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> FakePrometheus:
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self), bind_and_activate=False)
        server.request_queue_size = 256  # probe rounds open many connections at once
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server.server_close()
        self._server = None

    def __enter__(self) -> FakePrometheus:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakePrometheus not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # answering -------------------------------------------------------------------------------------------
    def answer(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any] | str]:
        query = params.get("query", [""])[0]
        raw_time = params.get("time", [None])[0]
        with self._lock:
            try:
                at = float(raw_time) if raw_time is not None else None
            except ValueError:
                at = None
            self.requests.append(RecordedQuery(query, at))
            if self._fail:
                return self._fail.pop(0), "service unavailable\n"
            if raw_time is not None and at is None:
                return 400, _error(f'invalid parameter "time": cannot parse "{raw_time}" to a valid timestamp')
            if not query:
                return 400, _error('invalid parameter "query": 1:1: parse error: no expression found in input')
            if query in self._bad:
                return 400, _error(f'invalid parameter "query": {self._bad[query]}')
            key = _at_key(at)
            series = self._results.get((query, key), self._results.get((query, None), []))
        ts = at if at is not None else time.time()
        result = [{"metric": labels, "value": [ts, prom_float(v)]} for labels, v in series]
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


def _error(text: str) -> dict[str, Any]:
    return {"status": "error", "errorType": "bad_data", "error": text}


def _handler_for(fake: FakePrometheus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if fake.delay_s:
                time.sleep(fake.delay_s)
            status: int
            body: dict[str, Any] | str
            if parts.path != "/api/v1/query":
                status, body = 404, "404 page not found\n"
            else:
                status, body = fake.answer(parse_qs(parts.query))
            raw = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            ctype = "text/plain; charset=utf-8" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (timeout tests)
                self.wfile.write(raw)

    return Handler
