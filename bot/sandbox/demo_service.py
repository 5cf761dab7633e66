"""A small service to deploy in the sandbox: health, smoke endpoints, Prometheus metrics and fault controls.

Errors are injected deterministically (rate 0.2 fails exactly every 5th /api/work request), so tests can
assert exact counts. Only /api/work, the "real traffic" endpoint, is counted in /metrics.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

SMOKE_CHECKS = ("api", "auth", "payments", "mobile")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SETTING_KEYS = ("error_rate", "latency_ms", "healthy", "broken", "traffic_rps")


@dataclass(frozen=True)
class DemoSettings:
    error_rate: float = 0.0  # share of /api/work requests answered 500
    latency_ms: float = 0.0  # added to every /api/work request
    healthy: bool = True  # /healthz answers 503 when False
    broken: frozenset[str] = field(default_factory=frozenset)  # smoke checks answering 500
    traffic_rps: float = 0.0  # built-in traffic generator calling /api/work

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "healthy": self.healthy,
            "broken": sorted(self.broken),
            "traffic_rps": self.traffic_rps,
        }

    def updated(self, changes: dict[str, Any]) -> DemoSettings:
        """A copy with `changes` applied; ValueError names the first bad key."""
        unknown = sorted(set(changes) - set(_SETTING_KEYS))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(_SETTING_KEYS)}")
        new = self
        for key, value in changes.items():
            if key == "healthy":
                if not isinstance(value, bool):
                    raise ValueError("healthy must be true or false")
                new = replace(new, healthy=value)
            elif key == "broken":
                if not isinstance(value, list) or not all(v in SMOKE_CHECKS for v in value):
                    raise ValueError(f"broken must be a list drawn from {', '.join(SMOKE_CHECKS)}")
                new = replace(new, broken=frozenset(value))
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                if key == "error_rate" and value > 1:
                    raise ValueError("error_rate must be between 0 and 1")
                if key == "error_rate":
                    new = replace(new, error_rate=float(value))
                elif key == "latency_ms":
                    new = replace(new, latency_ms=float(value))
                else:
                    new = replace(new, traffic_rps=float(value))
        return new


class _Stats:
    """Counters behind /metrics. One lock: the handler threads and the traffic generator share them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: Counter[int] = Counter({200: 0, 500: 0})
        self.buckets = [0] * len(BUCKETS)
        self.duration_sum = 0.0
        self.count = 0
        self.error_credit = 0.0  # accumulates error_rate per request; a request fails when it reaches 1

    def next_fails(self, rate: float) -> bool:
        with self.lock:
            self.error_credit += rate
            if self.error_credit >= 1 - 1e-9:
                self.error_credit -= 1
                return True
            return False

    def observe(self, code: int, seconds: float) -> None:
        with self.lock:
            self.codes[code] += 1
            self.count += 1
            self.duration_sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1


