"""What Slack does with a response_url POST or a slash command's synchronous reply."""

from __future__ import annotations

from typing import Any

from bot.render.limits import message_problems
from bot.sandbox.state import RESPONSE_URL_TTL_S, RESPONSE_URL_USES, ResponseUrl, WorkspaceState


def use_response_url(ws: WorkspaceState, key: str) -> tuple[ResponseUrl | None, str | None]:
    """(target, None) if the URL may be used once more (5 uses within 30 minutes), else (None, error)."""
    with ws.lock:
        target = ws.response_urls.get(key)
        if target is None:
            return None, "no_such_url"
        if ws.now_s() - target.issued_at > RESPONSE_URL_TTL_S:
            return None, "expired_url"
        if target.uses >= RESPONSE_URL_USES:
            return None, "used_url"
        target.uses += 1
        return target, None


def deliver(ws: WorkspaceState, target: ResponseUrl, body: dict[str, Any]) -> str | None:
    """Apply a response body (text, blocks, response_type, replace_original, delete_original).

    Returns None on success or Slack's error code.
    """
    with ws.lock:
        if _truthy(body.get("delete_original")):
            return _delete_original(ws, target)
        blocks = body.get("blocks")
        text = body.get("text") or ""
        if blocks is not None:
            if not isinstance(blocks, list):
                return "invalid_blocks_format"
            problems = message_problems(blocks, text=text)
            if problems:
                for problem in problems:
                    ws.warn(f"response_url: invalid_blocks: {problem}")
                return "invalid_blocks"
        if not text and not blocks:
            return "no_text"
        if _truthy(body.get("replace_original")) and target.message_ts is not None:
            return _replace_original(ws, target, text, blocks)
        message = ws.bot_message(text=text, blocks=blocks, ts=ws.next_ts())
        if body.get("thread_ts"):
            message["thread_ts"] = body["thread_ts"]
        if body.get("response_type") == "in_channel":
            ws.post_message(target.channel_id, message)
        else:
            ws.add_ephemeral(target.user_id, target.channel_id, message)
        return None


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _original(ws: WorkspaceState, target: ResponseUrl) -> dict[str, Any] | None:
    assert target.message_ts is not None
    if target.is_ephemeral:
        return ws.find_ephemeral(target.user_id, target.channel_id, target.message_ts)
    return ws.find_message(target.channel_id, target.message_ts)


def _delete_original(ws: WorkspaceState, target: ResponseUrl) -> str | None:
    if target.message_ts is None or _original(ws, target) is None:
        return "message_not_found"
    if target.is_ephemeral:
        ws.ephemerals[target.user_id] = [
            m
            for m in ws.ephemerals.get(target.user_id, [])
            if not (m["ts"] == target.message_ts and m["channel"] == target.channel_id)
        ]
        ws.emit("ephemeral_deleted", user=target.user_id, channel=target.channel_id, ts=target.message_ts)
    else:
        ws.delete_message(target.channel_id, target.message_ts)
    return None


def _replace_original(
    ws: WorkspaceState, target: ResponseUrl, text: str, blocks: list[dict[str, Any]] | None
) -> str | None:
    original = _original(ws, target)
    if original is None:
        return "message_not_found"
    original["text"] = text
    if blocks is not None:
        original["blocks"] = blocks
    else:
        original.pop("blocks", None)
    if target.is_ephemeral:
        ws.emit("ephemeral_updated", user=target.user_id, channel=target.channel_id, message=original)
    else:
        ws.emit("message_updated", channel=target.channel_id, message=original)
    return None
