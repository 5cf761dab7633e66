"""One scheduler tick: find due slots of every deployed run, claim them, probe, evaluate, report to Slack.

`PostDeploy.tick()` is what the scheduler calls every few seconds on the leader; tests call it directly with
a ManualClock. Every slot is claimed by inserting its ProbeRun row first, so it never runs twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.checklist.model import Template
from bot.clock import utc
from bot.context import AppContext
from bot.postdeploy import schedule as sched
from bot.postdeploy.checks import METRIC_KINDS, Checks, build_checks
from bot.postdeploy.items import ItemVerdict, item_checks, judge_item, select_rules, tally
from bot.postdeploy.render import scheduled_notice, summary_blocks
from bot.postdeploy.types import Evaluation
from bot.services import audit, messages
from bot.services.checklist import set_item
from bot.store.models import ChecklistItem, Deployment, ItemState, ProbeRun, RuleStateRow, RunState, Source
from probes.analysis import RuleState, evaluate
from probes.base import Probe, ProbeResult
from probes.runner import ProbeLoop

log = logging.getLogger(__name__)

ACTOR = "deploybot"
PROBE_TIMEOUT_S = 30.0  # a ceiling over each probe's own timeouts, so one hung probe never blocks a tick
MEASURING = {
    sched.METRICS: METRIC_KINDS,
    sched.SMOKE: ("smoke",),
    sched.TREND: METRIC_KINDS,
    sched.DAILY: ("http", "prometheus", "smoke"),
}
SUMMARY_READS = {
    sched.SUMMARY_1H: (sched.METRICS, sched.SMOKE),
    sched.SUMMARY_24H: (sched.METRICS, sched.SMOKE, sched.TREND),
    sched.REPORT_7D: (sched.METRICS, sched.SMOKE, sched.TREND, sched.DAILY),
}
TITLES = {
    sched.SUMMARY_1H: "First-hour summary",
    sched.SUMMARY_24H: "First-day summary",
    sched.REPORT_7D: "Final report: first week",
}


@dataclass(frozen=True)
class _Run:
    id: int
    service: str
    deployed_at: datetime
    channel: str | None
    thread_ts: str | None


@dataclass
class _Unit:
    run: _Run
    job: str
    slot: datetime
    probe_run_id: int
    probes: list[Probe] = field(default_factory=list)
    results: list[ProbeResult] = field(default_factory=list)


@dataclass
class TickReport:
    ran: list[tuple[int, str, datetime]] = field(default_factory=list)  # (run id, job, slot)
    skipped: list[tuple[int, str, datetime]] = field(default_factory=list)
    lost: list[tuple[int, str, datetime]] = field(default_factory=list)  # claimed by someone else first


def _insert_ignore(s: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on the slot key; returns how many rows this call inserted."""
    if not rows:
        return 0
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(ProbeRun).values(rows)
    stmt = stmt.on_conflict_do_nothing(index_elements=["deployment_id", "job", "slot"])
    return int(s.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def _record(rule_name: str, probe: str, result: ProbeResult, verdict: Any) -> dict[str, Any]:
    return {
        "rule": rule_name,
        "probe": probe,
        "outcome": verdict.outcome.value,
        "reason": verdict.reason,
        "value": result.to_dict()["value"],
        "threshold": verdict.threshold,
        "baseline": result.to_dict()["baseline"],
        "samples": result.samples,
        "unit": result.unit,
        "crossed": verdict.crossed,
        "crossed_now": verdict.crossed_now,
        "result": result.to_dict(),
    }


class PostDeploy:
    def __init__(
        self,
        ctx: AppContext,
        *,
        instance: str = "local",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.ctx = ctx
        self.instance = instance  # written to ProbeRun.claimed_by
        self.transport = transport
        self._checks: dict[str, Checks] = {}
        self._baselines: dict[tuple[int, str], float] = {}  # (run id, probe) -> baseline, fixed after deploy
        self._probe_loop: ProbeLoop | None = None

    def probe_loop(self) -> ProbeLoop:
        """Started on first use and kept: later rounds reuse the connections the first one opened."""
        if self._probe_loop is None:
            self._probe_loop = ProbeLoop(transport=self.transport)
        return self._probe_loop

    def close(self) -> None:
        if self._probe_loop is not None:
            self._probe_loop.close()
            self._probe_loop = None

    # --- wiring ----------------------------------------------------------------------------------------
    def checks(self, service: str) -> Checks:
        if service not in self._checks:
            settings = self.ctx.settings
            self._checks[service] = build_checks(settings.services.get(service), settings.prometheus)
        return self._checks[service]

    def on_deployed(self, run_id: int) -> None:
        """The ctx.on_deployed hook: deployed_at is the schedule's origin; say what will happen, in the thread."""
        with self.ctx.db.read() as s:
            run = s.get(Deployment, run_id)
            if run is None or run.deployed_at is None:
                return
            text = scheduled_notice(
                self.ctx.settings.schedule,
                utc(run.deployed_at),
                service=run.service,
                probes=len(self.checks(run.service).probes),
            )
            channel, thread = run.channel_id, run.thread_ts
        self._post(channel, thread, text)

    # --- the tick -------------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickReport:
        now = now or self.ctx.clock.now()
        report = TickReport()
        units = self._claim_due(now, report)
        measuring = [u for u in units if u.job in MEASURING]
        self._measure(measuring, now)
        for unit in units:
            try:
                if unit.job in MEASURING:
                    self._evaluate(unit, now)
                else:
                    self._summarise(unit, now)
            except Exception:  # one run's failure must not stop the others
                log.exception("post-deploy %s of run %s failed", unit.job, unit.run.id)
                self._finish(unit.probe_run_id, now, "failed", None)
        return report

    def _claim_due(self, now: datetime, report: TickReport) -> list[_Unit]:
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(
                    Deployment.id,
                    Deployment.service,
                    Deployment.deployed_at,
                    Deployment.channel_id,
                    Deployment.thread_ts,
                ).where(Deployment.state == RunState.DEPLOYED, Deployment.deployed_at.is_not(None))
            ).all()
            runs = [_Run(r[0], r[1], utc(r[2]), r[3], r[4]) for r in rows if r[2] is not None]
            done: dict[int, set[tuple[str, datetime]]] = {r.id: set() for r in runs}
            if runs:
                claimed = s.execute(
                    select(ProbeRun.deployment_id, ProbeRun.job, ProbeRun.slot).where(
                        ProbeRun.deployment_id.in_([r.id for r in runs])
                    )
                )
                for run_id, job, slot in claimed:
                    done[run_id].add((job, utc(slot)))
        units = []
        schedule = self.ctx.settings.schedule
        for run in runs:
            for due in sched.due_slots(run.deployed_at, now, schedule, done[run.id]):
                unit = self._claim(run, due, now, report)
                if unit is not None:
                    units.append(unit)
        return units

    def _claim(self, run: _Run, due: sched.Due, now: datetime, report: TickReport) -> _Unit | None:
        base = {"deployment_id": run.id, "job": due.job, "claimed_by": self.instance, "started_at": now}
        with self.ctx.db.write() as s:
            skipped = [{**base, "slot": slot, "status": "skipped", "finished_at": now} for slot in due.skipped]
            _insert_ignore(s, skipped)
            report.skipped += [(run.id, due.job, slot) for slot in due.skipped]
            if not due.run:
                return None
            if not _insert_ignore(s, [{**base, "slot": due.slot, "status": "running"}]):
                report.lost.append((run.id, due.job, due.slot))
                return None
            row_id = s.scalars(
                select(ProbeRun.id).where(
                    ProbeRun.deployment_id == run.id, ProbeRun.job == due.job, ProbeRun.slot == due.slot
                )
            ).one()
        report.ran.append((run.id, due.job, due.slot))
        return _Unit(run, due.job, due.slot, row_id)

    def _finish(self, probe_run_id: int, now: datetime, status: str, results: list[Any] | None) -> None:
        with self.ctx.db.write() as s:
            row = s.get(ProbeRun, probe_run_id)
            if row is not None:
                row.status, row.finished_at, row.results = status, now, results

    # --- measuring -------------------------------------------------------------------------------------
    def _measure(self, units: Sequence[_Unit], now: datetime) -> None:
        for unit in units:
            checks = self.checks(unit.run.service)
            unit.probes = [
                checks.without_baseline[p.name] if (unit.run.id, p.name) in self._baselines else p
                for p in checks.probes_of(MEASURING[unit.job])
            ]
        flat = [(u, p) for u in units for p in u.probes]
        if not flat:
            return
        results = self.probe_loop().run(
            [(p, u.run.deployed_at) for u, p in flat],
            now=now,
            concurrency=self.ctx.settings.config.probe_concurrency,
            timeout_s=PROBE_TIMEOUT_S,
        )
        for (unit, _), result in zip(flat, results, strict=True):
            unit.results.append(self._with_baseline(unit.run.id, result))

    def _with_baseline(self, run_id: int, result: ProbeResult) -> ProbeResult:
        """Cache a probe's pre-deploy baseline after its first answer; fill it into later results."""
        key = (run_id, result.name)
        cached = self._baselines.get(key)
        if cached is not None:
            return replace(result, baseline=cached, evidence={**result.evidence, "baseline_cached": True})
        if result.baseline is not None:
            self._baselines[key] = result.baseline
        return result

    def _evaluate(self, unit: _Unit, now: datetime) -> None:
        checks = self.checks(unit.run.service)
        by_probe = {r.name: r for r in unit.results}
        rules = checks.rules_for(set(by_probe))
        records: list[dict[str, Any]] = []
        evaluations: list[Evaluation] = []
        with self.ctx.db.write() as s:
            stored = {
                row.rule: row
                for row in s.scalars(
                    select(RuleStateRow).where(
                        RuleStateRow.deployment_id == unit.run.id, RuleStateRow.rule.in_([r.name for r in rules])
                    )
                )
            }
            for rule in rules:
                result = by_probe[rule.probe]
                row = stored.get(rule.name)
                state = RuleState.from_dict(row.state) if row else RuleState()
                verdict = evaluate(rule, result, state, now=now)
                if row is None:
                    s.add(
                        RuleStateRow(
                            deployment_id=unit.run.id, rule=rule.name, state=verdict.state.to_dict(), updated_at=now
                        )
                    )
                else:
                    row.state, row.updated_at = verdict.state.to_dict(), now
                records.append(_record(rule.name, rule.probe, result, verdict))
                evaluations.append(Evaluation(unit.run.id, rule, result, verdict, now))
            probe_run = s.get(ProbeRun, unit.probe_run_id)
            assert probe_run is not None
            probe_run.status, probe_run.finished_at, probe_run.results = "done", now, records
        for hook in self.ctx.on_verdicts:
            try:
                hook(unit.run.id, evaluations)
            except Exception:
                log.exception("verdict hook failed for run %s", unit.run.id)
        if unit.job == sched.TREND:
            self._touch_trend(unit.run)
        elif unit.job == sched.DAILY:
            bad = [r for r in records if r["outcome"] in ("fail", "error") or r["crossed"]]
            if bad:  # quiet when all is well
                lines = [f"*Daily check {unit.slot:%Y-%m-%d}: {len(bad)} rule(s) not passing*"]
                lines += [f"❌ {r['rule']}: {r['reason']}" for r in bad]
                self._post(unit.run.channel, unit.run.thread_ts, "\n".join(lines))

    def _touch_trend(self, run: _Run) -> None:
        if not run.channel:
            return
        rounds = self.ctx.settings.schedule.first_day
        with self.ctx.db.write() as s:
            key = str(int(rounds.summary_after_s // rounds.trend_every_s))
            msg = messages.ensure_message(s, deployment_id=run.id, kind=messages.TREND, key=key, channel_id=run.channel)
            ids = messages.mark_dirty(s, deployment_id=run.id, kind=messages.TREND) or [msg.id]
        self.ctx.updater.notify(ids)

    # --- summaries -------------------------------------------------------------------------------------
    def _summarise(self, unit: _Unit, now: datetime) -> None:
        run = unit.run
        checks = self.checks(run.service)
        with self.ctx.db.read() as s:
            stmt = select(ProbeRun.results).where(
                ProbeRun.deployment_id == run.id,
                ProbeRun.job.in_(SUMMARY_READS[unit.job]),
                ProbeRun.status == "done",
                ProbeRun.slot <= unit.slot,
            )
            records = [rec for results in s.scalars(stmt.order_by(ProbeRun.slot)) for rec in results or []]
            deployment = s.get(Deployment, run.id)
            assert deployment is not None
            template = Template.from_dict(deployment.template_snapshot)
            items = {
                i.key: i.state
                for i in s.scalars(
                    select(ChecklistItem).where(ChecklistItem.deployment_id == run.id, ChecklistItem.phase == "post")
                )
            }
        tallies = tally(records)
        title = f"{TITLES[unit.job]} for run #{run.id}"
        verdicts: list[ItemVerdict] = []
        for check in item_checks(template, items):
            if check.job != unit.job:
                continue
            rules = select_rules(check.selector, checks.rules, checks.kinds)
            verdicts.append(judge_item(check, rules, tallies, TITLES[unit.job].lower()))
        for v in verdicts:
            if v.done and items.get(v.check.key) == ItemState.OPEN:
                self._tick_item(run.id, v, now)
        text, blocks = summary_blocks(title, list(tallies.values()), verdicts)
        self._post(run.channel, run.thread_ts, text, blocks)
        summary = [{"item": v.check.key, "done": v.done, "evidence": v.evidence} for v in verdicts]
        self._finish(unit.probe_run_id, now, "done", summary)
        if unit.job == sched.REPORT_7D:
            self._close(run.id, now)

    def _tick_item(self, run_id: int, verdict: ItemVerdict, now: datetime) -> None:
        with self.ctx.db.write() as s:
            changed = set_item(
                s,
                run_id=run_id,
                key=verdict.check.key,
                state=ItemState.DONE,
                actor=ACTOR,
                now=now,
                source=Source.PROBE,
                evidence=verdict.evidence,
            )
        self.ctx.after_change(changed)

    def _close(self, run_id: int, now: datetime) -> None:
        with self.ctx.db.write() as s:
            run = s.get(Deployment, run_id, with_for_update=True)
            if run is None or run.state != RunState.DEPLOYED:
                return
            run.state, run.ended_at, run.updated_at = RunState.CLOSED, now, now
            run.end_reason = "post-deploy checks finished"
            audit.record(
                s,
                deployment_id=run_id,
                at=now,
                actor=ACTOR,
                source=Source.PROBE,
                kind="run",
                from_state=RunState.DEPLOYED,
                to_state=RunState.CLOSED,
            )
            ids = messages.mark_dirty(s, deployment_id=run_id, kind=messages.PARENT)
        self.ctx.updater.notify(ids)

    def _post(
        self, channel: str | None, thread_ts: str | None, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        if not channel or not thread_ts:
            return  # no Slack thread (e.g. a run started from CI without a channel): the DB keeps the results
        try:
            self.ctx.gateway.post(channel, text, blocks, thread_ts=thread_ts)
        except Exception:
            log.exception("could not post post-deploy message to %s", channel)
