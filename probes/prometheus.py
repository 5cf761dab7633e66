"""Prometheus probe: one instant query now, optionally the same at deploy time (baseline) and a sample size.

It does not judge thresholds: a value is a PASS measurement; probes/analysis.py decides.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from probes.base import Outcome, ProbeResult, config_error, describe_error, excerpt, get_request

_WINDOW = re.compile(r"\[(\d+(?:ms|[smhdwy]))(?::[^\]]*)?\]")


class PrometheusProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    query: str = Field(min_length=1)
    samples_query: str | None = None
    unit: str = ""
    baseline: bool = False
    timeout_s: float = Field(default=5.0, gt=0)
    critical: bool = False


@dataclass(frozen=True)
class QueryAnswer:
    role: str  # "value", "baseline" or "samples"
    query: str
    time: float
    value: float | None = None
    status: int | None = None
    error: str | None = None
    response_excerpt: str = ""

    def to_evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "query": self.query, "time": self.time}
        out["status"] = self.status
        if self.error:
            out["error"] = self.error
        if self.response_excerpt:
            out["response_excerpt"] = self.response_excerpt
        out["no_data"] = self.error is None and self.value is None
        return out


@functools.lru_cache(maxsize=4096)
def _encoded_query(query: str) -> str:
    """`query=...` percent-encoded, once per query: rounds repeat the same queries at new times."""
    return urlencode({"query": query})


def parse_instant(body: Any) -> tuple[float | None, str | None]:
    """(value, error) from a /api/v1/query JSON body. Empty result or NaN is no data (None), never zero."""
    if not isinstance(body, dict) or body.get("status") != "success":
        kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
        text = body.get("error", "unexpected response") if isinstance(body, dict) else "unexpected response"
        return None, f"{kind}: {text}"
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "vector":
            if not result:
                return None, None
            if len(result) > 1:
                return None, f"query returned {len(result)} series; aggregate it to one (e.g. sum(...))"
            raw = result[0]["value"][1]
        elif kind == "scalar" and isinstance(result, list):
            raw = result[1]
        else:
            return None, f"unsupported resultType {kind!r}; use an instant vector or scalar query"
        value = float(raw)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return None, f"malformed result: {describe_error(exc)}"
    return (None if math.isnan(value) else value), None


def query_window(*queries: str | None) -> str | None:
    """The range of the first `[5m]`-style selector, used in verdict text ("1,234 requests in 5m")."""
    for q in queries:
        if q and (match := _WINDOW.search(q)):
            return match.group(1)
    return None


@dataclass(frozen=True)
class PrometheusProbe:
    name: str
    prometheus_url: str
    query: str
    samples_query: str | None = None
    unit: str = ""
    baseline: bool = False
    timeout_s: float = 5.0
    critical: bool = False

    @functools.cached_property
    def endpoint(self) -> httpx.URL:
        return httpx.URL(self.prometheus_url.rstrip("/") + "/api/v1/query")

    async def instant(self, client: httpx.AsyncClient, role: str, query: str, at: datetime) -> QueryAnswer:
        ts = round(at.timestamp(), 3)
        url = httpx.URL(f"{self.endpoint}?{_encoded_query(query)}&time={ts:.3f}")
        try:
            response = await client.send(get_request(url, self.timeout_s))
        except httpx.HTTPError as exc:
            return QueryAnswer(role, query, ts, error=describe_error(exc))
        status = response.status_code
        value: float | None = None
        error: str | None = f"HTTP {status} from Prometheus" if status >= 500 else None
        if error is None:
            try:
                body = response.json()
            except ValueError:
                error = f"HTTP {status}: response is not JSON"
            else:
                value, error = parse_instant(body)
                if error is None and status != 200:
                    error = f"HTTP {status} from Prometheus"
        # Keep the raw body only when something went wrong: successful answers are summarised by value.
        text = excerpt(response.text) if error else ""
        return QueryAnswer(role, query, ts, value=value, status=status, error=error, response_excerpt=text)

    async def run(self, client: httpx.AsyncClient, *, now: datetime, deployed_at: datetime | None) -> ProbeResult:
        start = time.perf_counter()
        asks = [self.instant(client, "value", self.query, now)]
        if self.baseline and deployed_at is not None:
            asks.append(self.instant(client, "baseline", self.query, deployed_at))
        if self.samples_query:
            asks.append(self.instant(client, "samples", self.samples_query, now))
        # One query (the usual round: baselines are cached) needs no tasks of its own.
        done = [await asks[0]] if len(asks) == 1 else await asyncio.gather(*asks)
        answers = {a.role: a for a in done}
        main = answers["value"]
        evidence: dict[str, Any] = {
            "url": str(self.endpoint),
            "query": self.query,
            "queries": [a.to_evidence() for a in answers.values()],
        }
        if window := query_window(self.samples_query, self.query):
            evidence["window"] = window
        if self.baseline and deployed_at is None:
            evidence["baseline_note"] = "no deploy time, so no baseline"
        errors = [f"{a.role} query: {a.error}" for a in answers.values() if a.error]
        samples_answer = answers.get("samples")
        samples = None
        if samples_answer and samples_answer.value is not None and math.isfinite(samples_answer.value):
            samples = round(samples_answer.value)
        baseline_answer = answers.get("baseline")
        if errors:
            outcome = Outcome.ERROR
            evidence["error"] = "; ".join(errors)
        elif main.value is None:
            outcome = Outcome.INCONCLUSIVE
            evidence["note"] = "no data"
        else:
            outcome = Outcome.PASS
        return ProbeResult(
            name=self.name,
            outcome=outcome,
            started_at=now,
            value=main.value,
            baseline=baseline_answer.value if baseline_answer else None,
            samples=samples,
            unit=self.unit,
            evidence=evidence,
            duration_s=time.perf_counter() - start,
            critical=self.critical,
        )


def build_prometheus_probe(data: dict[str, Any], *, prometheus_url: str) -> PrometheusProbe:
    name = data["name"]
    try:
        cfg = PrometheusProbeConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error("probe", name, exc) from None
    return PrometheusProbe(prometheus_url=prometheus_url, **cfg.model_dump())
