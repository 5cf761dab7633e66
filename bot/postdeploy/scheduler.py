"""APScheduler wiring: one stable interval job ("postdeploy-tick") in a persistent SQLAlchemy job store,
started only by the elected leader. The tick itself (bot/postdeploy/service.py) works out due slots from the
database, so the job store holds one row however many runs are deployed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot.context import AppContext
from bot.postdeploy.leader import LeaderLock
from bot.postdeploy.service import PostDeploy

log = logging.getLogger(__name__)

JOB_ID = "postdeploy-tick"
TICK_EVERY_S = 5.0
ELECT_EVERY_S = 1.0

# The job store keeps a textual reference to `run_tick` plus its args, so the job names its scheduler by key.
_TICKS: dict[str, Callable[[], None]] = {}


def run_tick(key: str) -> None:
    tick = _TICKS.get(key)
    if tick is not None:
        tick()


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class PostdeployScheduler:
    def __init__(
        self,
        ctx: AppContext,
        service: PostDeploy,
        *,
        tick_every_s: float = TICK_EVERY_S,
        elect_every_s: float = ELECT_EVERY_S,
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.tick_every_s = tick_every_s
        self.elect_every_s = elect_every_s
        self.lock = LeaderLock(ctx.db.engine)
        self.key = uuid.uuid4().hex
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()

    @property
    def is_leader(self) -> bool:
        return self._scheduler is not None

    def start(self) -> PostdeployScheduler:
        _TICKS[self.key] = self.tick
        self._elect_once()
        self._thread = threading.Thread(target=self._loop, name="postdeploy-elector", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._stand_down()
        _TICKS.pop(self.key, None)

    def tick(self) -> None:
        """The scheduled job: one post-deploy tick, then the leader-only tasks (escalation timers...)."""
        with self._tick_lock:
            now = self.ctx.clock.now()
            try:
                self.service.tick(now)
            except Exception:
                log.exception("post-deploy tick failed")
            for task in list(self.ctx.leader_tasks):
                try:
                    task(now)
                except Exception:
                    log.exception("leader task %r failed", task)

    # --- election --------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.elect_every_s):
            self._elect_once()

    def _elect_once(self) -> None:
        try:
            leader = self.lock.try_acquire()
        except Exception:
            log.warning("leader election failed (database unreachable?); retrying", exc_info=True)
            leader = False
        if leader and self._scheduler is None:
            log.info("post-deploy scheduler: leader (%s)", self.service.instance)
            self._start_scheduler()
        elif not leader and self._scheduler is not None:
            log.warning("post-deploy scheduler: no longer leader")
            self._stop_scheduler()

    def _start_scheduler(self) -> None:
        # misfire_grace_time about one interval (the default 1 s drops ticks under load); coalesce missed ticks.
        grace = max(1, round(self.tick_every_s))
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.ctx.db.engine)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
            timezone=UTC,
        )
        scheduler.add_job(
            run_tick,
            "interval",
            seconds=self.tick_every_s,
            id=JOB_ID,
            args=[self.key],
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        self._scheduler = scheduler

    def _stop_scheduler(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)

    def _stand_down(self) -> None:
        self._stop_scheduler()
        self.lock.release()


def postdeploy_extension(ctx: AppContext) -> Callable[[], None]:
    """The BotStack extension: the on_deployed hook plus the leader-elected scheduler."""
    service = PostDeploy(ctx, instance=instance_name())
    ctx.on_deployed.append(service.on_deployed)
    scheduler = PostdeployScheduler(ctx, service).start()

    def stop() -> None:
        scheduler.stop()
        service.close()

    return stop
