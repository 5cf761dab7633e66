"""Pure parts of alerting: triggers from verdicts, the on-call order, the alert message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.alerts.roster import OnCall, at_level, has_next, roster
from bot.alerts.triggers import crossings, incident_spec, recoveries
from bot.checklist.loader import load_named_template
from bot.postdeploy.types import Evaluation
from bot.render.alert import paging_note, render_alert
from bot.render.ids import Action
from bot.render.limits import message_problems
from bot.store.models import Alert, AlertState, Deployment, Page, RunState
from probes.analysis import Rule, RuleState, evaluate
from probes.base import Outcome, ProbeResult

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def run_of(state: str = RunState.DEPLOYED) -> Deployment:
    return Deployment(id=7, service="payments-api", version="1.4.2", environment="production", state=state)


def evaluations(rule: Rule, results: list[ProbeResult]) -> list[Evaluation]:
    state, out = RuleState(), []
    for i, res in enumerate(results):
        verdict = evaluate(rule, res, state, now=NOW + timedelta(minutes=i))
        state = verdict.state
        out.append(Evaluation(7, rule, res, verdict, NOW + timedelta(minutes=i)))
    return out


def test_one_noisy_sample_is_no_trigger_and_the_crossing_carries_evidence() -> None:
    rule = Rule(name="error_rate", probe="error_rate", max=0.05, min_samples=100, consecutive_failures=2)
    res = ProbeResult("error_rate", Outcome.PASS, NOW, value=0.08, samples=900, unit="ratio", evidence={"window": "5m"})
    first, second = evaluations(rule, [res, res])
    assert crossings([first], service="payments-api", version="1.4.2") == []
    [spec] = crossings([first, second], service="payments-api", version="1.4.2")
    assert spec.rule == "error_rate" and spec.severity == "error"
    ev = spec.evidence
    assert (ev["value_text"], ev["threshold_text"], ev["samples"], ev["window"]) == ("8.0%", "5.0%", 900, "5m")
    assert ev["since"] == (NOW + timedelta(minutes=1)).isoformat()


def test_critical_smoke_failure_is_critical_functionality_failing() -> None:
    rule = Rule(name="smoke", probe="smoke", critical=True, severity="warning")
    res = ProbeResult("smoke", Outcome.FAIL, NOW, unit="checks", evidence={"error": "Payment processing: 500"})
    [spec] = crossings(evaluations(rule, [res]), service="payments-api", version="1.4.2")
    assert spec.severity == "critical" and spec.title == "Critical functionality failing"
    assert "Payment processing: 500" in spec.evidence["error"]


def test_recovery_after_the_configured_passes() -> None:
    rule = Rule(name="error_rate", probe="error_rate", max=0.05, recovery_passes=2)
    bad = ProbeResult("error_rate", Outcome.PASS, NOW, value=0.5, unit="ratio")
    good = ProbeResult("error_rate", Outcome.PASS, NOW, value=0.01, unit="ratio")
    evs = evaluations(rule, [bad, good, good])
    assert recoveries(evs[:2]) == [] and recoveries(evs) == [evs[2]]


def test_roster_follows_the_template_order_and_skips_unmapped_slots() -> None:
    template = load_named_template("lamsa-production")
    people = roster(template, {"product-manager": "UPM", "primary-engineer": "UA", "devops-lead": "UC"})
    assert [p.slot for p in people] == ["primary-engineer", "devops-lead", "product-manager"]
    assert at_level(people, 1, repeat=False) == people[1]
    assert at_level(people, 5, repeat=False) == people[-1] and at_level(people, 4, repeat=True) == people[1]
    assert has_next(people, 1, repeat=False) and not has_next(people, 2, repeat=False)
    assert has_next(people, 2, repeat=True) and not has_next(people[:1], 0, repeat=True)


def alert_of(state: str, **extra: object) -> Alert:
    evidence = {
        "title": "Error rate crossed its threshold",
        "value_text": "12.0%",
        "threshold_text": "5.0%",
        "samples": 1200,
        "window": "5m",
        "since": NOW.isoformat(),
        "probe": "error_rate",
    }
    return Alert(
        id=3,
        deployment_id=7,
        rule="error_rate",
        state=state,
        severity="critical",
        summary="payments-api 1.4.2: error rate 12.0% > 5.0% <script>",
        evidence=evidence,
        opened_at=NOW,
        escalation_level=0,
        **extra,
    )


def buttons(blocks: list[dict[str, object]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]  # type: ignore[attr-defined]


def test_alert_message_per_state_is_valid_and_offers_the_right_buttons() -> None:
    oncall = OnCall("primary-engineer", "Primary Engineer", "UOPS")
    text, blocks = render_alert(alert_of(AlertState.OPEN, next_escalation_at=NOW), run_of(), oncall=oncall)
    assert message_problems(blocks, text=text) == []
    assert buttons(blocks) == [Action.ALERT_ACK, Action.ALERT_ROLLBACK, Action.ALERT_RESOLVE]
    shown = repr(blocks)
    assert "<@UOPS>" in shown and "12.0%" in shown and "1,200" in shown and "&lt;script&gt;" in shown

    acked = alert_of(AlertState.ACKNOWLEDGED, acknowledged_by="ULEAD", acknowledged_at=NOW)
    text, blocks = render_alert(acked, run_of(), oncall=oncall, nonce="2")
    assert message_problems(blocks, text=text) == []
    assert buttons(blocks) == [Action.ALERT_ROLLBACK, Action.ALERT_RESOLVE]
    assert "Acknowledged by <@ULEAD>" in repr(blocks)

    done = alert_of(AlertState.RESOLVED, resolved_by="UOPS", resolved_at=NOW, resolution="false alarm")
    text, blocks = render_alert(done, run_of(RunState.ROLLED_BACK), oncall=oncall, nonce="3")
    assert message_problems(blocks, text=text) == [] and buttons(blocks) == []
    assert "false alarm" in repr(blocks) and "rolled back" in repr(blocks)


def test_paging_note_says_plainly_when_every_provider_failed() -> None:
    failed = Page(
        alert_id=3,
        level=0,
        status="sent",
        provider="slack",
        dedup_key="k",
        sent_at=NOW,
        results=[
            {"provider": "pagerduty", "ok": False, "status": 503, "error": "down"},
            {"provider": "slack", "ok": True, "status": None, "error": ""},
            {"used_fallback": True},
        ],
    )
    note = paging_note([failed])
    assert note is not None and "Every paging provider failed" in note and "pagerduty (503)" in note
    refused = Page(
        alert_id=3,
        level=0,
        status="sent",
        provider="slack",
        dedup_key="k",
        sent_at=NOW,
        results=[
            {"provider": "pagerduty", "ok": False, "status": 400, "error": "Invalid routing key"},
        ],
    )
    assert "refused the page (400): Invalid routing key" in (paging_note([refused]) or "")
    ok = Page(
        alert_id=3,
        level=0,
        status="sent",
        provider="pagerduty",
        dedup_key="k",
        sent_at=NOW,
        results=[{"provider": "pagerduty", "ok": True, "status": 202, "error": ""}],
    )
    assert paging_note([ok]) is None


def test_incident_is_critical_at_once() -> None:
    spec = incident_spec(service="payments-api", version="1.4.2", declared_by="USEC", text=" leaked  key ", now=NOW)
    assert spec.severity == "critical" and spec.summary.endswith("security incident declared: leaked key")