class DemoService:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        job: str = "demo",
        error_rate: float = 0.0,
        latency_ms: float = 0.0,
        healthy: bool = True,
        broken: tuple[str, ...] | list[str] = (),
        traffic_rps: float = 0.0,
    ) -> None:
        self.host, self.port, self.job = host, port, job
        self._settings = DemoSettings().updated(
            {
                "error_rate": error_rate,
                "latency_ms": latency_ms,
                "healthy": healthy,
                "broken": list(broken),
                "traffic_rps": traffic_rps,
            }
        )
        self._settings_lock = threading.Lock()
        self._stats = _Stats()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> DemoService:
        if self._server is not None:
            raise RuntimeError("DemoService already started")
        self._server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
            threading.Thread(target=self._generate_traffic, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        # Traffic first: a request caught by a stopped server would hang until its timeout.
        self._stop.set()
        server_thread, traffic_thread = self._threads
        traffic_thread.join(timeout=5)
        self._server.shutdown()
        server_thread.join(timeout=5)
        self._server.server_close()
        self._server = None

    def __enter__(self) -> DemoService:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("DemoService not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # settings and stats ----------------------------------------------------------------------------------
    @property
    def settings(self) -> DemoSettings:
        with self._settings_lock:
            return self._settings

    def configure(self, **changes: Any) -> DemoSettings:
        with self._settings_lock:
            new = self._settings.updated(changes)
            if "error_rate" in changes:
                with self._stats.lock:
                    self._stats.error_credit = 0.0  # so the next failure is exactly 1/rate requests away
            self._settings = new
            return new

    def snapshot(self) -> dict[str, Any]:
        with self._stats.lock:
            codes = {str(code): n for code, n in sorted(self._stats.codes.items())}
            total, duration_sum = self._stats.count, self._stats.duration_sum
        errors = sum(n for code, n in codes.items() if code.startswith("5"))
        return {
            "requests": total,
            "errors": errors,
            "by_code": codes,
            "error_ratio": errors / total if total else None,
            "duration_sum_s": duration_sum,
            "settings": self.settings.to_dict(),
        }

    def metrics_text(self) -> str:
        job = self.job
        with self._stats.lock:
            codes = sorted(self._stats.codes.items())
            buckets, total, duration_sum = (
                list(self._stats.buckets),
                self._stats.count,
                self._stats.duration_sum,
            )
        lines = [
            "# HELP http_requests_total Requests to /api/work by status code.",
            "# TYPE http_requests_total counter",
            *(f'http_requests_total{{job="{job}",code="{code}"}} {n}' for code, n in codes),
            "# HELP http_request_duration_seconds Time to answer /api/work.",
            "# TYPE http_request_duration_seconds histogram",
            *(
                f'http_request_duration_seconds_bucket{{job="{job}",le="{bound:g}"}} {n}'
                for bound, n in zip(BUCKETS, buckets, strict=True)
            ),
            f'http_request_duration_seconds_bucket{{job="{job}",le="+Inf"}} {total}',
            f'http_request_duration_seconds_sum{{job="{job}"}} {duration_sum!r}',
            f'http_request_duration_seconds_count{{job="{job}"}} {total}',
        ]
        return "\n".join(lines) + "\n"

    def work(self) -> int:
        """The /api/work logic: returns the status code after the configured latency."""
        start = time.perf_counter()
        settings = self.settings
        fails = self._stats.next_fails(settings.error_rate)
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        code = 500 if fails else 200
        self._stats.observe(code, time.perf_counter() - start)
        return code

    def _generate_traffic(self) -> None:
        while not self._stop.is_set():
            rps = self.settings.traffic_rps
            if rps <= 0:
                self._stop.wait(0.05)
                continue
            start = time.perf_counter()
            self._call_work()
            self._stop.wait(max(0.0, 1 / rps - (time.perf_counter() - start)))

    def _call_work(self) -> None:
        # Through real HTTP, so the traffic looks like any client's.
        server = self._server
        if server is None:
            return
        host, port = server.server_address[:2]
        conn = http.client.HTTPConnection(str(host), int(port), timeout=5)
        try:
            conn.request("GET", "/api/work")
            conn.getresponse().read()
        except OSError:
            pass  # stopping, or the server is overloaded; the next tick tries again
        finally:
            conn.close()


def _handler_for(service: DemoService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests and the sandbox stay quiet

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            raw = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/healthz":
                healthy = service.settings.healthy
                self._send(200 if healthy else 503, {"status": "ok" if healthy else "unhealthy"})
            elif path.startswith("/smoke/") and path.removeprefix("/smoke/") in SMOKE_CHECKS:
                check = path.removeprefix("/smoke/")
                if check in service.settings.broken:
                    self._send(500, {"ok": False, "check": check, "error": f"{check} is broken"})
                else:
                    self._send(200, {"ok": True, "check": check})
            elif path == "/metrics":
                self._send(200, service.metrics_text(), "text/plain; version=0.0.4")
            elif path == "/api/work":
                code = service.work()
                self._send(code, {"ok": code == 200})
            elif path == "/control":
                self._send(200, service.settings.to_dict())
            else:
                self._send(404, {"error": f"no such endpoint {path}"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/control":
                self._send(404, {"error": "POST only to /control"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                changes = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("body must be a JSON object")
                settings = service.configure(**changes)
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, settings.to_dict())

    return Handler
