"""Text answers to `/deploy status` and `/deploy list` (ephemeral, so plain mrkdwn)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.render.run import run_title, status_line
from bot.render.text import escape, mention, message_link, slack_date
from bot.services.readiness import is_resolved
from bot.store.models import Deployment, SignoffState


def where_it_lives(run: Deployment, *, typed_in: str | None, workspace_url: str | None) -> str | None:
    """For an answer typed outside the run's channel: where the run is, linked to its message."""
    if not run.channel_id or typed_in == run.channel_id:
        return None
    link = message_link(workspace_url, run.channel_id, run.thread_ts)
    return f"Run #{run.id} lives in <#{run.channel_id}>" + (f": <{link}|open it>." if link else ".")


def run_status(run: Deployment, *, typed_in: str | None = None, workspace_url: str | None = None) -> str:
    resolved = sum(1 for i in run.items if is_resolved(i))
    lines = [
        f"*Run #{run.id}*: {escape(run_title(run))}",
        status_line(run),
        f"{resolved}/{len(run.items)} items resolved · "
        f"started by {mention(run.started_by)} {slack_date(run.created_at)}",
    ]
    for s in run.signoffs:
        mark = ":white_check_mark:" if s.state == SignoffState.SIGNED else ":hourglass_flowing_sand:"
        who = f" {mention(s.user_id)}" if s.state == SignoffState.SIGNED else f" ({s.state})"
        lines.append(f"{mark} {escape(s.role_title)}{who}")
    where = where_it_lives(run, typed_in=typed_in, workspace_url=workspace_url)
    return "\n".join([*lines, where] if where else lines)


def run_list(runs: Sequence[Deployment], *, workspace_url: str | None = None) -> str:
    if not runs:
        return "No deployment runs are open. Start one with `/deploy start SERVICE VERSION`."
    lines = ["*Open deployment runs*"]
    for run in runs:
        where = f" in <#{run.channel_id}>" if run.channel_id else ""
        link = message_link(workspace_url, run.channel_id, run.thread_ts) if run.channel_id else None
        number = f"<{link}|#{run.id}>" if link else f"#{run.id}"
        lines.append(f"• {number} {escape(run_title(run))} ({run.state}){where} · started by {mention(run.started_by)}")
    return "\n".join(lines)
