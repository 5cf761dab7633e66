"""Pure schedule maths: which post-deploy jobs have slots, and which slots are due now.

A slot is the scheduled time a job run stands for (deployed_at + k * interval). Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config.schema import Schedule

METRICS = "metrics"
SMOKE = "smoke"
SUMMARY_1H = "summary-1h"
TREND = "trend"
SUMMARY_24H = "summary-24h"
DAILY = "daily"
REPORT_7D = "report-7d"
# Order within one tick when slots coincide: measurements before the summaries that read them.
JOB_ORDER = (METRICS, SMOKE, TREND, DAILY, SUMMARY_1H, SUMMARY_24H, REPORT_7D)


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float | None  # None: a one-off job (summaries, the final report)
    slots: tuple[datetime, ...]

    @property
    def periodic(self) -> bool:
        return self.every_s is not None


@dataclass(frozen=True)
class Due:
    job: str
    slot: datetime  # the slot to run now
    skipped: tuple[datetime, ...] = field(default=())  # older missed slots, recorded but not run
    run: bool = True  # False: even `slot` is past its grace; it is in `skipped` too


def _periodic(name: str, origin: datetime, every_s: float, until_s: float) -> Job:
    count = int(until_s // every_s + 1e-9)
    slots = tuple(origin + timedelta(seconds=every_s * k) for k in range(1, count + 1))
    return Job(name, every_s, slots)


def _once(name: str, origin: datetime, after_s: float) -> Job:
    return Job(name, None, (origin + timedelta(seconds=after_s),))


def jobs_for(deployed_at: datetime, schedule: Schedule) -> list[Job]:
    """Every job of one deployment with all its slots, in JOB_ORDER."""
    hour, day, week = schedule.first_hour, schedule.first_day, schedule.first_week
    return [
        _periodic(METRICS, deployed_at, hour.metrics_every_s, hour.summary_after_s),
        _periodic(SMOKE, deployed_at, hour.smoke_every_s, hour.summary_after_s),
        _periodic(TREND, deployed_at, day.trend_every_s, day.summary_after_s),
        _periodic(DAILY, deployed_at, week.check_every_s, week.report_after_s),
        _once(SUMMARY_1H, deployed_at, hour.summary_after_s),
        _once(SUMMARY_24H, deployed_at, day.summary_after_s),
        _once(REPORT_7D, deployed_at, week.report_after_s),
    ]


def last_slot(deployed_at: datetime, schedule: Schedule) -> datetime:
    return max(s for job in jobs_for(deployed_at, schedule) for s in job.slots)


def due_slots(
    deployed_at: datetime,
    now: datetime,
    schedule: Schedule,
    done: Iterable[tuple[str, datetime]],
    grace: float | None = None,
) -> list[Due]:
    """The slots to run now, coalesced: each job runs at most once per call.

    Of a periodic job's missed slots, only the latest runs, and only when it is at most `grace` seconds old
    (default: one interval of that job); the older ones come back in `skipped` so the caller records them.
    One-off jobs (summaries, report) always run when missed: they are late, never dropped.
    The result is ordered by slot, then JOB_ORDER, so a summary runs after the measurements it reads.
    """
    finished = set(done)
    out: list[Due] = []
    for job in jobs_for(deployed_at, schedule):
        missed = [s for s in job.slots if s <= now and (job.name, s) not in finished]
        if not missed:
            continue
        latest = missed[-1]
        if job.every_s is None:
            out.append(Due(job.name, latest, tuple(missed[:-1])))
            continue
        allowed = job.every_s if grace is None else grace
        if (now - latest).total_seconds() <= allowed:
            out.append(Due(job.name, latest, tuple(missed[:-1])))
        else:
            # Too late even for the latest slot: nothing runs; every missed slot is recorded as skipped.
            out.append(Due(job.name, latest, tuple(missed), run=False))
    out.sort(key=lambda d: (d.slot, JOB_ORDER.index(d.job)))
    return out
