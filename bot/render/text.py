"""mrkdwn helpers: escaping, truncation and Slack date tokens (each reader sees their own time zone)."""

from __future__ import annotations

from datetime import datetime

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPES = str.maketrans(_ENTITIES)


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def escape_within(text: str, limit: int) -> str:
    """`text` escaped for mrkdwn in at most `limit` characters: Slack counts the escaped form, so cut the text
    (never an entity) until it fits, and mark the cut with an ellipsis."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    used, cut = 0, 0
    for ch in text:
        width = len(_ENTITIES.get(ch, ch))
        if used + width > limit - 1:
            break
        used, cut = used + width, cut + 1
    return escape(text[:cut].rstrip()) + "…"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def slack_date(when: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


def mention(user_id: str | None) -> str:
    if not user_id:
        return "someone"
    if user_id in ("template", "deploybot") or user_id.startswith("probe:") or user_id.startswith("api:"):
        return f"_{user_id}_"
    return f"<@{user_id}>"


def message_link(workspace_url: str | None, channel: str, ts: str | None) -> str | None:
    """A top-level message's permalink, built as chat.getPermalink builds it (`workspace_url` from
    auth.test), so an answer given before ack() can carry it without a Web API call."""
    if not workspace_url or not ts:
        return None
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
