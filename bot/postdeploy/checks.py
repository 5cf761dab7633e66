"""A service's config -> the probes and rules the scheduler runs (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config import schema
from probes.analysis import Rule
from probes.base import Probe, build_probe

METRIC_KINDS = ("http", "prometheus")  # run by the "metrics" job; smoke probes by the "smoke" job


@dataclass(frozen=True)
class Checks:
    probes: dict[str, Probe]  # by name
    kinds: dict[str, str]  # probe name -> http | smoke | prometheus
    rules: tuple[Rule, ...]
    # Probes that query a pre-deploy baseline, built again without it: the baseline is fixed once deployed,
    # so after the first answer the scheduler caches it and runs these instead (one query fewer per round).
    without_baseline: dict[str, Probe] = field(default_factory=dict)

    def probes_of(self, kinds: tuple[str, ...]) -> list[Probe]:
        return [p for name, p in self.probes.items() if self.kinds[name] in kinds]

    def rules_for(self, probe_names: set[str]) -> list[Rule]:
        return [r for r in self.rules if r.probe in probe_names]


def _unit(name: str) -> str:
    # Only for readable evidence ("5.2%", "310 ms"); the config has no unit key.
    low = name.lower()
    if "error" in low or "ratio" in low:
        return "ratio"
    if "latency" in low or "duration" in low or "p95" in low or "p99" in low:
        return "seconds"
    return ""


def probe_config(
    probe: schema.HttpProbe | schema.SmokeProbe | schema.PrometheusProbe,
    *,
    wants_baseline: bool,
    prometheus: schema.Prometheus | None,
) -> dict[str, Any]:
    """The YAML probe model -> the probes package's config dict. `method` is not supported there: GET only."""
    if isinstance(probe, schema.HttpProbe):
        out: dict[str, Any] = {
            "type": "http",
            "name": probe.name,
            "url": probe.url,
            "expect_status": probe.expect_status,
            "timeout_s": probe.timeout_s,
        }
        if probe.expect_body is not None:
            out["expect_body_contains"] = probe.expect_body
        return out
    if isinstance(probe, schema.SmokeProbe):
        checks = [
            {
                "name": c.name,
                "url": c.url,
                "expect_status": c.expect_status,
                "critical": c.critical,
                "timeout_s": probe.timeout_s,
            }
            for c in probe.checks
        ]
        return {"type": "smoke", "name": probe.name, "checks": checks}
    timeout = probe.timeout_s or (prometheus.timeout_s if prometheus else 5.0)
    extra = {"samples_query": probe.samples_query} if probe.samples_query else {}
    return {
        **extra,
        "type": "prometheus",
        "name": probe.name,
        "query": probe.query,
        "timeout_s": timeout,
        "baseline": wants_baseline,
        "unit": _unit(probe.name),
    }


def rule_from_config(rule: schema.Rule) -> Rule:
    fields: dict[str, Any] = rule.model_dump(exclude_none=True)
    if fields.get("no_data") == "pass":
        fields["no_data"] = "ignore"  # the YAML says "pass"; analysis calls it "ignore" (counts nothing)
    return Rule.from_config(fields)


def build_checks(service: schema.Service | None, prometheus: schema.Prometheus | None) -> Checks:
    """Probes and rules of a service; a probe no rule reads gets a plain rule (its own pass/fail decides)."""
    if service is None:
        return Checks({}, {}, ())
    rules = [rule_from_config(r) for r in service.rules]
    read = {r.probe for r in rules}
    baseline = {r.probe for r in rules if r.max_ratio_to_baseline is not None}
    probes: dict[str, Probe] = {}
    plain: dict[str, Probe] = {}
    kinds: dict[str, str] = {}
    prometheus_url = prometheus.url if prometheus else None
    for p in service.probes:
        cfg = probe_config(p, wants_baseline=p.name in baseline, prometheus=prometheus)
        probes[p.name] = build_probe(cfg, base_url=service.base_url, prometheus_url=prometheus_url)
        if cfg.get("baseline"):
            cfg["baseline"] = False
            plain[p.name] = build_probe(cfg, base_url=service.base_url, prometheus_url=prometheus_url)
        kinds[p.name] = p.type
        if p.name not in read:
            rules.append(Rule(name=p.name, probe=p.name, severity="error"))
    return Checks(probes, kinds, tuple(rules), plain)
