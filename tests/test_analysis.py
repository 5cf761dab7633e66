"""Pure analysis rules: table-driven, with state threaded (and round-tripped through JSON) between steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from probes.analysis import Rule, RuleState, Verdict, evaluate, format_value
from probes.base import Outcome, ProbeResult

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
P, F, I, E = Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.ERROR  # noqa: E741


def result(
    value: float | None = 0.01,
    *,
    outcome: Outcome | None = None,
    baseline: float | None = None,
    samples: int | None = None,
    unit: str = "ratio",
    name: str = "error_rate",
    critical: bool = False,
    evidence: dict[str, Any] | None = None,
) -> ProbeResult:
    if outcome is None:
        outcome = Outcome.INCONCLUSIVE if value is None else Outcome.PASS
    return ProbeResult(
        name=name,
        outcome=outcome,
        started_at=NOW,
        value=value,
        baseline=baseline,
        samples=samples,
        unit=unit,
        evidence=evidence or {},
        critical=critical,
    )


def error() -> ProbeResult:
    return result(None, outcome=Outcome.ERROR, evidence={"error": "HTTP 503 from Prometheus"})


def rule(**kwargs: Any) -> Rule:
    return Rule.from_config({"name": "error_rate", **kwargs})


def feed(r: Rule, results: list[ProbeResult], state: RuleState | None = None) -> list[Verdict]:
    """Evaluate in order, one minute apart, storing and reloading the state as JSON in between (a restart)."""
    state = state or RuleState()
    verdicts = []
    for n, res in enumerate(results):
        verdict = evaluate(r, res, state, now=NOW + timedelta(minutes=n))
        verdicts.append(verdict)
        state = RuleState.from_dict(json.loads(json.dumps(verdict.state.to_dict(), allow_nan=False)))
        assert state == verdict.state
    return verdicts


# --- one evaluation ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule_cfg", "res", "outcome", "crossed_now", "reason"),
    [
        (
            {"max": 0.05},
            result(0.072, samples=1234, evidence={"window": "5m"}),
            F,
            True,
            "error rate 7.2% > 5.0% (1,234 requests in 5m)",
        ),
        ({"max": 0.05}, result(0.05), P, False, "error rate 5.0% ok (limit <= 5.0%)"),
        ({"max": 0.05}, result(0.0), P, False, "error rate 0.0% ok"),
        ({"min": 10}, result(3, unit="rps"), F, True, "error rate 3 rps < 10 rps"),
        ({"min": 10}, result(10, unit="rps"), P, False, "ok (limit >= 10 rps)"),
        ({"min": 0.5, "max": 2}, result(2.5, unit="seconds"), F, True, "2.50s > 2.00s"),
        ({"min": 0.5, "max": 2}, result(0.4, unit="seconds"), F, True, "400 ms < 500 ms"),
        (
            {"max_ratio_to_baseline": 1.5},
            result(0.84, baseline=0.4, unit="seconds"),
            F,
            True,
            "error rate 840 ms > 1.5x baseline 400 ms (= 600 ms)",
        ),
        (
            {"max_ratio_to_baseline": 1.5},
            result(0.6, baseline=0.4, unit="seconds"),
            P,
            False,
            "ok (limit <= 1.5x baseline 400 ms)",
        ),
        ({"max_ratio_to_baseline": 1.5}, result(0.6, baseline=None), I, False, "no baseline"),
        ({"max_ratio_to_baseline": 1.5}, result(0.6, baseline=0.0), I, False, "baseline is 0"),
        # An absolute limit still fails without a baseline.
        ({"max": 0.05, "max_ratio_to_baseline": 2}, result(0.2, baseline=None), F, True, "20.0% > 5.0%"),
        ({"max": 0.05, "min_samples": 100}, result(0.5, samples=99), I, False, "only 99 samples (need 100)"),
        ({"max": 0.05, "min_samples": 100}, result(0.5, samples=None), I, False, "sample size unknown"),
        ({"max": 0.05, "min_samples": 100}, result(0.5, samples=100), F, True, "50.0% > 5.0% (100 requests)"),
        ({"max": 0.05}, result(None), I, False, "error rate: no data"),
        ({"max": 0.05, "no_data": "inconclusive"}, result(None), I, False, "no data"),
        ({"max": 0.05, "no_data": "fail"}, result(None), F, True, "error rate: no data"),
        ({"max": 0.05, "no_data": "ignore"}, result(None), P, False, "no data (ignored by rule)"),
        # The probe's own judgement (HTTP/smoke) counts as a failure even without thresholds.
        (
            {},
            result(1, outcome=F, unit="checks", evidence={"error": "Payments: status 500"}),
            F,
            True,
            "error rate: Payments: status 500",
        ),
        ({}, result(12.0, unit="ms"), P, False, "error rate 12 ms ok"),
        ({"max": 0.05}, error(), E, False, "probe error (1 in a row): HTTP 503 from Prometheus"),
    ],
)
def test_single_evaluation(
    rule_cfg: dict[str, Any], res: ProbeResult, outcome: Outcome, crossed_now: bool, reason: str
) -> None:
    (verdict,) = feed(rule(**rule_cfg), [res])
    assert verdict.outcome is outcome
    assert verdict.crossed_now is crossed_now
    assert verdict.state.crossed is crossed_now
    assert reason in verdict.reason
    assert (verdict.value, verdict.baseline, verdict.samples) == (res.value, res.baseline, res.samples)
    assert verdict.state.evaluations == 1
    assert verdict.state.last_outcome is outcome
    assert verdict.state.last_evaluated_at == NOW


def test_verdict_threshold_is_the_applied_bound() -> None:
    (v,) = feed(rule(max_ratio_to_baseline=2), [result(0.5, baseline=0.2)])
    assert v.threshold == pytest.approx(0.4)
    (v,) = feed(rule(max=0.05), [result(0.01)])
    assert v.threshold == 0.05


# --- sequences ----------------------------------------------------------------------------------------------------
# Each character is one evaluation: p = passing value, f = failing value, n = no data, e = probe error.
def sequence(code: str) -> list[ProbeResult]:
    return [{"p": result(0.01), "f": result(0.2), "n": result(None), "e": error()}[c] for c in code]


@pytest.mark.parametrize(
    ("rule_cfg", "code", "outcomes", "crossed_at"),
    [
        ({"max": 0.05}, "pf", "PF", [1]),
        ({"max": 0.05, "consecutive_failures": 3}, "ffpfff", "FFPFFF", [5]),
        ({"max": 0.05, "consecutive_failures": 3}, "ffnf", "FFIF", [3]),  # no data doesn't break a streak
        ({"max": 0.05, "consecutive_failures": 3}, "ffef", "FFEF", [3]),  # nor does an error
        ({"max": 0.05, "consecutive_failures": 0, "failure_limit": 2}, "fpfpf", "FPFPF", [4]),
        ({"max": 0.05, "consecutive_failures": 0, "failure_limit": 0}, "pf", "PF", [1]),
        ({"max": 0.05, "consecutive_failures": 3, "failure_limit": 1}, "fpf", "FPF", [2]),
        ({"max": 0.05, "consecutive_failures": 5, "critical": True}, "pf", "PF", [1]),
        ({"max": 0.05, "no_data": "fail", "consecutive_failures": 2}, "nn", "FF", [1]),
        ({"max": 0.05, "no_data": "ignore", "consecutive_failures": 2}, "fnf", "FPF", [2]),
        # Crossed stays crossed (no second crossed_now) until recovery; recovery needs 3 clean passes.
        ({"max": 0.05, "recovery_passes": 3}, "fppfpppf", "FPPFPPPF", [0, 7]),
        ({"max": 0.05, "recovery_passes": 2}, "fpepp", "FPEPP", [0]),
    ],
)
def test_sequences(rule_cfg: dict[str, Any], code: str, outcomes: str, crossed_at: list[int]) -> None:
    verdicts = feed(rule(**rule_cfg), sequence(code))
    assert "".join(v.outcome.name[0] for v in verdicts) == outcomes
    assert [i for i, v in enumerate(verdicts) if v.crossed_now] == crossed_at


def test_recovery_after_consecutive_passes() -> None:
    verdicts = feed(rule(max=0.05, recovery_passes=3), sequence("ffppp" + "p"))
    assert [v.state.crossed for v in verdicts] == [True, True, True, True, False, False]
    assert [v.recovered_now for v in verdicts] == [False, False, False, False, True, False]
    assert "recovering: 2/3 passes" in verdicts[3].reason
    assert verdicts[0].state.crossed_since == NOW
    assert verdicts[1].state.crossed_since == NOW  # since the first crossing, not the latest failure
    assert verdicts[4].state.crossed_since is None


def test_recovery_resets_total_failures() -> None:
    verdicts = feed(rule(max=0.05, consecutive_failures=0, failure_limit=1, recovery_passes=1), sequence("ffpf"))
    assert [v.crossed_now for v in verdicts] == [False, True, False, False]
    assert verdicts[2].recovered_now
    assert verdicts[3].state.total_failures == 1
    assert "failure 1 in a row, 1 total; not crossed yet" in verdicts[3].reason


def test_error_limit_marks_errored_without_crossing() -> None:
    verdicts = feed(rule(max=0.05, consecutive_error_limit=4), sequence("eeeeep"))
    assert [v.state.consecutive_errors for v in verdicts] == [1, 2, 3, 4, 5, 0]
    assert [v.errored_now for v in verdicts] == [False, False, False, True, False, False]
    assert [v.state.errored for v in verdicts] == [False, False, False, True, True, False]
    assert not any(v.state.crossed for v in verdicts)
    assert "erroring (limit 4)" in verdicts[3].reason


def test_an_error_breaks_a_recovery_streak() -> None:
    verdicts = feed(rule(max=0.05, recovery_passes=2), sequence("fpepp"))
    assert [v.recovered_now for v in verdicts] == [False, False, False, False, True]
    assert [v.state.consecutive_passes for v in verdicts] == [0, 1, 0, 1, 2]


def test_error_limit_crosses_a_critical_rule() -> None:
    verdicts = feed(rule(max=0.05, consecutive_error_limit=2, critical=True), sequence("ee"))
    assert [v.crossed_now for v in verdicts] == [False, True]
    assert verdicts[1].outcome is Outcome.ERROR


def test_critical_probe_result_crosses_at_once() -> None:
    failing_smoke = result(1, outcome=F, unit="checks", critical=True, evidence={"error": "Payments: status 500"})
    (v,) = feed(rule(consecutive_failures=3), [failing_smoke])
    assert v.crossed_now


def test_min_samples_does_not_advance_failure_counters() -> None:
    r = rule(max=0.05, min_samples=100, consecutive_failures=2)
    low = result(0.5, samples=3)
    verdicts = feed(r, [result(0.5, samples=500), low, low, result(0.5, samples=500)])
    assert [v.outcome for v in verdicts] == [F, I, I, F]
    assert [v.state.consecutive_failures for v in verdicts] == [1, 1, 1, 2]
    assert [v.state.consecutive_inconclusive for v in verdicts] == [0, 1, 2, 0]
    assert verdicts[3].crossed_now


def test_state_counts_and_last_fields() -> None:
    verdicts = feed(rule(max=0.05, consecutive_failures=10), sequence("fpff"))
    last = verdicts[-1].state
    assert (last.consecutive_failures, last.total_failures, last.consecutive_passes, last.evaluations) == (2, 3, 0, 4)
    assert last.last_value == 0.2
    assert last.last_outcome is Outcome.FAIL
    assert last.last_evaluated_at == NOW + timedelta(minutes=3)


def test_rule_must_match_result_name() -> None:
    with pytest.raises(ValueError, match="reads probe 'error_rate', got a result for 'p95'"):
        evaluate(rule(max=1), result(0.1, name="p95"), RuleState(), now=NOW)


# --- state and config ----------------------------------------------------------------------------------------------
def test_state_round_trips_and_tolerates_old_or_new_keys() -> None:
    state = RuleState(
        consecutive_failures=2,
        total_failures=5,
        crossed=True,
        crossed_since=NOW,
        last_value=float("inf"),
        last_outcome=Outcome.FAIL,
        last_evaluated_at=NOW,
    )
    data = json.loads(json.dumps(state.to_dict(), allow_nan=False))
    assert RuleState.from_dict(data) == state
    assert RuleState.from_dict({"crossed": True, "from_the_future": 1}) == RuleState(crossed=True)


def test_rule_from_config_defaults_probe_to_name() -> None:
    r = Rule.from_config({"name": "p95_latency", "max": 1.5})
    assert (r.probe, r.max, r.no_data, r.consecutive_error_limit, r.recovery_passes) == (
        "p95_latency",
        1.5,
        "inconclusive",
        4,
        3,
    )
    assert Rule.from_config({"name": "x", "probe": "smoke"}).probe == "smoke"


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"name": "er", "maximum": 1}, "rule 'er': unknown key 'maximum'"),
        ({"name": "er", "max": "lots"}, "rule 'er': key 'max'"),
        ({"name": "er", "no_data": "zero"}, "rule 'er': key 'no_data'"),
        ({"max": 1}, "missing key 'name'"),
        ({"name": "er", "consecutive_failures": 0}, "consecutive_failures 0 needs failure_limit"),
        ({"name": "er", "consecutive_error_limit": 0}, "consecutive_error_limit must be >= 1"),
        ({"name": "er", "recovery_passes": 0}, "recovery_passes must be >= 1"),
        ({"name": "er", "min": 2, "max": 1}, "min is greater than max"),
        ({"name": "er", "max_ratio_to_baseline": 0}, "max_ratio_to_baseline must be > 0"),
        ({"name": "er", "severity": "meh"}, "severity must be one of critical, error, warning, info"),
        ({"name": "er", "failure_limit": -1}, "failure_limit must be >= 0"),
    ],
)
def test_rule_config_errors(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Rule.from_config(cfg)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.072, "ratio", "7.2%"),
        (0.42, "seconds", "420 ms"),
        (1.5, "seconds", "1.50s"),
        (250.4, "ms", "250 ms"),
        (3, "", "3"),
        (float("inf"), "seconds", "+Inf"),
    ],
)
def test_format_value(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text
