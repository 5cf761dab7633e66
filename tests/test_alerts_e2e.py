"""Issue 6 end to end: Slack emulator + the whole bot + fake PagerDuty/Opsgenie/webhook on loopback.

Verdicts come from probes.analysis.evaluate over real ProbeResults and reach the bot through ctx.on_verdicts,
as the post-deploy scheduler hands them over; escalation time moves with a ManualClock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from bot.alerts import engine as alerting
from bot.clock import ManualClock
from bot.export import export_run
from bot.paging.retry import RetryPolicy
from bot.postdeploy.types import Evaluation
from bot.render.ids import Action, View
from bot.render.limits import message_problems
from bot.sandbox.emulator import SlackEmulator
from bot.stack import BotStack
from bot.store.db import Database
from bot.store.models import Alert, AlertState, Deployment, Page, RunState
from probes.analysis import Rule, RuleState, evaluate
from probes.base import Outcome, ProbeResult
from tests.e2e import CHANNEL, SECRET, USERS, Bot, make_settings, running_bot
from tests.fakes.paging import FakeOpsgenie, FakePagerDuty, FakeWebhookReceiver, closed_port_url

PD_KEY = "pd-routing-key-e2e"
GENIE_KEY = "genie-key-e2e"
ROLLBACK_SECRET = "rollback-secret-e2e"
ONCALL = {"primary-engineer": "UOPS", "secondary-engineer": "ULEAD", "devops-lead": "UPM"}
ERROR_RATE = Rule(
    name="error_rate",
    probe="error_rate",
    max=0.05,
    min_samples=100,
    consecutive_failures=2,
    recovery_passes=2,
    severity="critical",
)
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, retry_after_cap=0.05)
KEY = "deploybot-run-1-error_rate"


def result(value: float, clock: ManualClock, name: str = "error_rate", baseline: float | None = None) -> ProbeResult:
    return ProbeResult(
        name=name,
        outcome=Outcome.PASS,
        started_at=clock.now(),
        value=value,
        baseline=baseline,
        samples=1200,
        unit="ratio",
        evidence={"window": "5m"},
    )


class Verdicts:
    """Feeds evaluations of one rule to the bot, keeping the rule's state as the scheduler would."""

    def __init__(
        self, bot: Bot, clock: ManualClock, run_id: int, rule: Rule = ERROR_RATE, baseline: float | None = None
    ) -> None:
        self.bot, self.clock, self.run_id, self.rule, self.baseline = bot, clock, run_id, rule, baseline
        self.state = RuleState()

    def feed(self, value: float) -> Evaluation:
        res = result(value, self.clock, self.rule.probe, self.baseline)
        verdict = evaluate(self.rule, res, self.state, now=self.clock.now())
        self.state = verdict.state
        ev = Evaluation(self.run_id, self.rule, res, verdict, self.clock.now())
        for hook in self.bot.stack.ctx.on_verdicts:
            hook(self.run_id, [ev])
        return ev


def config(pd: FakePagerDuty | None, hook: FakeWebhookReceiver | None, **extra: Any) -> dict[str, Any]:
    service: dict[str, Any] = {"base_url": "http://127.0.0.1:9", "previous_version": "1.4.1"}
    if hook is not None:
        service["rollback"] = {"webhook_url": hook.url}
    out: dict[str, Any] = {
        "oncall": ONCALL,
        "escalation": {"ack_timeout_minutes": 5},
        "services": {"payments-api": service},
    }
    if pd is not None:
        out["paging"] = {"providers": ["pagerduty"], "pagerduty": {"url": pd.base_url}}
    return out | extra


ENV = {"PAGERDUTY_ROUTING_KEY": PD_KEY, "ROLLBACK_WEBHOOK_SECRET": ROLLBACK_SECRET}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(routing_key=PD_KEY) as fake:
        yield fake


@pytest.fixture
def hook(clock: ManualClock) -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(ROLLBACK_SECRET, clock) as fake:
        yield fake


