"""mrkdwn helpers: escaping, truncation and Slack date tokens (each reader sees their own time zone)."""

from __future__ import annotations

from datetime import datetime


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
