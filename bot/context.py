"""What listeners, the scheduler and the HTTP API share: settings, database, Slack gateway, clock, hooks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.checklist.loader import load_named_template
from bot.checklist.model import Template
from bot.clock import Clock
from bot.coalesce import Coalescer
from bot.config.schema import Audience
from bot.foreground import Foreground
from bot.postdeploy.types import LeaderTask, VerdictHook
from bot.render.run import readiness_notice
from bot.services import messages
from bot.services.runs import Changed, get_run, settle_readiness
from bot.settings import Settings
from bot.slack.gateway import Gateway
from bot.slack.updater import MessageUpdater
from bot.slack.usergroups import UsergroupDirectory
from bot.store.db import Database
from bot.store.models import ChecklistItem
from bot.workers import ListenerPool

if TYPE_CHECKING:
    from bot.alerts.engine import Alerting

log = logging.getLogger(__name__)

# Called after a run is marked deployed / an incident is declared (post-deploy and paging plug in here).
DeployedHook = Callable[[int], None]
IncidentHook = Callable[[int, str, str], None]  # run id, user, text


@dataclass
class AppContext:
    settings: Settings
    db: Database
    gateway: Gateway
    updater: MessageUpdater
    clock: Clock
    on_deployed: list[DeployedHook] = field(default_factory=list)
    on_incident: list[IncidentHook] = field(default_factory=list)
    on_verdicts: list[VerdictHook] = field(default_factory=list)
    leader_tasks: list[LeaderTask] = field(default_factory=list)
    listeners: ListenerPool = field(default_factory=ListenerPool)  # Bolt's listener threads
    foreground: Foreground = field(default_factory=Foreground)  # requests being answered; after-ack work waits
    alerting: Alerting | None = None  # set while the alerting extension runs (its listeners reach it here)
    usergroups: UsergroupDirectory = field(init=False, repr=False)
    _settler: Coalescer[int, tuple[str, str | None]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._settler = Coalescer(self._settle_run)
        self.usergroups = UsergroupDirectory(self.gateway, self.listeners.submit)

    def template(self, name: str | None = None) -> Template:
        return _load_template(name or self.settings.template)

    def _allows(self, audience: Audience, user_id: str) -> bool:
        """Safe before ack(): user groups are answered from memory (slack/usergroups.py)."""
        member_of = (g for g in audience.usergroups if user_id in self.usergroups.members(g))
        return audience.allows(user_id, member_of)

    def may(self, action: str, user_id: str) -> bool:
        return self._allows(getattr(self.settings.permissions, action), user_id)

    def is_approver(self, role_key: str, user_id: str) -> bool:
        return self._allows(self.settings.approvers_for(role_key), user_id)

    def warm(self) -> None:
        """Fetch what answers need from Slack (workspace URL, user group members) in the background at
        start-up, so no request waits for a Web API call before its ack."""
        self.listeners.submit(self._learn_workspace)
        perms = self.settings.permissions
        audiences = [*self.settings.config.approvers.values(), *(getattr(perms, a) for a in type(perms).model_fields)]
        self.usergroups.warm(sorted({g for a in audiences for g in a.usergroups}))

    def _learn_workspace(self) -> None:
        try:
            self.gateway.auth_test()
        except Exception:  # noqa: BLE001 - answers go without message links; /readyz retries auth.test
            log.warning("auth.test failed; answers will link channels, not messages", exc_info=True)

    def deployment_channel(self, typed_in: str) -> str:
        return self.settings.channel or typed_in

    def refresh_item_message(self, item_id: int) -> None:
        """Re-render an item's message (a refused click left the client showing a state we did not record)."""
        with self.db.write() as s:
            item = s.get(ChecklistItem, item_id)
            if item is None:
                return
            kind = messages.ROLLBACK if item.phase == "rollback" else messages.SECTION
            ids = messages.mark_dirty(s, deployment_id=item.deployment_id, kind=kind, key_prefix=f"{item.section_key}#")
        self.updater.notify(ids)

    def settle(self, timeout: float = 15.0) -> bool:
        """Wait until listeners have finished their after-ack work and every message update is out."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.listeners.wait_idle(left) or not self._settler.wait_idle(left):
                return False
            if not self.updater.flush(max(0.0, deadline - time.monotonic())):
                return False
            if self.listeners.wait_idle(0) and self._settler.wait_idle(0):  # nothing new started meanwhile
                return True

    def after_change(self, changed: Changed) -> None:
        """After the change committed (and the ack): queue its message updates and settle the run."""
        if changed.duplicate:
            return
        self.updater.notify(changed.message_ids)
        self._settler.submit(changed.deployment_id, changed.touch)

    def _settle_run(self, run_id: int, touch: set[tuple[str, str | None]]) -> None:
        """Store the run's readiness, mark the changed messages dirty (run row first, then message rows: the
        order every writer takes them in) and tell the channel when readiness flipped. One thread at a time
        per run (see Coalescer): a burst of clicks settles in a few transactions, and no listener thread
        waits on another's lock of the shared rows."""
        with self.db.write() as s:
            flipped = settle_readiness(s, run_id, now=self.clock.now())
            dirty = messages.touch(s, deployment_id=run_id, which=sorted(touch, key=str))
        self.updater.notify(dirty)
        if flipped is not None:
            with self.db.read() as s:
                run = get_run(s, run_id)
                text, channel = readiness_notice(run, flipped), run.channel_id
            if channel:
                self.gateway.post(channel, text)


def approvers_text(settings: Settings) -> dict[str, str]:
    """Role key -> who may sign it, as mentions for the run message."""
    out = {}
    for role, audience in settings.config.approvers.items():
        names = [f"<@{u}>" for u in audience.users] + [f"<!subteam^{g}>" for g in audience.usergroups]
        out[role] = ", ".join(names)
    return out


@lru_cache(maxsize=32)
def _load_template(name: str) -> Template:
    return load_named_template(name)
