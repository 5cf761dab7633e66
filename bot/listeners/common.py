"""Shared listener plumbing: request ids for redelivery, and turning errors into messages people can act on."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.errors import UserError

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)


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
