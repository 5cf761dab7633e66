"""Action and callback ids in one place; listeners match on these, never on loose strings."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    CHECK = "check"  # f"check:{item_id}"; a single-option checkboxes element per item
    ITEM_MORE = "more"  # f"more:{item_id}"; overflow: mark N/A / clear N/A
    SIGN = "sign"  # value = role key
    REVOKE = "revoke"  # value = role key
    MARK_DEPLOYED = "mark_deployed"
    EXPORT = "export"
    ABORT = "abort"
    INCIDENT = "incident"
    ALERT_ACK = "alert_ack"
    ALERT_ROLLBACK = "alert_rollback"
    ALERT_RESOLVE = "alert_resolve"


class View(enum.StrEnum):
    NA_REASON = "na_reason"
    SIGN = "sign_confirm"
    ABORT = "abort_reason"
    DEPLOY_OVERRIDE = "deploy_override"
    INCIDENT = "incident"
    ROLLBACK_CONFIRM = "rollback_confirm"
    RESOLVE_REASON = "resolve_reason"


def item_action(kind: Action, item_id: int) -> str:
    return f"{kind}:{item_id}"


def parse_item_action(action_id: str) -> tuple[str, int]:
    kind, _, raw = action_id.partition(":")
    return kind, int(raw)
