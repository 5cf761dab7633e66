"""Brings a run's Slack messages in line with the database: post the first time, chat.update after."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from bot.slack.gateway import Gateway
from bot.store.db import Database
from bot.store.models import Deployment, SlackMessage

log = logging.getLogger(__name__)

# (session, message row, nonce) -> (fallback text, blocks); pure apart from reading the session.
Renderer = Callable[[Session, SlackMessage, str], tuple[str, list[dict[str, Any]]]]
LOCK_SPACE = 0x0DB1  # advisory lock namespace for message publishing
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


@dataclass(frozen=True)
class _Job:
    message_id: int
    run_id: int
    started_by: str
    kind: str
    channel: str
    ts: str | None
    thread_ts: str | None
    dirty: int
    text: str
    blocks: list[dict[str, Any]]


class Publisher:
    def __init__(self, db: Database, gateway: Gateway, renderers: dict[str, Renderer]) -> None:
        self.db = db
        self.gateway = gateway
        self.renderers = renderers

    def publish(self, message_id: int) -> bool:
        """Post or update one message from current state. True when Slack now shows it."""
        if self.db.is_sqlite:
            # One process, whose single updater thread serialises this; keep no write lock across the call.
            with self.db.read() as s:
                job = self._prepare(s, message_id)
            if not isinstance(job, _Job):
                return job
            values = self._send(job)
            if values is None:
                return False
            with self.db.write() as s:
                self._finish(s, job, values)
            return True
        # PostgreSQL: an advisory lock per message, held across the call, so two replicas never send out of
        # order; it leaves the row itself free, so clicks marking the message dirty never wait on Slack.
        with self.db.write() as s:
            s.execute(text("SELECT pg_advisory_xact_lock(:space, :id)"), {"space": LOCK_SPACE, "id": message_id})
            job = self._prepare(s, message_id)
            if not isinstance(job, _Job):
                return job
            values = self._send(job)
            if values is None:
                return False
            self._finish(s, job, values)
        return True

    def _prepare(self, s: Session, message_id: int) -> _Job | bool:
        msg = s.scalars(select(SlackMessage).where(SlackMessage.id == message_id)).first()
        if msg is None:
            return False
        if msg.ts is not None and msg.rendered >= msg.dirty:
            return True
        run = s.get(Deployment, msg.deployment_id)
        assert run is not None
        top_level = msg.kind in ("parent", "alert")
        if not top_level and run.thread_ts is None:
            # The parent goes first: wait for it (retried soon), unless Slack refused it for good (then the
            # sweep looks again; a change to the run tries the parent again).
            return not self._parent_waiting(s, run.id)
        text, blocks = self.renderers[msg.kind](s, msg, f"{msg.dirty}")
        return _Job(
            message_id=msg.id,
            run_id=run.id,
            started_by=run.started_by,
            kind=msg.kind,
            channel=msg.channel_id,
            ts=msg.ts,
            thread_ts=None if top_level else run.thread_ts,
            dirty=msg.dirty,
            text=text,
            blocks=blocks,
        )

    def _send(self, job: _Job) -> dict[str, Any] | None:
        """The Web API call; None when it should be tried again later."""
        try:
            if job.ts is None:
                return {"ts": self.gateway.post(job.channel, job.text, job.blocks, thread_ts=job.thread_ts)}
            self.gateway.update(job.channel, job.ts, job.text, job.blocks)
            return {}
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            log.error("Slack refused %s message %s of run %s: %s", job.kind, job.message_id, job.run_id, error)
            if error in TRANSIENT:
                return None
            if job.ts is None:
                self._tell_starter(job, error)
            return {}  # a permanent refusal: do not loop on it

    def _tell_starter(self, job: _Job, error: str) -> None:
        """A message nobody will see must not fail silently: the run's starter learns why and what to do."""
        if job.kind == "parent":
            text = (
                f"I could not post run #{job.run_id} in <#{job.channel}>: Slack said `{error}`. Invite me to that "
                "channel (or set `channel:` in the config to one I am in); the run is recorded, and its next "
                "change posts it again."
            )
        else:
            text = (
                f"Slack refused part of run #{job.run_id} (a {job.kind} message): `{error}`, so some of its items "
                f"are not shown. Everything is recorded (`/deploy export {job.run_id}` lists it); please report "
                "this to the Deploy Bot maintainers with the template used."
            )
        try:
            self.gateway.dm(job.started_by, text)
        except SlackApiError as exc:
            log.error(
                "could not tell %s about run %s either: %s", job.started_by, job.run_id, exc.response.get("error")
            )

    @staticmethod
    def _parent_waiting(s: Session, run_id: int) -> bool:
        """True while the run's parent message has a post still to try."""
        stmt = select(SlackMessage.id).where(
            SlackMessage.deployment_id == run_id,
            SlackMessage.kind == "parent",
            SlackMessage.dirty > SlackMessage.rendered,
        )
        return s.scalars(stmt.limit(1)).first() is not None

    def _finish(self, s: Session, job: _Job, values: dict[str, Any]) -> None:
        if job.kind == "parent" and "ts" in values:
            s.execute(update(Deployment).where(Deployment.id == job.run_id).values(thread_ts=values["ts"]))
        s.execute(
            update(SlackMessage)
            .where(SlackMessage.id == job.message_id, SlackMessage.rendered < job.dirty)
            .values(rendered=job.dirty, **values)
        )
        if "ts" in values:  # a first post that lost the race with a newer change still records its ts
            s.execute(update(SlackMessage).where(SlackMessage.id == job.message_id).values(ts=values["ts"]))

    def pending(self) -> list[int]:
        """Messages whose database state is ahead of what Slack shows (a sweep picks up what was missed)."""
        with self.db.read() as s:
            stmt = select(SlackMessage.id).where(SlackMessage.dirty > SlackMessage.rendered)
            return list(s.scalars(stmt.order_by(SlackMessage.id)))

    def run_messages_in_order(self, run_id: int) -> list[int]:
        with self.db.read() as s:
            stmt = select(SlackMessage.id).where(SlackMessage.deployment_id == run_id).order_by(SlackMessage.id)
            return list(s.scalars(stmt))
