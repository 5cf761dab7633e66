"""HTTP probe: status code, measured latency, JSON/body expectations. value = latency in ms."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from probes.base import Outcome, ProbeResult, config_error, describe_error, excerpt, get_request, resolve_url


class HttpCheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    expect_status: int = 200
    max_latency_ms: float | None = Field(default=None, gt=0)
    expect_json: dict[str, Any] | None = None
    expect_body_contains: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)


class HttpProbeConfig(HttpCheckConfig):
    name: str
    critical: bool = False


def json_contains(actual: Any, expected: Any) -> bool:
    """True when every key in `expected` is in `actual` with an equal value (recursively for objects)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and json_contains(actual[k], v) for k, v in expected.items()
        )
    return bool(actual == expected)


@dataclass(frozen=True)
class CheckResult:
    """One HTTP request's measurement. `errored` = no response at all (connect error, timeout)."""

    name: str
    url: str
    ok: bool
    errored: bool
    critical: bool
    status: int | None
    latency_ms: float | None
    problems: tuple[str, ...]
    body_excerpt: str

    @property
    def error(self) -> str | None:
        return "; ".join(self.problems) or None

    def to_evidence(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "critical": self.critical,
            "error": self.error,
            "response_excerpt": self.body_excerpt,
        }


@dataclass(frozen=True)
class HttpCheck:
    name: str
    url: str  # absolute
    expect_status: int = 200
    max_latency_ms: float | None = None
    expect_json: dict[str, Any] | None = None
    expect_body_contains: str | None = None
    timeout_s: float = 5.0
    critical: bool = False

    @functools.cached_property
    def request(self) -> httpx.Request:
        """Built once and sent every round: building a request (URL parsing, header merging) cost a fifth of
        a probe round's CPU. Sent as is, so it carries no cookie from another probe."""
        return get_request(httpx.URL(self.url), self.timeout_s)

    @classmethod
    def from_config(cls, name: str, cfg: HttpCheckConfig, *, url: str, critical: bool) -> HttpCheck:
        return cls(
            name=name,
            url=url,
            expect_status=cfg.expect_status,
            max_latency_ms=cfg.max_latency_ms,
            expect_json=cfg.expect_json,
            expect_body_contains=cfg.expect_body_contains,
            timeout_s=cfg.timeout_s,
            critical=critical,
        )

    def problems(self, response: httpx.Response, latency_ms: float) -> list[str]:
        found = []
        if response.status_code != self.expect_status:
            found.append(f"status {response.status_code}, expected {self.expect_status}")
        if self.max_latency_ms is not None and latency_ms > self.max_latency_ms:
            found.append(f"latency {latency_ms:.0f} ms > {self.max_latency_ms:g} ms")
        if self.expect_body_contains is not None and self.expect_body_contains not in response.text:
            found.append(f"body does not contain {self.expect_body_contains!r}")
        if self.expect_json is not None:
            try:
                body = response.json()
            except ValueError:
                found.append("body is not JSON")
            else:
                if not json_contains(body, self.expect_json):
                    found.append(f"JSON body does not match {self.expect_json}")
        return found

    async def measure(self, client: httpx.AsyncClient) -> CheckResult:
        start = time.perf_counter()
        try:
            response = await client.send(self.request)
        except httpx.HTTPError as exc:
            return CheckResult(self.name, self.url, False, True, self.critical, None, None, (describe_error(exc),), "")
        latency_ms = (time.perf_counter() - start) * 1000
        problems = self.problems(response, latency_ms)
        return CheckResult(
            name=self.name,
            url=self.url,
            ok=not problems,
            errored=False,
            critical=self.critical,
            status=response.status_code,
            latency_ms=latency_ms,
            problems=tuple(problems),
            body_excerpt=excerpt(response.text),
        )


@dataclass(frozen=True)
class HttpProbe:
    name: str
    check: HttpCheck

    async def run(self, client: httpx.AsyncClient, *, now: datetime, deployed_at: datetime | None) -> ProbeResult:
        start = time.perf_counter()
        checked = await self.check.measure(client)
        outcome = Outcome.ERROR if checked.errored else (Outcome.PASS if checked.ok else Outcome.FAIL)
        evidence = checked.to_evidence()
        evidence.pop("name")
        return ProbeResult(
            name=self.name,
            outcome=outcome,
            started_at=now,
            value=checked.latency_ms,
            unit="ms",
            evidence=evidence,
            duration_s=time.perf_counter() - start,
            critical=self.check.critical,
        )


def build_http_probe(data: dict[str, Any], *, base_url: str | None) -> HttpProbe:
    name = data["name"]
    try:
        cfg = HttpProbeConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error("probe", name, exc) from None
    url = resolve_url(cfg.url, base_url, probe=name)
    return HttpProbe(name=name, check=HttpCheck.from_config(name, cfg, url=url, critical=cfg.critical))
