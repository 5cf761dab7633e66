"""The running bot in one object: context, Bolt app, web server, background workers. Used by `deploybot run`,
the sandbox, the end-to-end tests and the benchmarks alike."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.alerts import engine as alerting
from bot.app import build_context, create_app
from bot.clock import Clock
from bot.context import AppContext
from bot.heap import settle_heap
from bot.postdeploy.scheduler import postdeploy_extension
from bot.server import BotServer, create_web_app
from bot.services import audit
from bot.settings import Settings
from bot.store.db import Database
from bot.store.migrate import check_schema

log = logging.getLogger(__name__)

# Plug-ins started with the stack (the post-deploy scheduler, paging); each returns its stop function.
Extension = Callable[[AppContext], Callable[[], None]]
EXTENSIONS: list[Extension] = [postdeploy_extension, alerting.install]


def request_pruner(ctx: AppContext) -> Callable[[datetime], None]:
    """A leader task: once an hour, forget redelivery ids older than a day."""
    last: list[datetime] = []

    def prune(now: datetime) -> None:
        if last and now - last[0] < timedelta(hours=1):
            return
        last[:] = [now]
        with ctx.db.write() as s:
            audit.prune_requests(s, older_than=now - timedelta(days=1))

    return prune


class BotStack:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        db: Database | None = None,
        host: str | None = None,
        port: int | None = None,
        extensions: list[Extension] | None = None,
    ) -> None:
        self.ctx = build_context(settings, db=db, clock=clock)
        check_schema(self.ctx.db.engine)
        self.bolt = None if settings.socket_mode else create_app(self.ctx)
        self.web = create_web_app(self.ctx, self.bolt)
        self.server = BotServer(self.web, host=host or settings.host, port=settings.port if port is None else port)
        self._extensions = EXTENSIONS if extensions is None else extensions
        self._stops: list[Callable[[], None]] = []

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> BotStack:
        self.ctx.db.prefill()
        settle_heap()
        self.ctx.updater.start()
        self.ctx.warm()
        self.ctx.leader_tasks.append(request_pruner(self.ctx))
        for ext in self._extensions:
            self._stops.append(ext(self.ctx))
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        for stop in reversed(self._stops):
            stop()
        self.ctx.settle(timeout=5)
        self.ctx.updater.stop()
        self.ctx.listeners.shutdown(wait=True)
        self.ctx.db.dispose()

    def __enter__(self) -> BotStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
