"""Shared listener plumbing: request ids for redelivery, and turning errors into messages people can act on."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.errors import Forbidden, UserError
from bot.services.runs import Changed

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)

Where = tuple[str | None, str | None]  # a run's channel and thread
PERMITTED = {  # permissions.<key> -> what it lets people do
    "start": "start deployment runs",
    "abort": "abort runs",
    "deploy": "mark runs deployed",
    "incident": "declare incidents",
}


def request_id(body: dict[str, Any]) -> str:
    """Slack gives every interaction a fresh trigger_id; a redelivered request carries the same one."""
    trigger = body.get("trigger_id")
    if trigger:
        action_ts = next((a.get("action_ts", "") for a in body.get("actions") or []), "")
        return f"t:{trigger}:{action_ts}"[:200]
    digest = hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()
    return f"h:{digest}"


def user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user["id"])
    return str(body["user_id"])


def channel_of(body: dict[str, Any]) -> str | None:
    if "channel_id" in body:
        return str(body["channel_id"])
    channel = body.get("channel") or {}
    if channel.get("id"):
        return str(channel["id"])
    container = body.get("container") or {}
    return container.get("channel_id")


def failure_text(exc: Exception) -> str:
    if isinstance(exc, UserError):
        return exc.message
    ref = uuid.uuid4().hex[:8]
    log.exception("listener failed (ref %s)", ref)
    return f"Something went wrong on our side (ref `{ref}`). Nothing you did was lost; try again or tell the team."


def after_ack(ctx: AppContext, tell: Callable[[str], object], work: Callable[[], object]) -> None:
    """Queue work for after the ack on the listener pool. Bolt answers Slack when the listener returns
    (process_before_response), so a listener records, acks and returns; Slack calls and renders run here."""
    ctx.listeners.submit(_reporting, ctx, tell, work)


def ack_failure(ctx: AppContext, ack: Callable[[], object], tell: Callable[[str], object], exc: Exception) -> None:
    """A request that failed is still acknowledged at once; what went wrong is told after the ack."""
    ack()
    text = failure_text(exc)
    after_ack(ctx, tell, lambda: tell(text))


def _reporting(ctx: AppContext, tell: Callable[[str], object], work: Callable[[], object]) -> None:
    """Any failure becomes a message to the user instead of a silent stack trace."""
    ctx.foreground.let_requests_pass()
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - reported to the user with a reference
        try:
            tell(failure_text(exc))
        except Exception:
            log.exception("could not tell the user about a failure")


def require(ctx: AppContext, action: str, user: str) -> None:
    """Refuse unless `user` is in `permissions.<action>` (safe before the ack: see AppContext.may)."""
    if not ctx.may(action, user):
        raise Forbidden(
            f"You are not allowed to {PERMITTED[action]}; ask a release manager (see `permissions.{action}`)."
        )


def after_aborted(ctx: AppContext, changed: Changed, where: Where, user: str, reason: str) -> None:
    _announce(ctx, changed, where, f":no_entry: Run aborted by <@{user}>: _{reason}_")


def after_deployed(ctx: AppContext, changed: Changed, where: Where, user: str) -> None:
    if _announce(ctx, changed, where, f":rocket: Marked deployed by <@{user}>. Post-deploy checks start now."):
        for hook in ctx.on_deployed:
            hook(changed.deployment_id)


def _announce(ctx: AppContext, changed: Changed, where: Where, text: str) -> bool:
    """Re-render and tell the run's thread; False for a redelivered request (already announced)."""
    if changed.duplicate:
        return False
    ctx.after_change(changed)
    channel, thread = where
    if channel and thread:
        ctx.gateway.post(channel, text, thread_ts=thread)
    return True