def deployed_run(bot: Bot) -> int:
    run_id = bot.start_run()
    resp = bot.emu.slash("URM", "/deploy", f"deployed {run_id} --override e2e test of alerting", CHANNEL)
    assert resp.status_code == 200, resp.text
    bot.settle()
    return run_id


def alert_messages(bot: Bot) -> list[dict[str, Any]]:
    """Top-level channel messages carrying alert buttons or an alert header."""
    out = []
    for m in bot.channel_messages():
        if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
            continue
        header = next((b for b in m.get("blocks", []) if b["type"] == "header"), None)
        if header and header["text"]["text"].split(":")[0] in ("OPEN", "ACKNOWLEDGED", "RESOLVED"):
            out.append(m)
    return out


def texts(bot: Bot) -> str:
    return "\n".join(m.get("text", "") for m in bot.channel_messages())


def blocks_text(message: dict[str, Any]) -> str:
    return repr(message.get("blocks"))


def click_alert(bot: Bot, action: Action, user: str) -> None:
    [message] = alert_messages(bot)
    for b in message["blocks"]:
        for e in b.get("elements", []):
            if e.get("action_id") == action:
                resp = bot.emu.click(user, CHANNEL, message["ts"], action, b["block_id"], value=e["value"])
                assert resp.status_code == 200, resp.text
                bot.settle()
                return
    raise AssertionError(f"no {action} button on the alert")


def triggers(pd: FakePagerDuty) -> list[dict[str, Any]]:
    return [r.json for r in pd.requests if r.path == "/v2/enqueue" and r.json["event_action"] == "trigger"]


