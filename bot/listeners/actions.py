"""Button, checkbox and overflow clicks on a run's messages."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.checklist.model import Template
from bot.context import AppContext
from bot.errors import UserError
from bot.listeners.commands import export_to_thread
from bot.listeners.common import ack_failure, after_ack, after_deployed, channel_of, request_id, require, user_of
from bot.render import modals
from bot.render.ids import Action, View, parse_item_action
from bot.render.run import run_title
from bot.services.checklist import find_item, set_item
from bot.services.readiness import compute_readiness
from bot.services.runs import get_run, mark_deployed
from bot.services.signoffs import find_signoff, sign
from bot.services.signoffs import revoke as revoke_signoff
from bot.store.models import ChecklistItem, ItemState, RunState

CHECK = re.compile(rf"^{Action.CHECK}:\d+$")
MORE = re.compile(rf"^{Action.ITEM_MORE}:\d+$")


def _tell(ctx: AppContext, body: dict[str, Any]) -> Any:
    channel = channel_of(body)
    user = user_of(body)
    thread = (body.get("message") or {}).get("thread_ts")

    def tell(text: str) -> None:
        if channel:
            ctx.gateway.ephemeral(channel, user, text, thread_ts=thread)
        else:
            ctx.gateway.dm(user, text)

    return tell


def _run_of_item(ctx: AppContext, item_id: int) -> int:
    with ctx.db.read() as s:
        item = s.get(ChecklistItem, item_id)
        if item is None:
            raise UserError("That checklist item no longer exists.")
        return item.deployment_id


def register(app: App, ctx: AppContext) -> None:
    @app.action(CHECK)
    def on_check(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        tell = _tell(ctx, body)
        try:
            _, item_id = parse_item_action(action["action_id"])
            state = ItemState.DONE if action.get("selected_options") else ItemState.OPEN
            with ctx.db.single_statement() as s:  # one round trip on PostgreSQL (services/checklist_pg.py)
                changed = set_item(
                    s,
                    item_id=item_id,
                    state=state,
                    actor=user_of(body),
                    now=ctx.clock.now(),
                    request_id=request_id(body),
                )
        except Exception as exc:  # noqa: BLE001 - acknowledged, then explained
            ack_failure(ctx, ack, tell, exc)
            # The click flipped the client's checkbox; put the message back in line with the database.
            after_ack(ctx, tell, lambda: ctx.refresh_item_message(item_id))
            return
        ack()
        after_ack(ctx, tell, lambda: ctx.after_change(changed))

    @app.action(MORE)
    def on_more(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """The item's menu: "N/A…" asks for a reason in a modal; "Clear" reopens the item (recorded first)."""
        tell = _tell(ctx, body)
        try:
            _, item_id = parse_item_action(action["action_id"])
            run_id = _run_of_item(ctx, item_id)
            if (action.get("selected_option") or {}).get("value") == "na":
                ack()
                after_ack(ctx, tell, lambda: _ask_na_reason(ctx, body, run_id, item_id))
                return
            with ctx.db.write() as s:
                changed = set_item(
                    s,
                    run_id=run_id,
                    item_id=item_id,
                    state=ItemState.OPEN,
                    actor=user_of(body),
                    now=ctx.clock.now(),
                    request_id=request_id(body),
                )
        except Exception as exc:  # noqa: BLE001 - acknowledged, then explained
            ack_failure(ctx, ack, tell, exc)
            return
        ack()
        after_ack(ctx, tell, lambda: ctx.after_change(changed))

    @app.action(Action.SIGN)
    def on_sign(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Check first (a refusal is recorded and explained), then ask for confirmation in a modal."""
        tell = _tell(ctx, body)
        role_key = action["value"]
        user = user_of(body)
        try:
            run_id = _run_id_from_message(ctx, body)
            approver = ctx.is_approver(role_key, user)  # from memory, before the transaction
            with ctx.db.write() as s:
                changed = sign(
                    s,
                    run_id=run_id,
                    role_key=role_key,
                    actor=user,
                    now=ctx.clock.now(),
                    approver=approver,
                    separation_of_duties=ctx.settings.separation_of_duties,
                    request_id=request_id(body),
                    confirmed=False,
                )
                run = get_run(s, run_id)
                title, role_title = run_title(run), find_signoff(run, role_key).role_title
        except Exception as exc:  # noqa: BLE001 - acknowledged, then explained
            ack_failure(ctx, ack, tell, exc)
            return
        ack()
        if changed.refused:
            why = changed.refused
            after_ack(ctx, tell, lambda: tell(f":no_entry: {why}"))
            return
        if changed.duplicate:
            return
        view = modals.sign_modal(
            run_id=run_id, role_key=role_key, role_title=role_title, run_title=title, channel_id=channel_of(body) or ""
        )
        after_ack(ctx, tell, lambda: ctx.gateway.open_view(body["trigger_id"], view))

    @app.action(Action.REVOKE)
    def on_revoke(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        tell = _tell(ctx, body)
        try:
            with ctx.db.write() as s:
                changed = revoke_signoff(
                    s,
                    run_id=_run_id_from_message(ctx, body),
                    role_key=action["value"],
                    actor=user_of(body),
                    now=ctx.clock.now(),
                    request_id=request_id(body),
                )
        except Exception as exc:  # noqa: BLE001 - acknowledged, then explained
            ack_failure(ctx, ack, tell, exc)
            return
        ack()
        if changed.refused:
            refused = changed.refused
            after_ack(ctx, tell, lambda: tell(f":no_entry: {refused}"))
        else:
            after_ack(ctx, tell, lambda: ctx.after_change(changed))

    @app.action(Action.MARK_DEPLOYED)
    def on_mark_deployed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A READY run is marked deployed at once (recorded before the ack); a NOT READY one needs an
        override reason, asked for in a modal."""
        tell = _tell(ctx, body)
        run_id = int(action["value"])
        user = user_of(body)
        try:
            require(ctx, "deploy", user)
            with ctx.db.write() as s:
                run = get_run(s, run_id)
                if run.state != RunState.OPEN:
                    raise UserError(f"Run #{run_id} is {run.state}.")
                ready = compute_readiness(run.items, run.signoffs).ready
                if ready:
                    changed = mark_deployed(
                        s, run_id=run_id, actor=user, now=ctx.clock.now(), request_id=request_id(body)
                    )
                    where = run.channel_id, run.thread_ts
        except Exception as exc:  # noqa: BLE001 - acknowledged, then explained
            ack_failure(ctx, ack, tell, exc)
            return
        ack()
        if ready:
            after_ack(ctx, tell, lambda: after_deployed(ctx, changed, where, user))
            return
        view = modals.reason_modal(
            View.DEPLOY_OVERRIDE,
            title="Deploy anyway?",
            submit="Mark deployed",
            prompt=f"Run #{run_id} is *NOT READY*. Marking it deployed needs an override reason (recorded).",
            label="Override reason",
            meta={"run": run_id},
        )
        after_ack(ctx, tell, lambda: ctx.gateway.open_view(body["trigger_id"], view))

    def reason_button(action: Action, view: View, title: str, submit: str, prompt: str, label: str) -> None:
        """A run button that asks for a reason in a modal first (the submission does the work)."""

        @app.action(action)
        def ask(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            run_id = int(action["value"])
            modal = modals.reason_modal(
                view, title=title, submit=submit, prompt=prompt.format(run=run_id), label=label, meta={"run": run_id}
            )
            after_ack(ctx, _tell(ctx, body), lambda: ctx.gateway.open_view(body["trigger_id"], modal))

    reason_button(
        Action.ABORT,
        View.ABORT,
        "Abort run",
        "Abort",
        "Abort run #{run}? The checklist stays as it is, recorded.",
        "Reason",
    )
    reason_button(
        Action.INCIDENT,
        View.INCIDENT,
        "Security incident",
        "Declare & page",
        "Declare a security incident on run #{run}? On-call is paged at once.",
        "What happened?",
    )

    @app.action(Action.EXPORT)
    def on_export(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        after_ack(ctx, _tell(ctx, body), lambda: export_to_thread(ctx, int(action["value"])))


def _ask_na_reason(ctx: AppContext, body: dict[str, Any], run_id: int, item_id: int) -> None:
    with ctx.db.read() as s:
        run = get_run(s, run_id)
        item = find_item(run, item_id=item_id)
        title = Template.from_dict(run.template_snapshot).item(item.key).title
    view = modals.na_modal(run_id=run_id, item_id=item_id, item_title=title, channel_id=channel_of(body) or "")
    ctx.gateway.open_view(body["trigger_id"], view)


def _run_id_from_message(ctx: AppContext, body: dict[str, Any]) -> int:
    """Sign-off buttons live on the run's parent message; find the run by that message."""
    from sqlalchemy import select

    from bot.store.models import SlackMessage

    container = body.get("container") or {}
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    channel = channel_of(body)
    with ctx.db.read() as s:
        stmt = select(SlackMessage.deployment_id).where(SlackMessage.ts == ts, SlackMessage.channel_id == channel)
        run_id = s.scalars(stmt).first()
    if run_id is None:
        raise UserError("This message does not belong to a deployment run I know.")
    return int(run_id)
