"""The channel alert message: who is on call, the evidence, and Acknowledge / Roll back / Resolve buttons.

Pure: rows in, Block Kit out. `alert_renderer` is the thin session-reading wrapper the publisher calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts.roster import OnCall, at_level, roster_of_snapshot
from bot.clock import utc
from bot.render.ids import Action
from bot.render.text import escape, escape_within, mention, slack_date, truncate
from bot.settings import Settings
from bot.store.models import Alert, AlertState, Deployment, Page, RunState, SlackMessage

Blocks = tuple[str, list[dict[str, Any]]]
_ICON = {
    AlertState.OPEN: ":rotating_light:",
    AlertState.ACKNOWLEDGED: ":eyes:",
    AlertState.RESOLVED: ":white_check_mark:",
}


def _md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _when(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return slack_date(utc(datetime.fromisoformat(raw)), "{date_short_pretty} {time}")
    except ValueError:
        return None


def evidence_fields(evidence: dict[str, Any]) -> list[dict[str, str]]:
    """Value, bound, baseline, sample size, window, since: the facts a person judges the alert by."""

    def text(key: str) -> str | None:
        value = evidence.get(key)
        return escape_within(str(value), 200) if value not in (None, "") else None

    samples = evidence.get("samples")
    declared = evidence.get("declared_by")
    rows: list[tuple[str, str | None]] = [
        ("Value", text("value_text")),
        ("Threshold", text("threshold_text")),
        ("Baseline", text("baseline_text")),
        ("Samples", f"{samples:,}" if isinstance(samples, int) else None),
        ("Window", text("window")),
        ("Since", _when(evidence.get("since"))),
        ("Probe", text("probe")),
        ("Declared by", mention(str(declared)) if declared else None),
    ]
    return [_md(f"*{name}*\n{v}") for name, v in rows if v][:10]


def paging_note(pages: Sequence[Page]) -> str | None:
    """Say plainly when no provider took the page, and when a provider refused it (e.g. 400)."""
    if not pages:
        return None
    latest = max(pages, key=lambda p: p.level)
    rows = [r for r in latest.results or [] if "provider" in r]
    external = [r for r in rows if r["provider"] != "slack"]
    refused = [r for r in external if not r.get("ok") and r.get("status") and 400 <= int(r["status"]) < 500]
    notes = []
    if latest.status == "failed":
        notes.append(":warning: *Paging failed*: no paging provider and no Slack fallback reached anyone.")
    elif external and not any(r.get("ok") for r in external):
        failed = ", ".join(
            f"{r['provider']} ({r.get('status') or truncate(str(r.get('error')), 60)})" for r in external
        )
        notes.append(
            f":warning: *Every paging provider failed* ({escape(failed)}); on-call was told through Slack instead "
            "(a DM and this channel)."
        )
    elif not external and latest.status == "sent":
        notes.append("No paging provider is configured: on-call was paged through Slack (a DM and a mention).")
    for r in refused:
        notes.append(f":x: {r['provider']} refused the page ({r['status']}): {escape_within(str(r.get('error')), 200)}")
    return "\n".join(notes) or None


def _state_line(alert: Alert, oncall: OnCall | None) -> str:
    if alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_at:
        return f"Acknowledged by {mention(alert.acknowledged_by)} {slack_date(alert.acknowledged_at, '{time}')}"
    if alert.state == AlertState.RESOLVED and alert.resolved_at:
        why = f": _{escape_within(alert.resolution or '', 300)}_" if alert.resolution else ""
        return f"Resolved by {mention(alert.resolved_by)} {slack_date(alert.resolved_at, '{time}')}{why}"
    who = f"{mention(oncall.user)} ({escape(oncall.title)})" if oncall else "nobody (set `oncall` in the config)"
    line = f"On call: {who}"
    if alert.escalation_level:
        line += f" · escalated {alert.escalation_level}×, not acknowledged"
    if alert.next_escalation_at:
        line += f" · escalates {slack_date(alert.next_escalation_at, '{time}')} unless acknowledged"
    return line


def _button(text: str, action: Action, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def render_alert(
    alert: Alert, run: Deployment, *, oncall: OnCall | None, pages: Sequence[Page] = (), nonce: str = "0"
) -> Blocks:
    title = str(alert.evidence.get("title") or alert.rule)
    icon = _ICON.get(AlertState(alert.state), ":rotating_light:")
    state = AlertState(alert.state).value.upper()
    header = truncate(f"{state}: {title}", 140)
    who = f"{mention(oncall.user)} " if oncall and alert.state == AlertState.OPEN else ""
    intro = (
        f"{icon} {who}*{escape(run.service)} {escape(run.version)}* → {escape(run.environment)} "
        f"(run #{run.id}) · severity *{escape(alert.severity)}*\n{escape_within(alert.summary, 1500)}"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": _md(intro)},
    ]
    fields = evidence_fields(alert.evidence)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if alert.evidence.get("text"):
        blocks.append({"type": "section", "text": _md(f"> {escape_within(str(alert.evidence['text']), 2000)}")})
    context = [_md(_state_line(alert, oncall))]
    note = paging_note(pages)
    if note:
        blocks.append({"type": "section", "text": _md(note)})
    blocks.append({"type": "context", "elements": context})
    buttons = []
    value = str(alert.id)
    if alert.state == AlertState.OPEN:
        buttons.append(_button("Acknowledge", Action.ALERT_ACK, value, "primary"))
    if run.state == RunState.DEPLOYED and alert.state != AlertState.RESOLVED:
        buttons.append(_button("Roll back", Action.ALERT_ROLLBACK, value, "danger"))
    if alert.state != AlertState.RESOLVED:
        buttons.append(_button("Resolve / false alarm", Action.ALERT_RESOLVE, value))
    if run.state == RunState.ROLLED_BACK:
        blocks.append({"type": "context", "elements": [_md(":rewind: This run was rolled back.")]})
    if buttons:
        blocks.append({"type": "actions", "block_id": f"alert-{alert.id}-{nonce}", "elements": buttons})
    who_text = f" ({oncall.title}: <@{oncall.user}>)" if oncall and alert.state == AlertState.OPEN else ""
    text = f"{state}: {title}: {run.service} {run.version} run #{run.id}{who_text}"
    return text, blocks


def thread_line(alert: Alert, *, oncall: OnCall | None, permalink: str | None) -> str:
    """The one line posted in the run's thread when an alert opens."""
    who = f" · on call {mention(oncall.user)}" if oncall else ""
    link = f" · <{permalink}|alert>" if permalink else ""
    return (
        f":rotating_light: *{escape(str(alert.evidence.get('title') or alert.rule))}*: "
        + escape_within(alert.summary, 500)
        + f"{who}{link}"
    )


def current_oncall(settings: Settings, run: Deployment, alert: Alert) -> OnCall | None:
    people = roster_of_snapshot(run.template_snapshot, settings.config.oncall)
    return at_level(people, alert.escalation_level, repeat=settings.escalation.repeat)


def alert_renderer(settings: Settings) -> Callable[[Session, SlackMessage, str], Blocks]:
    def render(s: Session, msg: SlackMessage, nonce: str) -> Blocks:
        alert = s.get(Alert, int(msg.key.partition("#")[0]))
        run = s.get(Deployment, msg.deployment_id)
        assert alert is not None and run is not None
        pages = list(s.scalars(select(Page).where(Page.alert_id == alert.id)))
        return render_alert(alert, run, oncall=current_oncall(settings, run, alert), pages=pages, nonce=nonce)

    return render
