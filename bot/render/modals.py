"""Modals. State round-trips as JSON in private_metadata; inputs use fixed block/action ids."""

from __future__ import annotations

import json
from typing import Any

from bot.render.ids import View
from bot.render.text import escape, escape_within, truncate

REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"
COMMENT_BLOCK = "comment"
COMMENT_ACTION = "comment_input"


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _reason_input(label: str, *, optional: bool = False, placeholder: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": REASON_ACTION, "multiline": True}
    if placeholder:
        element["placeholder"] = _plain(truncate(placeholder, 150))
    return {
        "type": "input",
        "block_id": REASON_BLOCK,
        "label": _plain(label),
        "optional": optional,
        "element": element | {"max_length": 2000},
    }


def _view(
    callback: View, title: str, submit: str, blocks: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback,
        "title": _plain(truncate(title, 24)),
        "submit": _plain(truncate(submit, 24)),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(meta, separators=(",", ":")),
        "blocks": blocks,
    }


def na_modal(*, run_id: int, item_id: int, item_title: str, channel_id: str) -> dict[str, Any]:
    intro = {"type": "section", "text": {"type": "mrkdwn", "text": f"Mark *{escape_within(item_title, 200)}* N/A."}}
    return _view(
        View.NA_REASON,
        "Not applicable",
        "Mark N/A",
        [intro, _reason_input("Why does it not apply?", placeholder="e.g. no mobile release in this deploy")],
        {"run": run_id, "item": item_id, "channel": channel_id},
    )


def sign_modal(*, run_id: int, role_key: str, role_title: str, run_title: str, channel_id: str) -> dict[str, Any]:
    intro = {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": f"Sign off *{escape(role_title)}* for run #{run_id} ({escape(run_title)})? "
            "Your name and the time are recorded.",
        },
    }
    comment = {
        "type": "input",
        "block_id": COMMENT_BLOCK,
        "optional": True,
        "label": _plain("Comment"),
        "element": {"type": "plain_text_input", "action_id": COMMENT_ACTION, "multiline": True, "max_length": 2000},
    }
    return _view(
        View.SIGN,
        "Confirm sign-off",
        "Sign off",
        [intro, comment],
        {"run": run_id, "role": role_key, "channel": channel_id},
    )


def reason_modal(
    callback: View, *, title: str, submit: str, prompt: str, label: str, meta: dict[str, Any]
) -> dict[str, Any]:
    intro = {"type": "section", "text": {"type": "mrkdwn", "text": prompt}}
    return _view(callback, title, submit, [intro, _reason_input(label)], meta)


def read_meta(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError("modal private_metadata is not JSON") from exc
    if not isinstance(meta, dict):
        raise ValueError("modal private_metadata is not an object")
    return meta


def read_text(view: dict[str, Any], block_id: str, action_id: str) -> str:
    value = view.get("state", {}).get("values", {}).get(block_id, {}).get(action_id, {}).get("value")
    return (value or "").strip()
