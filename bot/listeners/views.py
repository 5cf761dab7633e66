"""Modal submissions: N/A reasons, sign-off confirmation, abort, deploy override, incidents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App

from bot.context import AppContext
from bot.errors import UserError
from bot.listeners.common import after_aborted, after_ack, after_deployed, failure_text, request_id, require, user_of
from bot.render import modals
from bot.render.ids import View
from bot.services import audit
from bot.services.checklist import set_item
from bot.services.runs import Changed, abort_run, get_run, mark_deployed
from bot.services.signoffs import sign
from bot.store.models import ItemState


@dataclass(frozen=True)
class Submission:
    meta: dict[str, Any]  # what the modal carried (run, item, role)
    user: str
    text: str  # the reason or comment typed
    request_id: str  # the same when Slack delivers the submission twice


def _errors(ack: Ack, block: str, text: str) -> None:
    ack(response_action="errors", errors={block: text[:150]})


def register(app: App, ctx: AppContext) -> None:
    def submission(
        callback: View,
        needs_reason: bool,
        apply: Callable[[Submission], tuple[Changed, Callable[[], None]]],
    ) -> None:
        @app.view(callback)
        def handle(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
            user = user_of(body)
            try:
                meta = modals.read_meta(view)
                reason = modals.read_text(view, modals.REASON_BLOCK, modals.REASON_ACTION)
                comment = modals.read_text(view, modals.COMMENT_BLOCK, modals.COMMENT_ACTION)
                if needs_reason and not reason:
                    _errors(ack, modals.REASON_BLOCK, "Please give a reason.")
                    return
                changed, then = apply(Submission(meta, user, reason or comment, request_id(body)))
            except UserError as exc:
                block = modals.REASON_BLOCK if needs_reason else modals.COMMENT_BLOCK
                _errors(ack, block, exc.message)
                return
            except Exception as exc:  # noqa: BLE001
                text = failure_text(exc)
                _errors(ack, modals.REASON_BLOCK if needs_reason else modals.COMMENT_BLOCK, text)
                return
            if changed.refused:
                _errors(ack, modals.COMMENT_BLOCK, changed.refused)
                return
            ack()
            after_ack(ctx, lambda text: ctx.gateway.dm(user, text), then)

    def na(sub: Submission) -> tuple[Changed, Callable[[], None]]:
        with ctx.db.write() as s:
            changed = set_item(
                s,
                run_id=int(sub.meta["run"]),
                item_id=int(sub.meta["item"]),
                state=ItemState.NA,
                reason=sub.text,
                actor=sub.user,
                now=ctx.clock.now(),
                request_id=sub.request_id,
            )
        return changed, lambda: ctx.after_change(changed)

    def signed(sub: Submission) -> tuple[Changed, Callable[[], None]]:
        role_key = str(sub.meta["role"])
        approver = ctx.is_approver(role_key, sub.user)  # from memory (slack/usergroups.py), outside the transaction
        with ctx.db.write() as s:
            changed = sign(
                s,
                run_id=int(sub.meta["run"]),
                role_key=role_key,
                actor=sub.user,
                now=ctx.clock.now(),
                approver=approver,
                separation_of_duties=ctx.settings.separation_of_duties,
                comment=sub.text,
                request_id=sub.request_id,
            )
        return changed, lambda: ctx.after_change(changed)

    def aborted(sub: Submission) -> tuple[Changed, Callable[[], None]]:
        require(ctx, "abort", sub.user)
        with ctx.db.write() as s:
            changed = abort_run(
                s,
                run_id=int(sub.meta["run"]),
                actor=sub.user,
                reason=sub.text,
                now=ctx.clock.now(),
                request_id=sub.request_id,
            )
            run = get_run(s, changed.deployment_id)
            where = run.channel_id, run.thread_ts

        return changed, lambda: after_aborted(ctx, changed, where, sub.user, sub.text)

    def override(sub: Submission) -> tuple[Changed, Callable[[], None]]:
        require(ctx, "deploy", sub.user)
        with ctx.db.write() as s:
            changed = mark_deployed(
                s,
                run_id=int(sub.meta["run"]),
                actor=sub.user,
                now=ctx.clock.now(),
                override_reason=sub.text,
                request_id=sub.request_id,
            )
            run = get_run(s, changed.deployment_id)
            where = run.channel_id, run.thread_ts
        return changed, lambda: after_deployed(ctx, changed, where, sub.user)

    def incident(sub: Submission) -> tuple[Changed, Callable[[], None]]:
        require(ctx, "incident", sub.user)
        if not ctx.on_incident:
            raise UserError("Incident handling is not configured on this Deploy Bot.")
        run_id = int(sub.meta["run"])
        with ctx.db.write() as s:  # a redelivered submission must not page twice
            first = audit.claim_request(s, sub.request_id, now=ctx.clock.now())

        def then() -> None:
            if not first:
                return
            for hook in ctx.on_incident:
                hook(run_id, sub.user, sub.text)

        return Changed(deployment_id=run_id), then

    submission(View.NA_REASON, True, na)
    submission(View.SIGN, False, signed)
    submission(View.ABORT, True, aborted)
    submission(View.DEPLOY_OVERRIDE, True, override)
    submission(View.INCIDENT, True, incident)