def eventually(bot: Bot, check: Callable[[], object], timeout: float = 10.0) -> None:
    """Work after a Slack ack runs in the listener's thread; wait for its effect, then for message updates."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    bot.settle()


def tick(bot: Bot, clock: ManualClock) -> None:
    for task in bot.stack.ctx.leader_tasks:
        task(clock.now())
    bot.settle()


def test_crossing_pages_once_escalates_ack_and_roll_back(
    db_url: str, clock: ManualClock, pd: FakePagerDuty, hook: FakeWebhookReceiver
) -> None:
    with running_bot(
        db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], env=ENV, **config(pd, hook)
    ) as bot:
        run_id = deployed_run(bot)
        assert pd.change_events and "payments-api 1.4.2" in pd.change_events[0]["payload"]["summary"]
        feed = Verdicts(bot, clock, run_id)

        feed.feed(0.09)  # one bad sample: failure 1 of 2, pages nobody
        bot.settle()
        assert alert_messages(bot) == [] and triggers(pd) == []

        clock.advance(minutes=1)
        started = time.monotonic()
        ev = feed.feed(0.12)
        assert ev.verdict.crossed_now
        bot.settle()
        assert time.monotonic() - started < 1.0
        [message] = alert_messages(bot)
        shown = blocks_text(message)
        assert "<@UOPS>" in shown and "12.0%" in shown and "5.0%" in shown and "1,200" in shown and "5m" in shown
        assert [
            b["elements"][i]["action_id"] for b in message["blocks"] if b["type"] == "actions" for i in range(3)
        ] == [Action.ALERT_ACK, Action.ALERT_ROLLBACK, Action.ALERT_RESOLVE]
        assert message_problems(message["blocks"], text=message["text"]) == []
        [page] = triggers(pd)
        assert page["dedup_key"] == KEY and page["payload"]["severity"] == "critical"
        assert page["links"] and page["links"][0]["href"].startswith("http")
        assert any("Error rate crossed its threshold" in m.get("text", "") for m in bot.thread(run_id))

        # Still failing, and a fresh crossing of the same rule: the open alert stands, nobody is paged again.
        clock.advance(minutes=1)
        feed.feed(0.15)
        again = Verdicts(bot, clock, run_id)
        again.feed(0.2)
        again.feed(0.2)
        bot.settle()
        assert len(triggers(pd)) == 1 and len(alert_messages(bot)) == 1

        # Not acknowledged within 5 minutes: the secondary engineer is paged and mentioned.
        clock.advance(minutes=2)
        tick(bot, clock)
        assert len(triggers(pd)) == 1
        clock.advance(minutes=2)
        tick(bot, clock)
        assert len(triggers(pd)) == 2
        assert "<@ULEAD> (Secondary Engineer)" in texts(bot)
        assert "<@ULEAD>" in blocks_text(alert_messages(bot)[0])
        tick(bot, clock)
        assert len(triggers(pd)) == 2

        # Acknowledge from Slack: escalation stops, PagerDuty incident acknowledged.
        click_alert(bot, Action.ALERT_ACK, "ULEAD")
        eventually(bot, lambda: pd.incident(KEY).state == "acknowledged")  # type: ignore[union-attr]
        assert "Acknowledged by <@ULEAD>" in blocks_text(alert_messages(bot)[0])
        clock.advance(minutes=30)
        tick(bot, clock)
        assert len(triggers(pd)) == 2

        # Roll back: confirmation modal, signed webhook, Rollback Process posted, run rolled back.
        click_alert(bot, Action.ALERT_ROLLBACK, "UOPS")
        view = bot.open_view("UOPS")
        assert view["callback_id"] == View.ROLLBACK_CONFIRM
        resp = bot.emu.submit_view("UOPS", view["id"], {"reason": {"reason_input": "error rate 12%"}})
        assert resp.status_code == 200
        eventually(bot, lambda: "accepted" in texts(bot))
        [delivery] = hook.deliveries
        assert delivery["action"] == "rollback" and delivery["run_id"] == run_id
        assert delivery["version"] == "1.4.2" and delivery["previous_version"] == "1.4.1"
        thread = "\n".join(repr(m) for m in bot.thread(run_id))
        assert "Database rollback" in thread and "accepted" in thread
        with bot.stack.ctx.db.read() as s:
            run = s.get(Deployment, run_id)
            assert run is not None and run.state == RunState.ROLLED_BACK and run.ended_at is not None
            assert [a.state for a in s.scalars(select(Alert))] == [AlertState.RESOLVED]
        incident = pd.incident(KEY)
        assert incident is not None and incident.state == "resolved"
        assert "Roll back" not in blocks_text(alert_messages(bot)[0])
        assert not [w for w in bot.emu.warnings if "invalid_blocks" in w]

        _, report = export_run(bot.stack.ctx.db, run_id, now=clock.now())
        for word in ("alert", "escalation", "page", "rollback", "rolled_back"):
            assert word in report, word


def test_resolve_from_slack_resolves_at_every_provider(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with FakeOpsgenie(GENIE_KEY) as og:
        paging = {
            "providers": ["pagerduty", "opsgenie"],
            "pagerduty": {"url": pd.base_url},
            "opsgenie": {"url": og.base_url},
        }
        env = {**ENV, "OPSGENIE_API_KEY": GENIE_KEY}
        with running_bot(
            db_url,
            clock=clock,
            extensions=[alerting.extension(policy=FAST)],
            env=env,
            **config(None, None, paging=paging),
        ) as bot:
            run_id = deployed_run(bot)
            feed = Verdicts(bot, clock, run_id)
            feed.feed(0.3)
            feed.feed(0.3)
            bot.settle()
            alert = og.alert(KEY)
            assert alert is not None and alert.priority == "P1" and pd.incident(KEY) is not None
            click_alert(bot, Action.ALERT_RESOLVE, "UOPS")
            view = bot.open_view("UOPS")
            bot.emu.submit_view("UOPS", view["id"], {"reason": {"reason_input": "false alarm: load test"}})
            eventually(bot, lambda: alert.status == "closed")
            incident = pd.incident(KEY)
            assert incident is not None and incident.state == "resolved"
            shown = blocks_text(alert_messages(bot)[0])
            assert "false alarm: load test" in shown and "alert_ack" not in shown


def test_recovery_resolves_automatically(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with running_bot(
        db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], env=ENV, **config(pd, None)
    ) as bot:
        run_id = deployed_run(bot)
        feed = Verdicts(bot, clock, run_id)
        feed.feed(0.3)
        feed.feed(0.3)
        feed.feed(0.01)
        bot.settle()
        assert pd.incident(KEY) is not None and pd.incident(KEY).state == "triggered"  # type: ignore[union-attr]
        feed.feed(0.01)
        bot.settle()
        assert pd.incident(KEY).state == "resolved"  # type: ignore[union-attr]
        assert "resolved automatically" in texts(bot)
        assert blocks_text(alert_messages(bot)[0]).count("RESOLVED") >= 1


def test_retries_429_and_500_and_reports_400_in_thread(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with running_bot(
        db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], env=ENV, **config(pd, None)
    ) as bot:
        run_id = deployed_run(bot)
        eventually(bot, lambda: pd.change_events)  # the deploy's change event goes first, unfaulted
        pd.fail_next(429, retry_after=0)
        pd.fail_next(500)
        feed = Verdicts(bot, clock, run_id)
        feed.feed(0.3)
        feed.feed(0.3)
        bot.settle()
        statuses = [r.status for r in pd.requests if r.path == "/v2/enqueue"]
        assert statuses == [429, 500, 202]
        assert pd.incident(KEY) is not None

        latency = Rule(name="latency_p95", probe="latency_p95", max_ratio_to_baseline=1.5, severity="error")
        pd.reject_next("Event object is invalid", ["payload.summary is bad"])
        Verdicts(bot, clock, run_id, latency, baseline=0.4).feed(0.9)
        bot.settle()
        assert [r.status for r in pd.requests if r.path == "/v2/enqueue"][-1] == 400
        assert sum(1 for r in pd.requests if r.status == 400) == 1  # not retried
        thread = texts(bot)
        assert "pagerduty refused the page (HTTP 400, not retried)" in thread and "payload.summary is bad" in thread
        latency_alert = [m for m in alert_messages(bot) if "Latency" in m["text"] or "latency" in blocks_text(m)]
        assert latency_alert and "Every paging provider failed" in blocks_text(latency_alert[0])


def test_all_providers_down_falls_back_to_slack(db_url: str, clock: ManualClock) -> None:
    paging = {"providers": ["pagerduty"], "pagerduty": {"url": closed_port_url()}}
    with running_bot(
        db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], env=ENV, **config(None, None, paging=paging)
    ) as bot:
        run_id = deployed_run(bot)
        feed = Verdicts(bot, clock, run_id)
        feed.feed(0.3)
        feed.feed(0.3)
        bot.settle()
        dm = bot.emu.state.open_dm("UOPS")
        assert any("You are paged" in m.get("text", "") for m in bot.emu.messages(dm))
        assert "<@UOPS>: you are paged through Slack" in texts(bot)
        shown = blocks_text(alert_messages(bot)[0])
        assert "Every paging provider failed" in shown and "pagerduty" in shown


def test_no_provider_configured_pages_through_slack(db_url: str, clock: ManualClock) -> None:
    with running_bot(db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], **config(None, None)) as bot:
        run_id = deployed_run(bot)
        feed = Verdicts(bot, clock, run_id)
        feed.feed(0.3)
        feed.feed(0.3)
        bot.settle()
        assert "No paging provider is configured" in blocks_text(alert_messages(bot)[0])
        assert any("You are paged" in m.get("text", "") for m in bot.emu.messages(bot.emu.state.open_dm("UOPS")))


def test_incident_command_pages_at_once(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with running_bot(
        db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], env=ENV, **config(pd, None)
    ) as bot:
        run_id = bot.start_run()
        resp = bot.emu.slash("USEC", "/deploy", f"incident {run_id} leaked API key in logs", CHANNEL)
        assert resp.status_code == 200 and "paging on-call" in resp.json()["text"]
        eventually(bot, lambda: triggers(pd) and alert_messages(bot))
        [page] = triggers(pd)
        assert page["dedup_key"] == f"deploybot-run-{run_id}-security_incident"
        assert page["payload"]["severity"] == "critical" and "leaked API key" in page["payload"]["summary"]
        shown = blocks_text(alert_messages(bot)[0])
        assert "Security incident declared" in shown and "<@USEC>" in shown
        assert Action.ALERT_ROLLBACK not in shown  # the run is not deployed: nothing to roll back
        bot.emu.slash("USEC", "/deploy", f"incident {run_id} also the admin token", CHANNEL)
        eventually(bot, lambda: "also the admin token" in texts(bot))
        assert len(triggers(pd)) == 1 and "also the admin token" in texts(bot)


def test_rollback_without_webhook_posts_instructions(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with running_bot(
        db_url, clock=clock, extensions=[alerting.extension(policy=FAST)], env=ENV, **config(pd, None)
    ) as bot:
        run_id = deployed_run(bot)
        feed = Verdicts(bot, clock, run_id)
        feed.feed(0.3)
        feed.feed(0.3)
        bot.settle()
        click_alert(bot, Action.ALERT_ROLLBACK, "UOPS")
        view = bot.open_view("UOPS")
        bot.emu.submit_view("UOPS", view["id"], {"reason": {"reason_input": "bad deploy"}})
        eventually(bot, lambda: "No rollback webhook is configured" in texts(bot))
        thread = "\n".join(repr(m) for m in bot.thread(run_id))
        assert "No rollback webhook is configured" in thread and "1.4.1" in thread and "Application rollback" in thread


# Restarts and replicas: stacks built by hand so two can share one emulator and one database. -----------


@contextmanager
def emulator() -> Iterator[SlackEmulator]:
    emu = SlackEmulator(signing_secret=SECRET)
    emu.start()
    for uid, name in USERS.items():
        emu.add_user(uid, name, name.title())
    emu.add_usergroup("SDM", "deploy-managers", ["UDM"])
    try:
        yield emu
    finally:
        emu.stop()


@contextmanager
def stack_on(emu: SlackEmulator, db_url: str, clock: ManualClock, pd: FakePagerDuty) -> Iterator[Bot]:
    settings = make_settings(emu, db_url, env=ENV, **config(pd, None))
    stack = BotStack(settings, clock=clock, db=Database(db_url), port=0, extensions=[alerting.extension(policy=FAST)])
    stack.start()
    emu.bot_url = f"{stack.url}/slack/events"
    try:
        yield Bot(emu, stack)
    finally:
        stack.stop()


def pages(bot: Bot) -> list[tuple[int, str | None]]:
    with bot.stack.ctx.db.read() as s:
        return [(p.level, p.target) for p in s.scalars(select(Page).order_by(Page.level))]


def test_restart_neither_repages_nor_forgets_escalation(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with emulator() as emu:
        with stack_on(emu, db_url, clock, pd) as first:
            run_id = deployed_run(first)
            feed = Verdicts(first, clock, run_id)
            feed.feed(0.3)
            feed.feed(0.3)
            first.settle()
            state = feed.state
        assert len(triggers(pd)) == 1
        with stack_on(emu, db_url, clock, pd) as second:
            again = Verdicts(second, clock, run_id)
            again.state = state
            clock.advance(minutes=1)
            again.feed(0.3)  # still crossed after the restart
            fresh = Verdicts(second, clock, run_id)
            fresh.feed(0.3)
            fresh.feed(0.3)  # a crossing from scratch (e.g. lost rule state): the open alert stands
            second.settle()
            assert len(triggers(pd)) == 1
            clock.advance(minutes=5)
            tick(second, clock)
            assert len(triggers(pd)) == 2 and pages(second) == [(0, "UOPS"), (1, "ULEAD")]
            assert "<@ULEAD> (Secondary Engineer)" in texts(second)
            assert len(alert_messages(second)) == 1


def test_two_replicas_page_once(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    with emulator() as emu, stack_on(emu, db_url, clock, pd) as one, stack_on(emu, db_url, clock, pd) as two:
        run_id = deployed_run(two)
        evaluations: list[Evaluation] = []
        for _ in range(2):
            res = result(0.3, clock)
            state = evaluations[-1].verdict.state if evaluations else RuleState()
            verdict = evaluate(ERROR_RATE, res, state, now=clock.now())
            evaluations.append(Evaluation(run_id, ERROR_RATE, res, verdict, clock.now()))
        crossing = evaluations[-1]
        assert crossing.verdict.crossed_now
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def handle(bot: Bot) -> None:
            try:
                barrier.wait(timeout=5)
                for hook in bot.stack.ctx.on_verdicts:
                    hook(run_id, [crossing])
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=handle, args=(b,)) for b in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert errors == []
        one.settle()
        two.settle()
        assert len(triggers(pd)) == 1
        assert pages(one) == [(0, "UOPS")]
        assert len(alert_messages(one)) == 1
        clock.advance(minutes=6)
        barrier2 = threading.Barrier(2)

        def escalate(bot: Bot) -> None:
            barrier2.wait(timeout=5)
            for task in bot.stack.ctx.leader_tasks:
                task(clock.now())

        threads = [threading.Thread(target=escalate, args=(b,)) for b in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert len(triggers(pd)) == 2 and pages(two) == [(0, "UOPS"), (1, "ULEAD")]


def _pd_webhook(bot: Bot, secret: str, event_type: str, key: str, *, signature: str | None = None) -> Any:
    import hashlib
    import hmac
    import json

    import httpx

    body = json.dumps(
        {
            "event": {
                "id": f"evt-{event_type}",
                "event_type": event_type,
                "resource_type": "incident",
                "agent": {"type": "user_reference", "summary": "Jane Oncall"},
                "data": {"id": "Q1", "type": "incident", "incident_key": key, "status": event_type.split(".")[1]},
            }
        }
    ).encode()
    sig = signature or "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{bot.stack.url}/api/pagerduty/webhook",
        content=body,
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1=stale, {sig}"},
    )


def test_acknowledged_in_pagerduty_updates_slack(db_url: str, clock: ManualClock, pd: FakePagerDuty) -> None:
    secret = "pd-webhook-secret"
    with running_bot(
        db_url,
        clock=clock,
        extensions=[alerting.extension(policy=FAST)],
        env={**ENV, "PAGERDUTY_WEBHOOK_SECRET": secret},
        **config(pd, None),
    ) as bot:
        run_id = deployed_run(bot)
        feed = Verdicts(bot, clock, run_id)
        feed.feed(0.3)
        feed.feed(0.3)
        bot.settle()
        assert pd.incident(KEY) is not None
        forged = _pd_webhook(bot, "not-the-secret", "incident.acknowledged", KEY)
        assert forged.status_code == 401
        with bot.stack.ctx.db.read() as s:
            assert s.scalars(select(Alert.state)).one() == AlertState.OPEN
        calls_before = len(pd.requests)
        resp = _pd_webhook(bot, secret, "incident.acknowledged", KEY)
        assert resp.json()["status"] == "applied"
        bot.settle()
        with bot.stack.ctx.db.read() as s:
            alert = s.scalars(select(Alert)).one()
            assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, "pagerduty:Jane Oncall")
        shown = blocks_text(alert_messages(bot)[0])
        assert "alert_ack" not in shown and "Jane Oncall" in shown
        assert len(pd.requests) == calls_before  # PagerDuty is not told what it told us
        assert _pd_webhook(bot, secret, "incident.acknowledged", KEY).json()["status"] == "unchanged"
        assert _pd_webhook(bot, secret, "incident.resolved", KEY).json()["state"] == AlertState.RESOLVED
        assert _pd_webhook(bot, secret, "incident.annotated", KEY).json()["status"] == "ignored"
