"""Pure: which evaluations and declarations open an alert, and the evidence the alert carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from bot.paging.base import SEVERITIES, Severity
from bot.postdeploy.types import Evaluation
from probes.analysis import format_value

INCIDENT_RULE = "security_incident"


@dataclass(frozen=True)
class AlertSpec:
    rule: str
    severity: Severity
    title: str  # what kind of trouble, e.g. "Error rate above threshold"
    summary: str  # one line, for the page and the message header
    evidence: dict[str, Any]


def _severity(value: str, *, critical: bool) -> Severity:
    if critical:
        return "critical"
    return cast(Severity, value) if value in SEVERITIES else "error"


def _title(ev: Evaluation) -> str:
    if ev.rule.critical or ev.result.critical:
        return "Critical functionality failing"
    verdict = ev.verdict
    if verdict.baseline is not None and ev.rule.max_ratio_to_baseline is not None:
        return f"{ev.rule.label.capitalize()} above baseline"
    return f"{ev.rule.label.capitalize()} crossed its threshold"


def _fmt(value: float | None, unit: str) -> str | None:
    return None if value is None else format_value(value, unit)


def evidence_of(ev: Evaluation) -> dict[str, Any]:
    """JSON-ready facts a person needs to judge the alert: value, bound, baseline, samples, window, since."""
    verdict, result = ev.verdict, ev.result
    since: datetime = verdict.state.crossed_since or ev.at
    out: dict[str, Any] = {
        "probe": result.name,
        "outcome": verdict.outcome.value,
        "reason": verdict.reason,
        "value": verdict.value,
        "value_text": _fmt(verdict.value, result.unit),
        "threshold": verdict.threshold,
        "threshold_text": _fmt(verdict.threshold, result.unit),
        "baseline": verdict.baseline,
        "baseline_text": _fmt(verdict.baseline, result.unit),
        "samples": verdict.samples,
        "window": result.evidence.get("window"),
        "since": since.isoformat(),
        "evaluated_at": ev.at.isoformat(),
        "unit": result.unit,
    }
    error = result.evidence.get("error")
    if error:
        out["error"] = str(error)[:500]
    return {k: v for k, v in out.items() if v is not None}


def from_evaluation(ev: Evaluation, *, service: str, version: str) -> AlertSpec | None:
    """An alert for an evaluation whose rule crossed in this very evaluation; None otherwise."""
    if not ev.verdict.crossed_now:
        return None
    critical = ev.rule.critical or ev.result.critical
    title = _title(ev)
    return AlertSpec(
        rule=ev.rule.name,
        severity=_severity(ev.rule.severity, critical=critical),
        title=title,
        summary=f"{service} {version}: {title}: {ev.verdict.reason}",
        evidence=evidence_of(ev),
    )


def crossings(evaluations: Sequence[Evaluation], *, service: str, version: str) -> list[AlertSpec]:
    specs = (from_evaluation(ev, service=service, version=version) for ev in evaluations)
    return [s for s in specs if s is not None]


def recoveries(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Evaluations where a crossed rule passed its recovery streak."""
    return [ev for ev in evaluations if ev.verdict.recovered_now]


def incident_spec(*, service: str, version: str, declared_by: str, text: str, now: datetime) -> AlertSpec:
    """A security incident a person declared: critical at once, no threshold to wait for."""
    what = " ".join(text.split()) or "no details given"
    return AlertSpec(
        rule=INCIDENT_RULE,
        severity="critical",
        title="Security incident declared",
        summary=f"{service} {version}: security incident declared: {what}",
        evidence={"declared_by": declared_by, "text": text.strip(), "since": now.isoformat()},
    )
