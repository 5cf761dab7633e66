"""Post-deploy Slack text: the edited hourly trend message, summaries, the scheduled notice (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.schema import Schedule
from bot.postdeploy.items import ItemVerdict, RuleTally
from bot.postdeploy.schedule import TREND
from bot.store.models import ProbeRun, SlackMessage

SPARKS = "▁▂▃▄▅▆▇█"
SECTION_CHARS = 2900  # a section block's text is capped at 3000


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value, scaled between the smallest and largest; a gap (·) for no data."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "·" * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append("·")
        else:
            out.append(SPARKS[0 if span == 0 else round((v - low) / span * (len(SPARKS) - 1))])
    return "".join(out)


def _sections(lines: Sequence[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    chunk = ""
    for line in lines:
        line = line[:SECTION_CHARS]
        if chunk and len(chunk) + 1 + len(line) > SECTION_CHARS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return blocks[:50]


def _mark(outcome: str | None) -> str:
    return {"pass": "✅", "fail": "❌", "error": "⚠️", "inconclusive": "❔"}.get(outcome or "", "·")


def trend_lines(run_id: int, rounds: Sequence[Sequence[dict[str, Any]]], *, hours: int) -> list[str]:
    """`rounds`: the records of each hourly trend run, oldest first."""
    tallies: dict[str, RuleTally] = {}
    for records in rounds:
        seen = set()
        for rec in records:
            tallies.setdefault(rec["rule"], RuleTally(rec["rule"])).add(rec)
            seen.add(rec["rule"])
        for name, t in tallies.items():
            if name not in seen:
                t.values.append(None)
    head = f"*Run #{run_id} · hourly trend* ({len(rounds)}/{hours} h)"
    if not tallies:
        return [head, "No probes configured for this service."]
    lines = [head]
    for name, t in tallies.items():
        last = t.last or {}
        lines.append(f"{_mark(last.get('outcome'))} `{sparkline(t.values)}` *{name}* · {last.get('reason', '')}")
    return lines


def render_trend(db_session: Session, msg: SlackMessage, nonce: str) -> tuple[str, list[dict[str, Any]]]:
    """Renderer for SlackMessage kind "trend" (registered in bot/app.py)."""
    stmt = (
        select(ProbeRun.results)
        .where(ProbeRun.deployment_id == msg.deployment_id, ProbeRun.job == TREND, ProbeRun.status == "done")
        .order_by(ProbeRun.slot)
    )
    rounds = [list(r or []) for r in db_session.scalars(stmt)]
    hours = int(msg.key) if msg.key.isdigit() else 24  # the key holds the number of trend rounds
    lines = trend_lines(msg.deployment_id, rounds, hours=hours)
    return lines[0].replace("*", ""), _sections(lines)


def summary_blocks(
    title: str, tallies: Sequence[RuleTally], verdicts: Sequence[ItemVerdict]
) -> tuple[str, list[dict[str, Any]]]:
    lines = [f"*{title}*"]
    if not tallies:
        lines.append("No probe results in this window.")
    for t in tallies:
        ok = t.problem() is None
        ev = t.evidence()
        extra = []
        if ev.get("baseline") is not None:
            extra.append(f"baseline {ev['baseline']:g}")
        if ev.get("samples") is not None:
            extra.append(f"samples {ev['samples']:,}")
        if ev.get("query"):
            extra.append(f"query `{ev['query']}`")
        elif ev.get("url"):
            extra.append(f"<{ev['url']}|{ev['url']}>")
        tail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"{'✅' if ok else '❌'} {t.line()}{tail}")
    for v in verdicts:
        if v.done:
            lines.append(f"☑️ Ticked *{v.check.title}*: {v.summary}")
        else:
            lines.append(f"⏳ Left open *{v.check.title}*: {v.summary}")
    return f"{title}", _sections(lines)


def scheduled_notice(schedule: Schedule, deployed_at: datetime, *, service: str, probes: int) -> str:
    hour, day, week = schedule.first_hour, schedule.first_day, schedule.first_week
    when = deployed_at.strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"Post-deploy checks scheduled from {when}: metrics every {hour.metrics_every_s:g}s and smoke tests every "
        f"{hour.smoke_every_s:g}s for {hour.summary_after_s / 3600:g} h, then a summary; an hourly trend "
        f"(one message, edited) and a summary after {day.summary_after_s / 3600:g} h; a daily check and a "
        f"final report after {week.report_after_s / 86400:g} days."
    )
    if not probes:
        text += f" No probes are configured for service '{service}': summaries will leave the items open."
    return text
