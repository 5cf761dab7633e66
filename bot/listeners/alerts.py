"""The alert message's buttons: Acknowledge, Roll back (confirmation modal), Resolve / false alarm (reason)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.alerts import service
from bot.alerts.engine import Alerting, engine_for
from bot.alerts.rollback import roll_back
from bot.context import AppContext
from bot.errors import UserError
from bot.listeners.common import ack_failure, after_ack, channel_of, failure_text, request_id, user_of
from bot.render import modals
from bot.render.ids import Action, View
from bot.store.models import Alert, AlertState


def _engine(ctx: AppContext) -> Alerting:
    engine = engine_for(ctx)
    if engine is None:
        raise UserError("Alerting is not running on this Deploy Bot.")
    return engine


def _alert(ctx: AppContext, alert_id: int) -> tuple[int, str, str, str]:
    """(run id, rule, title, state) of an alert, or a message the user can act on."""
    with ctx.db.read() as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise UserError("That alert no longer exists.")
        return alert.deployment_id, alert.rule, str(alert.evidence.get("title") or alert.rule), alert.state


def register(app: App, ctx: AppContext) -> None:
    def teller(body: dict[str, Any]) -> Callable[[str], None]:
        channel, user = channel_of(body), user_of(body)

        def tell(text: str) -> None:
            if channel:
                ctx.gateway.ephemeral(channel, user, text)
            else:
                ctx.gateway.dm(user, text)

        return tell

    @app.action(Action.ALERT_ACK)
    def on_ack(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        tell, user = teller(body), user_of(body)
        try:
            engine = _engine(ctx)
            with ctx.db.write() as s:  # recorded before the ack: the click counts even if Slack drops us
                change = service.acknowledge(
                    s, alert_id=int(action["value"]), actor=user, now=ctx.clock.now(), request_id=request_id(body)
                )
        except Exception as exc:  # noqa: BLE001 - acknowledged, then explained
            ack_failure(ctx, ack, tell, exc)
            return
        ack()
        if not change.changed:
            note = change.note
            after_ack(ctx, tell, lambda: tell(f"Nothing to acknowledge: {note}."))
            return
        after_ack(ctx, tell, lambda: engine.acknowledged(change, actor=user))

    def open_modal(body: dict[str, Any], view: dict[str, Any]) -> None:
        ctx.gateway.open_view(body["trigger_id"], view)

    @app.action(Action.ALERT_ROLLBACK)
    def on_rollback(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        tell = teller(body)

        def work() -> None:
            alert_id = int(action["value"])
            run_id, _, title, _ = _alert(ctx, alert_id)
            if not (ctx.may("deploy", user_of(body)) or ctx.may("abort", user_of(body))):
                raise UserError("You are not allowed to roll back runs (see `permissions.deploy` / `abort`).")
            view = modals.reason_modal(
                View.ROLLBACK_CONFIRM,
                title="Roll back?",
                submit="Roll back",
                prompt=f"Roll back run #{run_id} ({title})? The rollback action runs at once and the run's "
                "Rollback Process checklist is posted in its thread.",
                label="Why roll back?",
                meta={"run": run_id, "alert": alert_id},
            )
            open_modal(body, view)

        after_ack(ctx, tell, work)

    @app.action(Action.ALERT_RESOLVE)
    def on_resolve(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        tell = teller(body)

        def work() -> None:
            alert_id = int(action["value"])
            run_id, _, title, state = _alert(ctx, alert_id)
            if state == AlertState.RESOLVED:
                raise UserError("That alert is already resolved.")
            view = modals.reason_modal(
                View.RESOLVE_REASON,
                title="Resolve alert",
                submit="Resolve",
                prompt=f"Resolve *{title}* on run #{run_id}? Say what happened (e.g. false alarm: ...).",
                label="Resolution",
                meta={"run": run_id, "alert": alert_id},
            )
            open_modal(body, view)

        after_ack(ctx, tell, work)

    def errors(ack: Ack, text: str) -> None:
        ack(response_action="errors", errors={modals.REASON_BLOCK: text[:150]})

    @app.view(View.RESOLVE_REASON)
    def on_resolve_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = user_of(body)
        try:
            engine = _engine(ctx)
            meta = modals.read_meta(view)
            reason = modals.read_text(view, modals.REASON_BLOCK, modals.REASON_ACTION)
            if not reason:
                errors(ack, "Please say why.")
                return
            with ctx.db.write() as s:
                change = service.resolve(s, alert_id=int(meta["alert"]), actor=user, reason=reason, now=ctx.clock.now())
        except Exception as exc:  # noqa: BLE001
            errors(ack, failure_text(exc))
            return
        ack()
        if change.changed:
            after_ack(ctx, lambda text: ctx.gateway.dm(user, text), lambda: engine.resolved(change, actor=user))

    @app.view(View.ROLLBACK_CONFIRM)
    def on_rollback_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = user_of(body)
        try:
            engine = _engine(ctx)
            meta = modals.read_meta(view)
            reason = modals.read_text(view, modals.REASON_BLOCK, modals.REASON_ACTION)
            if not reason:
                errors(ack, "Please say why.")
                return
        except Exception as exc:  # noqa: BLE001
            errors(ack, failure_text(exc))
            return
        ack()  # the webhook may take seconds with retries: after the ack, never before
        run_id, alert_id = int(meta["run"]), int(meta["alert"])
        after_ack(
            ctx,
            lambda text: ctx.gateway.dm(user, text),
            lambda: roll_back(engine, run_id=run_id, actor=user, reason=reason, alert_id=alert_id),
        )
