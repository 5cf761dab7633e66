"""Checks that span several keys (references between probes and rules, providers and secrets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config.env import EnvValues
from bot.config.problems import format_path
from bot.config.schema import DeployConfig, Paging, Service
from bot.config.yaml_source import YamlDocument


def _at(doc: YamlDocument | None, path: list[str | int]) -> str:
    line = doc.line_of(tuple(path)) if doc is not None else None
    return f" (line {line})" if line is not None else ""


def service_problems(name: str, service: Service, *, has_prometheus: bool, doc: YamlDocument | None) -> list[str]:
    probes = [(p.name, p.type) for p in service.probes]
    rules = [(r.name, r.probe) for r in service.rules]
    return reference_problems(name, probes, rules, has_prometheus=has_prometheus, doc=doc)


def raw_service_problems(name: str, raw: Any, *, has_prometheus: bool, doc: YamlDocument | None) -> list[str]:
    """The same checks on a service that failed validation: look at whatever entries are readable."""
    if not isinstance(raw, dict):
        return []

    def pairs(key: str, a: str, b: str) -> list[tuple[str, str] | None]:
        entries = raw.get(key)
        if not isinstance(entries, list):
            return []
        return [
            (e[a], e[b]) if isinstance(e, dict) and isinstance(e.get(a), str) and isinstance(e.get(b), str) else None
            for e in entries
        ]

    return reference_problems(
        name,
        pairs("probes", "name", "type"),
        pairs("rules", "name", "probe"),
        has_prometheus=has_prometheus,
        doc=doc,
    )


def reference_problems(
    name: str,
    probes: Sequence[tuple[str, str] | None],
    rules: Sequence[tuple[str, str] | None],
    *,
    has_prometheus: bool,
    doc: YamlDocument | None,
) -> list[str]:
    """`probes` are (name, type) and `rules` (name, probe) by position; None marks an unreadable entry."""
    out: list[str] = []
    base: list[str | int] = ["services", name]
    probe_names: list[str] = []
    for i, probe in enumerate(probes):
        if probe is None:
            continue
        probe_name, probe_type = probe
        if probe_name in probe_names:
            path = [*base, "probes", i, "name"]
            out.append(f"{format_path(path)}: probe name '{probe_name}' used twice{_at(doc, path)}")
        probe_names.append(probe_name)
        if probe_type == "prometheus" and not has_prometheus:
            path = [*base, "probes", i, "type"]
            out.append(f"{format_path(path)}: a prometheus probe needs the top-level prometheus.url{_at(doc, path)}")
    rule_names: set[str] = set()
    for i, rule in enumerate(rules):
        if rule is None:
            continue
        rule_name, rule_probe = rule
        if rule_name in rule_names:
            path = [*base, "rules", i, "name"]
            out.append(f"{format_path(path)}: rule name '{rule_name}' used twice{_at(doc, path)}")
        rule_names.add(rule_name)
        if rule_probe not in probe_names:
            path = [*base, "rules", i, "probe"]
            known = ", ".join(dict.fromkeys(probe_names)) or "none defined"
            out.append(f"{format_path(path)}: unknown probe '{rule_probe}' (probes: {known}){_at(doc, path)}")
    return out


def config_problems(
    config: DeployConfig, env: EnvValues, *, require_slack: bool, doc: YamlDocument | None
) -> list[str]:
    out: list[str] = []
    if require_slack and config.channel is None:
        out.append("channel: missing; set the deployment channel id (C...) in the YAML file")
    for name, service in config.services.items():
        out += service_problems(name, service, has_prometheus=config.prometheus is not None, doc=doc)
    return out + paging_problems(config.paging, env, doc=doc)


def paging_problems(paging: Paging, env: EnvValues, *, doc: YamlDocument | None) -> list[str]:
    out: list[str] = []
    listed = paging.providers or ()
    path: list[str | int] = ["paging", "providers"]
    if "pagerduty" in listed and env.pagerduty_routing_key is None:
        out.append(f"PAGERDUTY_ROUTING_KEY: missing; paging.providers lists pagerduty{_at(doc, path)}")
    if "opsgenie" in listed and env.opsgenie_api_key is None:
        out.append(f"OPSGENIE_API_KEY: missing; paging.providers lists opsgenie{_at(doc, path)}")
    if "webhook" in listed and paging.webhook is None:
        out.append(f"paging.webhook.url: missing; paging.providers lists webhook{_at(doc, path)}")
    return out
