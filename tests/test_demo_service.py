"""The demo service over real HTTP: endpoints, controls, deterministic faults, metrics, traffic generator."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.sandbox.demo_service import BUCKETS, DemoService


@pytest.fixture
def demo() -> Iterator[DemoService]:
    with DemoService() as service:
        yield service


@pytest.fixture
def http(demo: DemoService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=5) as client:
        yield client


def metric(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not in metrics"
    return float(match.group(1))


def test_url_is_loopback_with_a_real_port(demo: DemoService) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", demo.url)
    assert not demo.url.endswith(":0")


def test_health_toggles_through_control(http: httpx.Client) -> None:
    assert (http.get("/healthz").status_code, http.get("/healthz").json()) == (200, {"status": "ok"})
    assert http.post("/control", json={"healthy": False}).json()["healthy"] is False
    response = http.get("/healthz")
    assert (response.status_code, response.json()) == (503, {"status": "unhealthy"})


def test_smoke_endpoints_and_broken_checks(http: httpx.Client) -> None:
    for check in ("api", "auth", "payments", "mobile"):
        assert http.get(f"/smoke/{check}").json() == {"ok": True, "check": check}
    http.post("/control", json={"broken": ["payments"]})
    broken = http.get("/smoke/payments")
    assert (broken.status_code, broken.json()["ok"]) == (500, False)
    assert http.get("/smoke/api").status_code == 200
    assert http.get("/smoke/unknown").status_code == 404


def test_error_injection_is_deterministic(demo: DemoService, http: httpx.Client) -> None:
    demo.configure(error_rate=0.2)
    codes = [http.get("/api/work").status_code for _ in range(20)]
    assert [i + 1 for i, c in enumerate(codes) if c == 500] == [5, 10, 15, 20]
    snap = demo.snapshot()
    assert (snap["requests"], snap["errors"], snap["by_code"]) == (20, 4, {"200": 16, "500": 4})
    assert snap["error_ratio"] == 0.2


def test_error_rate_one_fails_everything_and_zero_nothing(demo: DemoService, http: httpx.Client) -> None:
    demo.configure(error_rate=1)
    assert {http.get("/api/work").status_code for _ in range(5)} == {500}
    demo.configure(error_rate=0)
    assert {http.get("/api/work").status_code for _ in range(5)} == {200}


def test_metrics_are_prometheus_text(demo: DemoService, http: httpx.Client) -> None:
    demo.configure(error_rate=0.25)
    for _ in range(8):
        http.get("/api/work")
    response = http.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert metric(text, 'http_requests_total{job="demo",code="200"}') == 6
    assert metric(text, 'http_requests_total{job="demo",code="500"}') == 2
    counts = [metric(text, f'http_request_duration_seconds_bucket{{job="demo",le="{b:g}"}}') for b in BUCKETS]
    assert counts == sorted(counts)  # cumulative
    assert metric(text, 'http_request_duration_seconds_bucket{job="demo",le="+Inf"}') == 8
    assert metric(text, 'http_request_duration_seconds_count{job="demo"}') == 8
    assert metric(text, 'http_request_duration_seconds_sum{job="demo"}') >= 0


def test_latency_is_injected_and_observed(demo: DemoService, http: httpx.Client) -> None:
    demo.configure(latency_ms=120)
    start = time.perf_counter()
    assert http.get("/api/work").status_code == 200
    assert time.perf_counter() - start >= 0.12
    text = http.get("/metrics").text
    assert metric(text, 'http_request_duration_seconds_bucket{job="demo",le="0.1"}') == 0
    assert metric(text, 'http_request_duration_seconds_bucket{job="demo",le="0.25"}') == 1


def test_control_get_and_validation(http: httpx.Client) -> None:
    assert http.get("/control").json() == {
        "error_rate": 0.0,
        "latency_ms": 0.0,
        "healthy": True,
        "broken": [],
        "traffic_rps": 0.0,
    }
    for bad, why in [
        ({"error_rte": 0.1}, "unknown setting(s): error_rte"),
        ({"error_rate": 1.5}, "between 0 and 1"),
        ({"latency_ms": "slow"}, "latency_ms must be a number"),
        ({"healthy": "no"}, "healthy must be true or false"),
        ({"broken": ["billing"]}, "broken must be a list"),
    ]:
        response = http.post("/control", json=bad)
        assert response.status_code == 400
        assert why in response.json()["error"]
    assert http.post("/control", content=b"[1]").status_code == 400
    assert http.post("/control", content=b"{nope").status_code == 400
    assert http.get("/control").json()["error_rate"] == 0.0  # nothing applied


def test_traffic_generator_moves_metrics_without_clients() -> None:
    with DemoService(traffic_rps=100, error_rate=0.5) as demo:
        deadline = time.monotonic() + 3
        while demo.snapshot()["requests"] < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        snap = demo.snapshot()
    assert snap["requests"] >= 6
    assert snap["errors"] in (snap["requests"] // 2, (snap["requests"] + 1) // 2)


def test_traffic_can_be_started_through_control(demo: DemoService, http: httpx.Client) -> None:
    http.post("/control", json={"traffic_rps": 100})
    deadline = time.monotonic() + 3
    while demo.snapshot()["requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert demo.snapshot()["requests"] >= 3


def test_unknown_paths_and_lifecycle() -> None:
    service = DemoService().start()
    try:
        with httpx.Client(base_url=service.url) as client:
            assert client.get("/nope").status_code == 404
            assert client.post("/healthz").status_code == 404
        with pytest.raises(RuntimeError, match="already started"):
            service.start()
    finally:
        service.stop()
    service.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not started"):
        _ = service.url
