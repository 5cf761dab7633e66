"""Post-deploy ticks end to end: Slack emulator + bot, DemoService and FakePrometheus on loopback, ManualClock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_context
from bot.clock import Clock, ManualClock
from bot.context import AppContext
from bot.postdeploy.service import PostDeploy
from bot.postdeploy.types import Evaluation
from bot.sandbox.demo_service import DemoService
from bot.services.runs import mark_deployed, start_run
from bot.settings import build_settings
from bot.store.db import Database
from bot.store.models import ChecklistItem, Deployment, ProbeRun, RuleStateRow, RunState
from tests.e2e import CHANNEL, Bot, running_bot
from tests.fakes.prometheus import FakePrometheus

ERR_Q = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
SAMPLES_Q = "sum(increase(http_requests_total[5m]))"
LAT_Q = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
ITEM = "post-deployment-tasks."


def service_config(demo: DemoService, prom: FakePrometheus) -> dict[str, Any]:
    probes = [
        {"name": "health", "type": "http", "url": "/healthz", "expect_body": "ok"},
        {
            "name": "smoke",
            "type": "smoke",
            "checks": [{"name": "API smoke tests", "url": "/smoke/api"}, {"name": "Auth", "url": "/smoke/auth"}],
        },
        {"name": "error_rate", "type": "prometheus", "query": ERR_Q, "samples_query": SAMPLES_Q},
        {"name": "latency_p95", "type": "prometheus", "query": LAT_Q},
    ]
    rules = [
        {"name": "error_rate", "probe": "error_rate", "max": 0.05, "min_samples": 10, "consecutive_failures": 3},
        {"name": "latency_p95", "probe": "latency_p95", "max_ratio_to_baseline": 1.5, "consecutive_failures": 3},
        {"name": "smoke", "probe": "smoke", "critical": True},
    ]
    return {
        "services": {"payments-api": {"base_url": demo.url, "probes": probes, "rules": rules}},
        "prometheus": {"url": prom.url},
    }


@pytest.fixture
def demo() -> Iterator[DemoService]:
    with DemoService() as service:
        yield service


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        fake.set_result(ERR_Q, 0.01)
        fake.set_result(SAMPLES_Q, 500)
        fake.set_result(LAT_Q, 0.2)
        yield fake


@dataclass
class Harness:
    holder: list[PostDeploy] = field(default_factory=list)
    verdicts: list[Evaluation] = field(default_factory=list)

    def extension(self, ctx: AppContext) -> Callable[[], None]:
        pd = PostDeploy(ctx, instance="test")
        ctx.on_deployed.append(pd.on_deployed)
        ctx.on_verdicts.append(lambda _run, evs: self.verdicts.extend(evs))
        self.holder.append(pd)
        return pd.close

    @property
    def pd(self) -> PostDeploy:
        return self.holder[0]


def deploy(bot: Bot) -> int:
    run_id = bot.start_run()
    resp = bot.emu.slash("URM", "/deploy", f"deployed {run_id} --override testing post-deploy", CHANNEL)
    assert resp.status_code == 200, resp.text
    bot.settle()
    return run_id


def tick_every(pd: PostDeploy, clock: ManualClock, *, seconds: float, until: datetime) -> None:
    while clock.now() < until:
        clock.advance(seconds=seconds)
        pd.tick()


def items(db: Database, run_id: int) -> dict[str, ChecklistItem]:
    with db.read() as s:
        rows = s.scalars(select(ChecklistItem).where(ChecklistItem.deployment_id == run_id))
        return {i.key.removeprefix(ITEM): i for i in rows if i.key.startswith(ITEM)}


def thread_texts(bot: Bot, run_id: int) -> list[str]:
    out = []
    for m in bot.thread(run_id):
        out.append(m.get("text", "") + "\n" + "\n".join(b.get("text", {}).get("text", "") for b in m.get("blocks", [])))
    return out


def test_first_hour_summary_ticks_items_with_evidence_and_leaves_failures_open(
    db_url: str, demo: DemoService, prom: FakePrometheus
) -> None:
    clock, h = ManualClock(), Harness()
    with running_bot(db_url, clock=clock, extensions=[h.extension], **service_config(demo, prom)) as bot:
        run_id = deploy(bot)
        assert any("Post-deploy checks scheduled" in t for t in thread_texts(bot, run_id))
        start = clock.now()
        tick_every(h.pd, clock, seconds=60, until=start.replace(minute=start.minute + 30))
        prom.set_result(ERR_Q, 0.2)  # errors spike at half time: the rule crosses after 3 failures in a row
        tick_every(h.pd, clock, seconds=60, until=start.replace(hour=start.hour + 1))
        bot.settle()
        found = items(bot.stack.ctx.db, run_id)
        perf = found["check-performance-metrics"]
        assert perf.state == "done" and perf.source == "probe" and perf.changed_by == "deploybot"
        assert perf.evidence is not None and "latency_p95 60 pass" in perf.evidence["summary"]
        assert perf.evidence["rules"][0]["baseline"] == 0.2 and perf.evidence["rules"][0]["query"] == LAT_Q
        assert found["validate-core-features"].state == "done"
        errors = found["monitor-error-rates"]
        assert errors.state == "open" and errors.evidence is None
        assert found["review-logs"].state == "open"  # nothing measures it: a person's job
        assert found["performance-trending"].state == "open"  # decided at +24 h
        crossed = [e for e in h.verdicts if e.verdict.crossed_now]
        assert [e.rule.name for e in crossed] == ["error_rate"]
        summary = [t for t in thread_texts(bot, run_id) if "First-hour summary" in t]
        assert len(summary) == 1
        assert "Left open *Monitor error rates*: error_rate: crossed its threshold" in summary[0]
        assert "Ticked *Check performance metrics*" in summary[0]
        assert f"query `{ERR_Q}`" in summary[0] and "samples 500" in summary[0]
        # The section message shows the bot's evidence next to the ticked item.
        item_msg, _ = bot.find_item(run_id, ITEM + "check-performance-metrics")
        assert "latency_p95 60 pass" in str(item_msg["blocks"])
        assert bot.emu.warnings == []  # every message within Slack's limits


def test_hourly_trend_is_one_message_edited_in_place(db_url: str, demo: DemoService, prom: FakePrometheus) -> None:
    clock, h = ManualClock(), Harness()
    with running_bot(db_url, clock=clock, extensions=[h.extension], **service_config(demo, prom)) as bot:
        run_id = deploy(bot)
        bot.emu.clear_calls()
        for hour in range(1, 5):
            prom.set_result(LAT_Q, 0.2 + hour / 100)
            clock.advance(hours=1)
            h.pd.tick()
            bot.settle()
        trend = [m for m in bot.thread(run_id) if "· hourly trend" in m.get("text", "")]
        assert len(trend) == 1
        body = str(trend[0]["blocks"])
        assert "(4/24 h)" in body and "▁▃▆█" in body and "*latency_p95*" in body
        posts = [c for c in bot.emu.calls_to("chat.postMessage") if "· hourly trend" in str(c.params.get("text"))]
        updates = [c for c in bot.emu.calls_to("chat.update") if "· hourly trend" in str(c.params.get("text"))]
        assert len(posts) == 1 and len(updates) == 3
        # The first-hour summary was posted once, late but not dropped.
        assert sum("First-hour summary" in t for t in thread_texts(bot, run_id)) == 1
        assert bot.emu.warnings == []


# --- without Slack: runs created in the database, the tick called directly ---------------------------


def make_ctx(db_url: str, clock: Clock, config: dict[str, Any]) -> AppContext:
    settings = build_settings({"channel": CHANNEL, **config}, {"DATABASE_URL": db_url}, require_slack=False)
    return build_context(settings, db=Database(db_url), clock=clock)


def deployed_run(ctx: AppContext) -> int:
    now = ctx.clock.now()
    with ctx.db.write() as s:
        run = start_run(
            s,
            template=ctx.template(),
            service="payments-api",
            version="1.0",
            environment="production",
            channel_id=CHANNEL,
            started_by="URM",
            now=now,
        )
        s.flush()
        mark_deployed(s, run_id=run.id, actor="URM", now=now, override_reason="test")
        return run.id


def slots(db: Database, run_id: int) -> list[tuple[str, datetime, str | None]]:
    with db.read() as s:
        rows = s.execute(
            select(ProbeRun.job, ProbeRun.slot, ProbeRun.status)
            .where(ProbeRun.deployment_id == run_id)
            .order_by(ProbeRun.slot, ProbeRun.job)
        )
        return [(j, sl, st) for j, sl, st in rows]


def by_status(rows: Sequence[tuple[str, datetime, str | None]], job: str, status: str) -> int:
    return sum(1 for j, _, st in rows if j == job and st == status)


def test_downtime_runs_each_missed_job_once(db_url: str, demo: DemoService, prom: FakePrometheus) -> None:
    clock = ManualClock()
    ctx = make_ctx(db_url, clock, service_config(demo, prom))
    try:
        run_id = deployed_run(ctx)
        with closing(PostDeploy(ctx, instance="a")) as pd:
            clock.advance(minutes=1, seconds=1)
            assert [j for _, j, _ in pd.tick().ran] == ["metrics"]
            clock.advance(minutes=10)  # "down" for ten minutes
            report = pd.tick()
            assert sorted(j for _, j, _ in report.ran) == ["metrics", "smoke"]
            assert len(report.skipped) == 9 + 1  # metrics +2..+10 min, smoke +5 min
            assert pd.tick().ran == []  # nothing twice
            rows = slots(ctx.db, run_id)
            assert by_status(rows, "metrics", "done") == 2 and by_status(rows, "metrics", "skipped") == 9
            assert by_status(rows, "smoke", "done") == 1 and by_status(rows, "smoke", "skipped") == 1
            with ctx.db.read() as s:
                evaluations = s.scalars(select(RuleStateRow).where(RuleStateRow.rule == "error_rate")).one().state
            assert evaluations["evaluations"] == 2
    finally:
        ctx.db.dispose()


def test_restart_keeps_counters_and_does_not_rerun_done_slots(
    db_url: str, demo: DemoService, prom: FakePrometheus
) -> None:
    clock = ManualClock()
    prom.set_result(ERR_Q, 0.3)
    config = service_config(demo, prom)
    first = make_ctx(db_url, clock, config)
    deployed_run(first)
    crossed: list[str] = []
    try:
        with closing(PostDeploy(first, instance="a")) as pd:
            for _ in range(2):
                clock.advance(minutes=1)
                pd.tick()
    finally:
        first.db.dispose()
    second = make_ctx(db_url, clock, config)  # a new process: new context, new service objects
    second.on_verdicts.append(lambda _r, evs: crossed.extend(e.rule.name for e in evs if e.verdict.crossed_now))
    try:
        with closing(PostDeploy(second, instance="b")) as pd2:
            assert pd2.tick().ran == []  # the +2 min slot is done already
            clock.advance(minutes=1)
            assert [j for _, j, _ in pd2.tick().ran] == ["metrics"]
            assert crossed == ["error_rate"]  # third failure in a row: the counter survived the restart
            with second.db.read() as s:
                claimed = dict(s.execute(select(ProbeRun.claimed_by, func.count()).group_by(ProbeRun.claimed_by)).all())
            assert claimed == {"a": 2, "b": 1}
    finally:
        second.db.dispose()


def test_final_report_closes_the_run_and_summaries_are_never_dropped(
    db_url: str, demo: DemoService, prom: FakePrometheus
) -> None:
    clock = ManualClock()
    ctx = make_ctx(db_url, clock, service_config(demo, prom))
    try:
        run_id = deployed_run(ctx)
        with closing(PostDeploy(ctx, instance="a")) as pd:
            clock.advance(days=8)  # down for the whole week
            ran = [j for _, j, _ in pd.tick().ran]
            assert ran == ["summary-1h", "summary-24h", "daily", "report-7d"]
            with ctx.db.read() as s:
                run = s.get(Deployment, run_id)
                assert run is not None and run.state == RunState.CLOSED
            found = items(ctx.db, run_id)
            assert found["monitor-error-rates"].state == "open"  # no measurement in the first hour: not ticked
            rows = slots(ctx.db, run_id)
            assert by_status(rows, "metrics", "skipped") == 60 and by_status(rows, "trend", "skipped") == 24
            assert pd.tick().ran == []  # closed: nothing more
    finally:
        ctx.db.dispose()


def test_baseline_is_queried_once_per_run_then_cached(db_url: str, demo: DemoService, prom: FakePrometheus) -> None:
    clock = ManualClock()
    ctx = make_ctx(db_url, clock, service_config(demo, prom))
    try:
        run_id = deployed_run(ctx)
        deployed_ts = round(clock.now().timestamp(), 3)
        with closing(PostDeploy(ctx, instance="a")) as pd:
            for _ in range(3):
                clock.advance(minutes=1)
                pd.tick()
            asked = [q for q in prom.queries if q.query == LAT_Q]
            assert len(asked) == 3 + 1 and sum(q.time == deployed_ts for q in asked) == 1
            with ctx.db.read() as s:
                results = s.scalars(select(ProbeRun.results).where(ProbeRun.deployment_id == run_id)).all()
            latency = [r for rows in results for r in rows or [] if r["rule"] == "latency_p95"]
            assert [r["baseline"] for r in latency] == [0.2, 0.2, 0.2] and latency[-1]["result"]["evidence"][
                "baseline_cached"
            ]
    finally:
        ctx.db.dispose()
