"""Replicas as real processes: one leader runs the scheduler; when it dies another takes over; no slot twice.

On PostgreSQL two workers race for the advisory lock; on SQLite (single process) one worker leads at once.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.clock import SystemClock
from bot.postdeploy.scheduler import JOB_ID, PostdeployScheduler
from bot.postdeploy.service import PostDeploy
from bot.sandbox.demo_service import DemoService
from bot.store.db import Database
from bot.store.models import ProbeRun
from tests.conftest import ON_POSTGRES
from tests.postdeploy_worker import METRICS_EVERY_S, config
from tests.test_postdeploy_service import deployed_run, make_ctx

WORKER = Path(__file__).with_name("postdeploy_worker.py")
ROOT = WORKER.parents[1]


class Worker:
    def __init__(self, db_url: str, base_url: str, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), db_url, base_url, name],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def wait_for(self, role: str, timeout: float = 15) -> float:
        start = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - start)
            assert left > 0, f"{self.name} never became {role}"
            try:
                if self.lines.get(timeout=left) == role:
                    return time.monotonic() - start
            except queue.Empty:
                continue

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def wait_until(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def claims(db: Database) -> dict[str, int]:
    with db.read() as s:
        rows = s.execute(
            select(ProbeRun.claimed_by, func.count()).where(ProbeRun.status == "done").group_by(ProbeRun.claimed_by)
        )
        return {name: n for name, n in rows}


@pytest.fixture
def demo() -> Iterator[DemoService]:
    with DemoService() as service:
        yield service


def test_one_leader_failover_and_no_slot_twice(db_url: str, demo: DemoService) -> None:
    ctx = make_ctx(db_url, SystemClock(), config(demo.url))
    workers: list[Worker] = []
    try:
        run_id = deployed_run(ctx)
        a = Worker(db_url, demo.url, "a")
        workers.append(a)
        a.wait_for("LEADER")
        if ON_POSTGRES:
            b = Worker(db_url, demo.url, "b")
            workers.append(b)
            b.wait_for("STANDBY")
        wait_until(lambda: claims(ctx.db).get("a", 0) >= 3)
        if ON_POSTGRES:
            assert claims(ctx.db).get("b", 0) == 0  # the standby ran nothing
            a.kill()
            took = b.wait_for("LEADER", timeout=10)
            assert took < 5, f"takeover took {took:.1f}s"
            wait_until(lambda: claims(ctx.db).get("b", 0) >= 3)
        for w in workers:
            w.close()
        with ctx.db.read() as s:
            rows = s.execute(
                select(ProbeRun.job, ProbeRun.slot, ProbeRun.status).where(ProbeRun.deployment_id == run_id)
            ).all()
        metrics = sorted(slot for job, slot, _ in rows if job == "metrics")
        assert len(metrics) == len(set(metrics))  # never twice
        # Every slot from the first to the last is accounted for (run or recorded as skipped), none dropped.
        step = timedelta(seconds=METRICS_EVERY_S)
        assert all(b - a == step for a, b in zip(metrics, metrics[1:], strict=False)), metrics
        assert {st for job, _, st in rows if job == "metrics"} <= {"done", "skipped", "running"}
    finally:
        for w in workers:
            w.close()
        ctx.db.dispose()


def test_scheduler_keeps_one_stable_job_in_the_persistent_store(db_url: str, demo: DemoService) -> None:
    ctx = make_ctx(db_url, SystemClock(), config(demo.url))
    try:
        deployed_run(ctx)
        for name in ("x", "y"):  # a restart: new scheduler objects on the same database
            service = PostDeploy(ctx, instance=name)
            scheduler = PostdeployScheduler(ctx, service, tick_every_s=0.2, elect_every_s=0.1)
            scheduler.start()
            try:
                assert scheduler.is_leader
                wait_until(lambda n=name: claims(ctx.db).get(n, 0) >= 2)  # type: ignore[misc]
                with ctx.db.read() as s:
                    jobs = s.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
                assert jobs == [JOB_ID]
            finally:
                scheduler.stop()
                service.close()
            assert not scheduler.is_leader
    finally:
        ctx.db.dispose()
