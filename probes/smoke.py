"""Smoke probe: a named list of HTTP checks run concurrently. value = checks failed, samples = checks run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from probes.base import Outcome, ProbeResult, config_error, resolve_url
from probes.http import HttpCheck, HttpCheckConfig


class SmokeCheckConfig(HttpCheckConfig):
    name: str
    critical: bool = False


class SmokeProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    checks: list[SmokeCheckConfig] = Field(min_length=1)


@dataclass(frozen=True)
class SmokeProbe:
    name: str
    checks: tuple[HttpCheck, ...]

    async def run(self, client: httpx.AsyncClient, *, now: datetime, deployed_at: datetime | None) -> ProbeResult:
        start = time.perf_counter()
        results = await asyncio.gather(*(check.measure(client) for check in self.checks))
        mismatched = [r for r in results if not r.ok and not r.errored]
        errored = [r for r in results if r.errored]
        # A check that got an answer and it was wrong is a FAIL; only unreachable checks make it an ERROR.
        if mismatched:
            outcome = Outcome.FAIL
        elif errored:
            outcome = Outcome.ERROR
        else:
            outcome = Outcome.PASS
        failed = [r for r in results if not r.ok]
        evidence: dict[str, Any] = {"checks": [r.to_evidence() for r in results]}
        if failed:
            evidence["error"] = "; ".join(f"{r.name}: {r.error}" for r in failed)
        return ProbeResult(
            name=self.name,
            outcome=outcome,
            started_at=now,
            value=float(len(failed)),
            samples=len(results),
            unit="checks",
            evidence=evidence,
            duration_s=time.perf_counter() - start,
            critical=any(r.critical for r in failed),
        )


def build_smoke_probe(data: dict[str, Any], *, base_url: str | None) -> SmokeProbe:
    name = data["name"]
    try:
        cfg = SmokeProbeConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error("probe", name, exc) from None
    names = [c.name for c in cfg.checks]
    if len(set(names)) != len(names):
        raise ValueError(f"probe '{name}': check names must be unique (got {names})")
    checks = tuple(
        HttpCheck.from_config(c.name, c, url=resolve_url(c.url, base_url, probe=name), critical=c.critical)
        for c in cfg.checks
    )
    return SmokeProbe(name=name, checks=checks)
