"""Probe results, the Probe protocol and building probes from config.

A probe measures; it does not decide whether a deploy is bad (probes/analysis.py does). The one exception is
an HTTP/smoke probe, whose expectations (status, body) are part of the measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ValidationError

EXCERPT_CHARS = 500
# What httpx would send, with our name (every probe request, built by us or by the client): a target's logs
# show who is probing.
PROBE_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "User-Agent": "deploybot-probe"}


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"  # the measurement itself failed (unreachable, timeout, bad query); never a FAIL


def _float_out(value: float | None) -> float | str | None:
    # JSON has no NaN/Infinity; keep them readable and reversible.
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def _float_in(value: float | str | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class ProbeResult:
    name: str
    outcome: Outcome
    started_at: datetime
    value: float | None = None  # None means "no data", never zero
    baseline: float | None = None
    samples: int | None = None
    unit: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    critical: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "started_at": self.started_at.isoformat(),
            "value": _float_out(self.value),
            "baseline": _float_out(self.baseline),
            "samples": self.samples,
            "unit": self.unit,
            "evidence": self.evidence,
            "duration_s": round(self.duration_s, 6),
            "critical": self.critical,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(
            name=data["name"],
            outcome=Outcome(data["outcome"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            value=_float_in(data.get("value")),
            baseline=_float_in(data.get("baseline")),
            samples=data.get("samples"),
            unit=data.get("unit", ""),
            evidence=dict(data.get("evidence") or {}),
            duration_s=float(data.get("duration_s", 0.0)),
            critical=bool(data.get("critical", False)),
        )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def get_request(url: httpx.URL, timeout_s: float) -> httpx.Request:
    """A GET for `client.send`, with what `client.get` would add (the timeout, our user agent)."""
    return httpx.Request("GET", url, headers=PROBE_HEADERS, extensions={"timeout": httpx.Timeout(timeout_s).as_dict()})


def describe_error(exc: BaseException) -> str:
    """Short text for an exception; httpx timeouts often carry an empty message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def error_result(
    name: str,
    error: str,
    *,
    started_at: datetime,
    duration_s: float,
    unit: str = "",
    critical: bool = False,
    evidence: dict[str, Any] | None = None,
) -> ProbeResult:
    return ProbeResult(
        name=name,
        outcome=Outcome.ERROR,
        started_at=started_at,
        unit=unit,
        evidence={**(evidence or {}), "error": excerpt(error)},
        duration_s=duration_s,
        critical=critical,
    )


class Probe(Protocol):
    @property
    def name(self) -> str: ...  # read-only, so frozen dataclasses satisfy it

    async def run(self, client: httpx.AsyncClient, *, now: datetime, deployed_at: datetime | None) -> ProbeResult: ...


def config_error(kind: str, name: str, exc: ValidationError) -> ValueError:
    """One readable ValueError naming the probe/rule and each offending key."""
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(config)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'")
        elif err["type"] == "missing":
            problems.append(f"missing key '{key}'")
        else:
            problems.append(f"key '{key}': {err['msg']}")
    return ValueError(f"{kind} '{name}': " + "; ".join(problems))


def resolve_url(url: str, base_url: str | None, *, probe: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    if not base_url:
        raise ValueError(f"probe '{probe}': relative url '{url}' needs the service base_url")
    return base_url.rstrip("/") + "/" + url.lstrip("/")


def build_probe(config: dict[str, Any] | BaseModel, *, base_url: str | None, prometheus_url: str | None) -> Probe:
    """Build one probe from its config dict (or a pydantic model holding the same keys)."""
    # Imported here because the probe modules import this one.
    from probes.http import build_http_probe
    from probes.prometheus import build_prometheus_probe
    from probes.smoke import build_smoke_probe

    data = config.model_dump(exclude_unset=True) if isinstance(config, BaseModel) else dict(config)
    name = str(data.get("name") or "(unnamed)")
    if "name" not in data or not isinstance(data["name"], str) or not data["name"]:
        raise ValueError(f"probe '{name}': missing key 'name' (a non-empty string)")
    kind = data.pop("type", None)
    if kind == "http":
        return build_http_probe(data, base_url=base_url)
    if kind == "smoke":
        return build_smoke_probe(data, base_url=base_url)
    if kind == "prometheus":
        if not prometheus_url:
            raise ValueError(f"probe '{name}': type prometheus needs prometheus_url")
        return build_prometheus_probe(data, prometheus_url=prometheus_url)
    raise ValueError(f"probe '{name}': key 'type' must be one of http, smoke, prometheus (got {kind!r})")
