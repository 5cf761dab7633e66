"""Pure verdicts: a Rule reads one ProbeResult and the rule's persisted RuleState and returns a Verdict.

No I/O and no clock: `now` is passed in. Semantics (and how they compare to Argo Rollouts) are in
docs/analysis.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from probes.base import Outcome, ProbeResult, config_error

NoDataPolicy = Literal["fail", "inconclusive", "ignore"]
SEVERITIES = ("critical", "error", "warning", "info")  # PagerDuty's payload.severity values


class _RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    probe: str | None = None
    max: float | None = None
    min: float | None = None
    max_ratio_to_baseline: float | None = None
    min_samples: int = 0
    consecutive_failures: int = 1
    failure_limit: int | None = None
    consecutive_error_limit: int = 4
    no_data: NoDataPolicy = "inconclusive"
    critical: bool = False
    recovery_passes: int = 3
    severity: str = "error"


@dataclass(frozen=True)
class Rule:
    name: str
    probe: str  # name of the ProbeResult this rule reads
    max: float | None = None
    min: float | None = None
    max_ratio_to_baseline: float | None = None  # fail when value > baseline * ratio
    min_samples: int = 0
    consecutive_failures: int = 1  # failing evaluations in a row that cross the rule; 0 = streaks off
    failure_limit: int | None = None  # cross when total failures exceed this (Argo's failureLimit)
    consecutive_error_limit: int = 4  # probe errors in a row that mark the rule `errored`
    no_data: NoDataPolicy = "inconclusive"
    critical: bool = False  # a failure crosses at once; erroring crosses too
    recovery_passes: int = 3
    severity: str = "error"

    def __post_init__(self) -> None:
        def bad(why: str) -> ValueError:
            return ValueError(f"rule '{self.name}': {why}")

        if self.min_samples < 0:
            raise bad("min_samples must be >= 0")
        if self.consecutive_failures < 0:
            raise bad("consecutive_failures must be >= 0")
        if self.failure_limit is not None and self.failure_limit < 0:
            raise bad("failure_limit must be >= 0")
        if self.consecutive_failures == 0 and self.failure_limit is None and not self.critical:
            raise bad("consecutive_failures 0 needs failure_limit (or critical), or the rule never crosses")
        if self.consecutive_error_limit < 1:
            raise bad("consecutive_error_limit must be >= 1")
        if self.recovery_passes < 1:
            raise bad("recovery_passes must be >= 1")
        if self.max_ratio_to_baseline is not None and self.max_ratio_to_baseline <= 0:
            raise bad("max_ratio_to_baseline must be > 0")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise bad("min is greater than max")
        if self.no_data not in ("fail", "inconclusive", "ignore"):
            raise bad("no_data must be fail, inconclusive or ignore")
        if self.severity not in SEVERITIES:
            raise bad(f"severity must be one of {', '.join(SEVERITIES)}")

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> Rule:
        """`probe` defaults to the rule's name. Unknown keys and bad types raise ValueError naming the key."""
        name = str(data.get("name") or "(unnamed)")
        try:
            cfg = _RuleConfig.model_validate(data)
        except ValidationError as exc:
            raise config_error("rule", name, exc) from None
        fields = cfg.model_dump()
        fields["probe"] = cfg.probe or cfg.name
        return cls(**fields)

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def _dt_out(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt_in(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class RuleState:
    """Counters the bot persists as JSON between evaluations, so a restart keeps them."""

    consecutive_failures: int = 0
    total_failures: int = 0
    consecutive_errors: int = 0
    consecutive_passes: int = 0
    consecutive_inconclusive: int = 0
    evaluations: int = 0
    crossed: bool = False
    crossed_since: datetime | None = None
    errored: bool = False  # consecutive_error_limit reached; cleared by the next non-error result
    last_value: float | None = None
    last_outcome: Outcome | None = None
    last_evaluated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["crossed_since"] = _dt_out(self.crossed_since)
        out["last_evaluated_at"] = _dt_out(self.last_evaluated_at)
        out["last_outcome"] = self.last_outcome.value if self.last_outcome else None
        if self.last_value is not None and not math.isfinite(self.last_value):
            out["last_value"] = str(self.last_value)  # JSON has no inf/nan
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleState:
        """Missing keys take defaults and unknown keys are dropped, so older stored states still load."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["crossed_since"] = _dt_in(known.get("crossed_since"))
        known["last_evaluated_at"] = _dt_in(known.get("last_evaluated_at"))
        if known.get("last_outcome") is not None:
            known["last_outcome"] = Outcome(known["last_outcome"])
        if known.get("last_value") is not None:
            known["last_value"] = float(known["last_value"])
        return cls(**known)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome  # this evaluation: pass, fail (may not have crossed yet), inconclusive, error
    state: RuleState
    reason: str
    crossed_now: bool = False  # the rule became crossed in this evaluation: the trigger to page/roll back
    recovered_now: bool = False
    errored_now: bool = False  # consecutive_error_limit reached in this evaluation: "probe erroring"
    value: float | None = None
    threshold: float | None = None  # the bound this evaluation was judged against
    baseline: float | None = None
    samples: int | None = None

    @property
    def crossed(self) -> bool:
        return self.state.crossed


def format_value(value: float, unit: str) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if unit in ("ratio", "percent_ratio"):
        return f"{value * 100:.1f}%"
    if unit in ("seconds", "s"):
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f}s"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:g} {unit}".rstrip()


def _samples_text(result: ProbeResult) -> str:
    if result.samples is None or result.unit == "checks":
        return ""
    window = result.evidence.get("window")
    return f" ({result.samples:,} requests in {window})" if window else f" ({result.samples:,} requests)"


@dataclass(frozen=True)
class _Judgement:
    failing: bool
    reason: str
    threshold: float | None
    inconclusive: bool = False


def _judge_value(rule: Rule, result: ProbeResult, value: float) -> _Judgement:
    def fmt(v: float) -> str:
        return format_value(v, result.unit)

    said = f"{rule.label} {fmt(value)}"
    extra = _samples_text(result)
    if rule.max is not None and value > rule.max:
        return _Judgement(True, f"{said} > {fmt(rule.max)}{extra}", rule.max)
    if rule.min is not None and value < rule.min:
        return _Judgement(True, f"{said} < {fmt(rule.min)}{extra}", rule.min)
    limits = []
    if rule.max is not None:
        limits.append(f"<= {fmt(rule.max)}")
    if rule.min is not None:
        limits.append(f">= {fmt(rule.min)}")
    threshold = rule.max if rule.max is not None else rule.min
    ratio = rule.max_ratio_to_baseline
    if ratio is not None:
        base = result.baseline
        if base is None or base == 0:
            why = "no baseline" if base is None else "baseline is 0"
            return _Judgement(False, f"{said}: {why}, cannot compare to {ratio:g}x baseline{extra}", None, True)
        limit = base * ratio
        if value > limit:
            return _Judgement(True, f"{said} > {ratio:g}x baseline {fmt(base)} (= {fmt(limit)}){extra}", limit)
        limits.append(f"<= {ratio:g}x baseline {fmt(base)}")
        threshold = limit if threshold is None else threshold
    within = f" (limit {', '.join(limits)})" if limits else ""
    return _Judgement(False, f"{said} ok{within}{extra}", threshold)


def evaluate(rule: Rule, result: ProbeResult, state: RuleState, *, now: datetime) -> Verdict:
    if result.name != rule.probe:
        raise ValueError(f"rule '{rule.name}' reads probe '{rule.probe}', got a result for '{result.name}'")
    critical = rule.critical or result.critical
    base = replace(state, evaluations=state.evaluations + 1, last_value=result.value, last_evaluated_at=now)

    def done(
        outcome: Outcome,
        new: RuleState,
        reason: str,
        threshold: float | None = None,
        *,
        crossed_now: bool = False,
        recovered_now: bool = False,
        errored_now: bool = False,
    ) -> Verdict:
        return Verdict(
            outcome=outcome,
            state=replace(new, last_outcome=outcome),
            reason=reason,
            crossed_now=crossed_now,
            recovered_now=recovered_now,
            errored_now=errored_now,
            value=result.value,
            threshold=threshold,
            baseline=result.baseline,
            samples=result.samples,
        )

    if result.outcome is Outcome.ERROR:
        errors = state.consecutive_errors + 1
        errored = errors >= rule.consecutive_error_limit
        # Errors don't count as failures, but they do break a recovery streak.
        new = replace(base, consecutive_errors=errors, errored=errored, consecutive_passes=0)
        error = result.evidence.get("error") or "probe error"
        reason = f"{rule.label}: probe error ({errors} in a row): {error}"
        crossed_now = False
        if errored:
            reason += f"; erroring (limit {rule.consecutive_error_limit})"
            if critical and not state.crossed:
                new = replace(new, crossed=True, crossed_since=now)
                crossed_now = True
        return done(Outcome.ERROR, new, reason, errored_now=errored and not state.errored, crossed_now=crossed_now)

    base = replace(base, consecutive_errors=0, errored=False)

    def inconclusive(reason: str) -> Verdict:
        new = replace(base, consecutive_inconclusive=state.consecutive_inconclusive + 1)
        return done(Outcome.INCONCLUSIVE, new, reason)

    def failing(reason: str, threshold: float | None) -> Verdict:
        streak, total = state.consecutive_failures + 1, state.total_failures + 1
        crosses = (
            critical
            or (rule.consecutive_failures > 0 and streak >= rule.consecutive_failures)
            or (rule.failure_limit is not None and total > rule.failure_limit)
        )
        new = replace(
            base,
            consecutive_failures=streak,
            total_failures=total,
            consecutive_passes=0,
            consecutive_inconclusive=0,
        )
        crossed_now = crosses and not state.crossed
        if crossed_now:
            new = replace(new, crossed=True, crossed_since=now)
        elif not state.crossed:
            reason += f" (failure {streak} in a row, {total} total; not crossed yet)"
        return done(Outcome.FAIL, new, reason, threshold, crossed_now=crossed_now)

    def passing(reason: str, threshold: float | None) -> Verdict:
        passes = state.consecutive_passes + 1
        new = replace(base, consecutive_failures=0, consecutive_passes=passes, consecutive_inconclusive=0)
        recovered = state.crossed and passes >= rule.recovery_passes
        if recovered:
            # A recovered rule starts afresh, or failure_limit would re-cross it on the next blip.
            new = replace(new, crossed=False, crossed_since=None, total_failures=0)
        elif state.crossed:
            reason += f" (recovering: {passes}/{rule.recovery_passes} passes)"
        return done(Outcome.PASS, new, reason, threshold, recovered_now=recovered)

    if rule.min_samples > 0 and (result.samples is None or result.samples < rule.min_samples):
        have = "sample size unknown" if result.samples is None else f"only {result.samples:,} samples"
        return inconclusive(f"{rule.label}: {have} (need {rule.min_samples:,})")
    if result.outcome is Outcome.FAIL:
        return failing(f"{rule.label}: {result.evidence.get('error') or 'probe failed'}", None)
    if result.value is None:
        if rule.no_data == "fail":
            return failing(f"{rule.label}: no data", None)
        if rule.no_data == "ignore":
            # The evaluation doesn't count: no streak moves either way.
            return done(Outcome.PASS, base, f"{rule.label}: no data (ignored by rule)")
        return inconclusive(f"{rule.label}: no data")
    judged = _judge_value(rule, result, result.value)
    if judged.inconclusive:
        return inconclusive(judged.reason)
    if judged.failing:
        return failing(judged.reason, judged.threshold)
    return passing(judged.reason, judged.threshold)
