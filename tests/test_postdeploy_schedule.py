"""Schedule maths with plain datetimes: slots per job, and coalescing after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config.schema import Schedule
from bot.postdeploy.schedule import (
    DAILY,
    METRICS,
    REPORT_7D,
    SMOKE,
    SUMMARY_1H,
    SUMMARY_24H,
    TREND,
    Due,
    due_slots,
    jobs_for,
    last_slot,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
S = Schedule()


def at(**kw: float) -> datetime:
    return T0 + timedelta(**kw)


def test_default_jobs_follow_the_post_deployment_tasks() -> None:
    jobs = {j.name: j for j in jobs_for(T0, S)}
    assert len(jobs[METRICS].slots) == 60 and jobs[METRICS].slots[0] == at(minutes=1)
    assert jobs[METRICS].slots[-1] == at(hours=1)
    assert jobs[SMOKE].slots == tuple(at(minutes=5 * k) for k in range(1, 13))
    assert jobs[SUMMARY_1H].slots == (at(hours=1),) and not jobs[SUMMARY_1H].periodic
    assert jobs[TREND].slots == tuple(at(hours=h) for h in range(1, 25))
    assert jobs[SUMMARY_24H].slots == (at(hours=24),)
    assert jobs[DAILY].slots == tuple(at(days=d) for d in range(1, 8))
    assert jobs[REPORT_7D].slots == (at(days=7),)
    assert last_slot(T0, S) == at(days=7)


def test_nothing_is_due_before_the_first_slot() -> None:
    assert due_slots(T0, at(seconds=59), S, set()) == []


def test_on_time_ticks_run_each_slot_once() -> None:
    assert due_slots(T0, at(minutes=1, seconds=2), S, set()) == [Due(METRICS, at(minutes=1))]
    done = {(METRICS, at(minutes=1))}
    assert due_slots(T0, at(minutes=1, seconds=30), S, done) == []


def test_coincident_slots_put_measurements_before_the_summary() -> None:
    done = {(METRICS, s) for s in jobs_for(T0, S)[0].slots[:-1]} | {(SMOKE, at(minutes=5 * k)) for k in range(1, 12)}
    due = due_slots(T0, at(hours=1, seconds=1), S, done)
    assert [d.job for d in due] == [METRICS, SMOKE, TREND, SUMMARY_1H]
    assert all(d.slot == at(hours=1) and d.run and not d.skipped for d in due)


def test_downtime_runs_each_missed_job_once_and_records_the_rest_as_skipped() -> None:
    # Up until +5m (all done), down for 10 minutes.
    done = {(METRICS, at(minutes=m)) for m in range(1, 6)} | {(SMOKE, at(minutes=5))}
    due = due_slots(T0, at(minutes=15, seconds=20), S, done)
    assert [(d.job, d.slot) for d in due] == [(METRICS, at(minutes=15)), (SMOKE, at(minutes=15))]
    metrics = due[0]
    assert metrics.skipped == tuple(at(minutes=m) for m in range(6, 15))
    assert due[1].skipped == (at(minutes=10),)
    # Recording both the run and the skipped slots leaves nothing due: none twice.
    done |= {(d.job, d.slot) for d in due} | {(d.job, s) for d in due for s in d.skipped}
    assert due_slots(T0, at(minutes=15, seconds=40), S, done) == []


def test_a_slot_older_than_its_grace_is_skipped_not_run() -> None:
    # Down for the whole first hour and more: no stale metric is run, but the summary still runs (late).
    due = {d.job: d for d in due_slots(T0, at(hours=2, minutes=30), S, set())}
    assert not due[METRICS].run and len(due[METRICS].skipped) == 60
    assert not due[SMOKE].run and len(due[SMOKE].skipped) == 12
    assert due[SUMMARY_1H].run and due[SUMMARY_1H].slot == at(hours=1)
    assert due[TREND].run and due[TREND].slot == at(hours=2) and due[TREND].skipped == (at(hours=1),)


def test_grace_can_be_set_explicitly() -> None:
    due = due_slots(T0, at(minutes=1, seconds=30), S, set(), grace=10)
    assert due == [Due(METRICS, at(minutes=1), (at(minutes=1),), run=False)]


def test_custom_intervals() -> None:
    fast = Schedule.model_validate({"first_hour": {"metrics_every_s": 0.5, "smoke_every_s": 2, "summary_after_s": 4}})
    jobs = {j.name: j for j in jobs_for(T0, fast)}
    assert len(jobs[METRICS].slots) == 8 and jobs[METRICS].slots[-1] == at(seconds=4)
    assert jobs[SMOKE].slots == (at(seconds=2), at(seconds=4))
