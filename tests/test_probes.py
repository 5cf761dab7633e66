"""Probes against real loopback servers: the demo service and the fake Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bot.sandbox.demo_service import DemoService
from probes.base import Outcome, Probe, ProbeResult, build_probe
from probes.prometheus import parse_instant, query_window
from probes.runner import make_client, run_probes, run_probes_sync
from tests.fakes.prometheus import FakePrometheus

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DEPLOYED = NOW - timedelta(minutes=10)
ERROR_RATE = (
    'sum(rate(http_requests_total{job="demo",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="demo"}[5m]))'
)
SAMPLES = 'sum(increase(http_requests_total{job="demo"}[5m]))'


@pytest.fixture
def demo() -> Iterator[DemoService]:
    with DemoService() as service:
        yield service


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


def run(probe: Probe, *, deployed_at: datetime | None = DEPLOYED) -> ProbeResult:
    async def go() -> ProbeResult:
        async with make_client() as client:  # the scheduler's client (aiohttp transport)
            return await probe.run(client, now=NOW, deployed_at=deployed_at)

    return asyncio.run(go())


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- http ---------------------------------------------------------------------------------------------------
def test_http_health_passes_with_measured_latency(demo: DemoService) -> None:
    cfg = {
        "name": "health",
        "type": "http",
        "url": "/healthz",
        "expect_status": 200,
        "max_latency_ms": 1000,
        "expect_json": {"status": "ok"},
        "expect_body_contains": "ok",
        "timeout_s": 5,
    }
    result = run(build_probe(cfg, base_url=demo.url, prometheus_url=None))
    assert result.outcome is Outcome.PASS
    assert result.unit == "ms"
    assert result.value is not None and 0 < result.value < 1000
    assert result.evidence["status"] == 200
    assert result.evidence["url"] == demo.url + "/healthz"
    assert json.loads(result.evidence["response_excerpt"]) == {"status": "ok"}
    assert result.started_at == NOW


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"expect_status": 204}, "status 200, expected 204"),
        ({"expect_json": {"status": "degraded"}}, "JSON body does not match"),
        ({"expect_body_contains": "nope"}, "body does not contain 'nope'"),
    ],
)
def test_http_expectation_mismatch_is_fail(demo: DemoService, extra: dict[str, Any], problem: str) -> None:
    probe = build_probe(
        {"name": "health", "type": "http", "url": "/healthz", **extra}, base_url=demo.url, prometheus_url=None
    )
    result = run(probe)
    assert result.outcome is Outcome.FAIL
    assert problem in result.evidence["error"]


def test_http_unhealthy_service_fails_with_status(demo: DemoService) -> None:
    demo.configure(healthy=False)
    result = run(
        build_probe({"name": "health", "type": "http", "url": "/healthz"}, base_url=demo.url, prometheus_url=None)
    )
    assert result.outcome is Outcome.FAIL
    assert result.evidence["status"] == 503
    assert "status 503, expected 200" in result.evidence["error"]


def test_http_latency_above_max_fails(demo: DemoService) -> None:
    demo.configure(latency_ms=120)
    probe = build_probe(
        {"name": "work", "type": "http", "url": "/api/work", "max_latency_ms": 50},
        base_url=demo.url,
        prometheus_url=None,
    )
    result = run(probe)
    assert result.outcome is Outcome.FAIL
    assert result.value is not None and result.value >= 120
    assert "> 50 ms" in result.evidence["error"]


def test_http_unreachable_is_error_not_fail() -> None:
    probe = build_probe(
        {"name": "health", "type": "http", "url": closed_port_url() + "/healthz"}, base_url=None, prometheus_url=None
    )
    result = run(probe)
    assert result.outcome is Outcome.ERROR
    assert result.value is None
    assert "ConnectError" in result.evidence["error"]


def test_http_unreachable_is_the_same_error_on_plain_httpx() -> None:
    probe = build_probe(
        {"name": "health", "type": "http", "url": closed_port_url() + "/healthz"}, base_url=None, prometheus_url=None
    )

    async def go() -> ProbeResult:
        async with httpx.AsyncClient() as client:
            return await probe.run(client, now=NOW, deployed_at=None)

    result = asyncio.run(go())
    assert result.outcome is Outcome.ERROR
    assert "ConnectError" in result.evidence["error"]


def test_http_server_hanging_up_is_error_naming_the_disconnect() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def hang_up() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)  # read the request, then close without answering

        server = threading.Thread(target=hang_up)
        server.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/healthz"
        result = run(build_probe({"name": "health", "type": "http", "url": url}, base_url=None, prometheus_url=None))
        server.join(5)
    assert result.outcome is Outcome.ERROR
    assert result.evidence["error"].startswith("RemoteProtocolError: ")
    assert "disconnected" in result.evidence["error"]


def test_http_timeout_is_error(prom: FakePrometheus) -> None:
    prom.delay_s = 0.3
    probe = build_probe(
        {"name": "slow", "type": "http", "url": "/api/v1/query?query=up", "timeout_s": 0.05},
        base_url=prom.url,
        prometheus_url=None,
    )
    result = run(probe)
    assert result.outcome is Outcome.ERROR
    assert "Timeout" in result.evidence["error"]


# --- config ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (
            {"name": "health", "type": "http", "url": "/healthz", "expect_stauts": 200},
            "probe 'health': unknown key 'expect_stauts'",
        ),
        ({"name": "health", "type": "http", "url": "/healthz", "timeout_s": "soon"}, "probe 'health': key 'timeout_s'"),
        ({"name": "health", "type": "http"}, "probe 'health': missing key 'url'"),
        ({"name": "x", "type": "ftp"}, "probe 'x': key 'type' must be one of"),
        ({"type": "http", "url": "/"}, "missing key 'name'"),
        (
            {"name": "smoke", "type": "smoke", "checks": [{"name": "a", "url": "/a", "crit": True}]},
            "probe 'smoke': unknown key 'checks.0.crit'",
        ),
        ({"name": "smoke", "type": "smoke", "checks": []}, "probe 'smoke': key 'checks'"),
        (
            {"name": "smoke", "type": "smoke", "checks": [{"name": "a", "url": "/a"}, {"name": "a", "url": "/b"}]},
            "check names must be unique",
        ),
        ({"name": "er", "type": "prometheus", "query": "up", "baseline": "maybe"}, "probe 'er': key 'baseline'"),
        ({"name": "er", "type": "prometheus"}, "probe 'er': missing key 'query'"),
    ],
)
def test_build_probe_rejects_bad_config(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        build_probe(cfg, base_url="http://svc", prometheus_url="http://prom")
    assert message in str(info.value)


def test_relative_url_needs_base_url_and_prometheus_needs_url() -> None:
    with pytest.raises(ValueError, match="relative url '/healthz' needs the service base_url"):
        build_probe({"name": "h", "type": "http", "url": "/healthz"}, base_url=None, prometheus_url=None)
    with pytest.raises(ValueError, match="needs prometheus_url"):
        build_probe({"name": "p", "type": "prometheus", "query": "up"}, base_url=None, prometheus_url=None)


def test_build_probe_accepts_a_pydantic_model(demo: DemoService) -> None:
    from probes.http import HttpProbeConfig

    model = HttpProbeConfig(name="health", url="/healthz")
    with pytest.raises(ValueError, match="key 'type' must be one of"):
        build_probe(model, base_url=demo.url, prometheus_url=None)  # the model has no type key


# --- smoke ----------------------------------------------------------------------------------------------------
def smoke_config(*, critical: tuple[str, ...] = ("api", "auth", "payments")) -> dict[str, Any]:
    names = {
        "api": "API smoke tests",
        "auth": "Authentication flow",
        "payments": "Payment processing",
        "mobile": "Mobile app smoke tests",
    }
    return {
        "name": "smoke",
        "type": "smoke",
        "checks": [
            {
                "name": title,
                "url": f"/smoke/{key}",
                "critical": key in critical,
                "expect_status": 200,
                "expect_json": {"ok": True},
            }
            for key, title in names.items()
        ],
    }


def test_smoke_all_pass(demo: DemoService) -> None:
    result = run(build_probe(smoke_config(), base_url=demo.url, prometheus_url=None))
    assert result.outcome is Outcome.PASS
    assert (result.value, result.samples, result.critical) == (0, 4, False)
    assert [c["ok"] for c in result.evidence["checks"]] == [True] * 4
    assert {c["status"] for c in result.evidence["checks"]} == {200}


def test_smoke_critical_check_failing_marks_result_critical(demo: DemoService) -> None:
    demo.configure(broken=["payments"])
    result = run(build_probe(smoke_config(), base_url=demo.url, prometheus_url=None))
    assert result.outcome is Outcome.FAIL
    assert (result.value, result.samples, result.critical) == (1, 4, True)
    failed = [c for c in result.evidence["checks"] if not c["ok"]]
    assert [(c["name"], c["status"], c["critical"]) for c in failed] == [("Payment processing", 500, True)]
    assert "Payment processing: status 500" in result.evidence["error"]


def test_smoke_non_critical_failure_is_not_critical(demo: DemoService) -> None:
    demo.configure(broken=["mobile", "auth"])
    result = run(build_probe(smoke_config(critical=("api",)), base_url=demo.url, prometheus_url=None))
    assert result.outcome is Outcome.FAIL
    assert (result.value, result.critical) == (2, False)


def test_smoke_unreachable_is_error() -> None:
    result = run(build_probe(smoke_config(), base_url=closed_port_url(), prometheus_url=None))
    assert result.outcome is Outcome.ERROR
    assert result.value == 4
    assert all(c["status"] is None and "ConnectError" in c["error"] for c in result.evidence["checks"])


def test_smoke_checks_run_concurrently(prom: FakePrometheus) -> None:
    prom.delay_s = 0.15
    cfg = {
        "name": "smoke",
        "type": "smoke",
        "checks": [{"name": f"c{i}", "url": f"/api/v1/query?query=q{i}"} for i in range(4)],
    }
    result = run(build_probe(cfg, base_url=prom.url, prometheus_url=None))
    assert result.outcome is Outcome.PASS
    assert 0.15 <= result.duration_s < 0.45  # sequential would be >= 0.6


# --- prometheus -----------------------------------------------------------------------------------------------
def prom_probe(prom: FakePrometheus, **extra: Any) -> Probe:
    cfg = {"name": "error_rate", "type": "prometheus", "query": ERROR_RATE, "unit": "ratio", **extra}
    return build_probe(cfg, base_url=None, prometheus_url=prom.url)


def test_prometheus_value_baseline_and_samples(prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, 0.072)
    prom.set_result(ERROR_RATE, 0.01, at=DEPLOYED)
    prom.set_result(SAMPLES, 1234.4)
    result = run(prom_probe(prom, baseline=True, samples_query=SAMPLES))
    assert result.outcome is Outcome.PASS  # the probe does not judge thresholds
    assert (result.value, result.baseline, result.samples, result.unit) == (0.072, 0.01, 1234, "ratio")
    assert result.evidence["window"] == "5m"
    asked = sorted((q.query, q.time) for q in prom.queries)
    assert asked == sorted(
        [(ERROR_RATE, NOW.timestamp()), (ERROR_RATE, DEPLOYED.timestamp()), (SAMPLES, NOW.timestamp())]
    )


def test_prometheus_empty_result_is_no_data_not_zero(prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, None)
    result = run(prom_probe(prom))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert result.value is None
    assert result.evidence["note"] == "no data"


def test_prometheus_nan_is_no_data(prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, float("nan"))  # 0/0 when there was no traffic
    result = run(prom_probe(prom))
    assert (result.outcome, result.value) == (Outcome.INCONCLUSIVE, None)


def test_prometheus_bad_query_is_error_with_text(prom: FakePrometheus) -> None:
    prom.set_bad(ERROR_RATE, "1:6: parse error: unexpected character")
    result = run(prom_probe(prom))
    assert result.outcome is Outcome.ERROR
    assert "bad_data" in result.evidence["error"]
    assert "parse error: unexpected character" in result.evidence["error"]
    assert result.evidence["queries"][0]["status"] == 400


def test_prometheus_5xx_is_error(prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, 0.01)
    prom.fail_next()
    result = run(prom_probe(prom))
    assert result.outcome is Outcome.ERROR
    assert result.value is None
    assert "HTTP 503 from Prometheus" in result.evidence["error"]
    assert run(prom_probe(prom)).value == 0.01  # only the next request failed


def test_prometheus_baseline_error_makes_result_error(prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, 0.02)
    prom.fail_next()
    result = run(prom_probe(prom, samples_query=SAMPLES))  # one of the two queries gets the 503
    assert result.outcome is Outcome.ERROR
    assert "query: HTTP 503" in result.evidence["error"]


def test_prometheus_unreachable_and_timeout_are_errors(prom: FakePrometheus) -> None:
    gone = build_probe(
        {"name": "er", "type": "prometheus", "query": "up"}, base_url=None, prometheus_url=closed_port_url()
    )
    assert run(gone).outcome is Outcome.ERROR
    prom.delay_s = 0.3
    slow = run(prom_probe(prom, timeout_s=0.05))
    assert slow.outcome is Outcome.ERROR
    assert "Timeout" in slow.evidence["error"]


def test_prometheus_multiple_series_is_error(prom: FakePrometheus) -> None:
    prom.set_vector(ERROR_RATE, [({"code": "500"}, 0.1), ({"code": "503"}, 0.2)])
    result = run(prom_probe(prom))
    assert result.outcome is Outcome.ERROR
    assert "2 series" in result.evidence["error"]


def test_prometheus_baseline_without_deploy_time(prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, 0.03)
    result = run(prom_probe(prom, baseline=True), deployed_at=None)
    assert (result.outcome, result.value, result.baseline) == (Outcome.PASS, 0.03, None)
    assert len(prom.queries) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, (None, None)),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "4"]}}, (4.0, None)),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "+Inf"]}]}},
            (float("inf"), None),
        ),
        (
            {"status": "success", "data": {"resultType": "matrix", "result": []}},
            (None, "unsupported resultType 'matrix'; use an instant vector or scalar query"),
        ),
        ({"status": "error", "errorType": "timeout", "error": "query timed out"}, (None, "timeout: query timed out")),
        (
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
            (None, "malformed result: KeyError: 'value'"),
        ),
    ],
)
def test_parse_instant(body: dict[str, Any], expected: tuple[float | None, str | None]) -> None:
    assert parse_instant(body) == expected


def test_query_window() -> None:
    assert query_window(None, ERROR_RATE) == "5m"
    assert query_window("sum(increase(x[1h]))", ERROR_RATE) == "1h"
    assert query_window("max_over_time(x[30m:1m])") == "30m"
    assert query_window("up") is None


# --- results ----------------------------------------------------------------------------------------------------
def test_probe_result_round_trips_through_json() -> None:
    result = ProbeResult(
        name="p95",
        outcome=Outcome.PASS,
        started_at=NOW,
        value=float("inf"),
        baseline=0.2,
        samples=10,
        unit="seconds",
        evidence={"query": "q"},
        duration_s=0.25,
        critical=True,
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["value"] == "+Inf"
    assert ProbeResult.from_dict(data) == result


# --- runner -----------------------------------------------------------------------------------------------------
@dataclass
class SleepyProbe:
    """A test probe (implements the Probe protocol) that sleeps, raises, or tracks concurrency."""

    name: str
    sleep_s: float = 0.0
    boom: bool = False
    tracker: dict[str, int] | None = None

    async def run(self, client: httpx.AsyncClient, *, now: datetime, deployed_at: datetime | None) -> ProbeResult:
        if self.tracker is not None:
            self.tracker["now"] += 1
            self.tracker["max"] = max(self.tracker["max"], self.tracker["now"])
        try:
            await asyncio.sleep(self.sleep_s)
            if self.boom:
                raise RuntimeError("kaboom")
            return ProbeResult(name=self.name, outcome=Outcome.PASS, started_at=now, value=1.0)
        finally:
            if self.tracker is not None:
                self.tracker["now"] -= 1


def run_round(probes: list[Any], **kwargs: Any) -> list[ProbeResult]:
    async def go() -> list[ProbeResult]:
        async with httpx.AsyncClient() as client:
            return await run_probes(probes, client=client, now=NOW, deployed_at=DEPLOYED, **kwargs)

    return asyncio.run(go())


def test_runner_times_out_slow_probe_without_delaying_others() -> None:
    probes = [SleepyProbe("fast1", 0.01), SleepyProbe("slow", 5), SleepyProbe("fast2", 0.01)]
    start = time.perf_counter()
    results = run_round(probes, timeout_s=0.2)
    elapsed = time.perf_counter() - start
    assert [r.name for r in results] == ["fast1", "slow", "fast2"]
    assert [r.outcome for r in results] == [Outcome.PASS, Outcome.ERROR, Outcome.PASS]
    assert results[1].evidence["error"] == "timed out after 0.2s"
    assert results[1].started_at == NOW
    assert elapsed < 1.0


def test_runner_turns_exceptions_into_error_results() -> None:
    results = run_round([SleepyProbe("ok"), SleepyProbe("broken", boom=True)])
    assert results[0].outcome is Outcome.PASS
    assert results[1].outcome is Outcome.ERROR
    assert results[1].evidence["error"] == "probe crashed: RuntimeError: kaboom"


def test_runner_bounds_concurrency() -> None:
    tracker = {"now": 0, "max": 0}
    results = run_round([SleepyProbe(f"p{i}", 0.02, tracker=tracker) for i in range(12)], concurrency=3)
    assert len(results) == 12
    assert tracker["max"] == 3


def test_runner_runs_probes_in_parallel() -> None:
    start = time.perf_counter()
    run_round([SleepyProbe(f"p{i}", 0.1) for i in range(100)], concurrency=100)
    assert time.perf_counter() - start < 0.5  # sequential would take 10 s


def test_runner_rejects_zero_concurrency() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        run_round([SleepyProbe("p")], concurrency=0)


def test_run_probes_sync_from_a_worker_thread(demo: DemoService, prom: FakePrometheus) -> None:
    prom.set_result(ERROR_RATE, 0.5)
    probes = [
        build_probe({"name": "health", "type": "http", "url": "/healthz"}, base_url=demo.url, prometheus_url=None),
        build_probe(smoke_config(), base_url=demo.url, prometheus_url=None),
        build_probe(
            {"name": "error_rate", "type": "prometheus", "query": ERROR_RATE}, base_url=None, prometheus_url=prom.url
        ),
    ]
    out: list[ProbeResult] = []
    worker = threading.Thread(target=lambda: out.extend(run_probes_sync(probes, now=NOW, deployed_at=None)))
    worker.start()
    worker.join(timeout=10)
    assert [(r.name, r.outcome) for r in out] == [
        ("health", Outcome.PASS),
        ("smoke", Outcome.PASS),
        ("error_rate", Outcome.PASS),
    ]
    assert out[2].value == 0.5


@contextlib.contextmanager
def http_server(answer: Callable[[str, dict[str, str]], tuple[dict[str, str], bytes]]) -> Iterator[str]:
    """A threaded loopback server; `answer(path, request headers)` gives (response headers, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            headers, body = answer(self.path, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_probe_names_itself_and_carries_no_cookie_between_rounds() -> None:
    """A target that sets a cookie must not see it again: every round probes as a fresh visitor."""
    seen: list[dict[str, str]] = []

    def answer(path: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
        seen.append(headers)
        return {"Set-Cookie": "session=abc; Path=/"}, b"ok"

    with http_server(answer) as url:
        probe = build_probe({"name": "health", "type": "http", "url": url + "/h"}, base_url=None, prometheus_url=None)

        async def two_rounds() -> list[ProbeResult]:
            async with make_client() as client:
                return [await probe.run(client, now=NOW, deployed_at=DEPLOYED) for _ in range(2)]

        results = asyncio.run(two_rounds())
    assert [r.outcome for r in results] == [Outcome.PASS, Outcome.PASS]
    assert len(seen) == 2
    assert all(h["user-agent"] == "deploybot-probe" for h in seen)
    assert "cookie" not in seen[1]


def test_http_probe_reads_the_body_in_its_declared_charset() -> None:
    """UTF-8 unless the response names a charset (the transport skips httpx's header parsing otherwise)."""
    bodies = {
        "/latin1": ({"Content-Type": "text/plain; charset=ISO-8859-1"}, "café".encode("latin-1")),
        "/json": ({"Content-Type": "application/json"}, '{"name": "café"}'.encode()),
        "/bare": ({}, "café".encode()),
    }
    with http_server(lambda path, _: bodies[path]) as url:
        results = run_probes_sync(
            [
                build_probe(
                    {"name": path, "type": "http", "url": url + path, "expect_body_contains": "café"},
                    base_url=None,
                    prometheus_url=None,
                )
                for path in bodies
            ],
            now=NOW,
            deployed_at=None,
        )
    assert [(r.name, r.outcome) for r in results] == [(path, Outcome.PASS) for path in bodies]
    assert [r.evidence["response_excerpt"] for r in results] == ["café", '{"name": "café"}', "café"]
