"""The run's parent message: what is being deployed, progress per section, sign-offs and the status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.checklist.model import Template
from bot.render.ids import Action
from bot.render.text import escape, escape_within, mention, slack_date, truncate
from bot.services.readiness import Readiness, SectionProgress, compute_readiness, progress_bar, section_progress
from bot.store.models import Deployment, RunState, SignoffState

_STATE_LINE = {
    RunState.DEPLOYED: ":rocket: *DEPLOYED*",
    RunState.ABORTED: ":no_entry: *ABORTED*",
    RunState.ROLLED_BACK: ":rewind: *ROLLED BACK*",
    RunState.CLOSED: ":checkered_flag: *CLOSED*",
}


def run_title(run: Deployment) -> str:
    return f"{run.service} {run.version} → {run.environment}"


def status_line(run: Deployment, readiness: Readiness | None = None) -> str:
    readiness = readiness or compute_readiness(run.items, run.signoffs)
    if run.state in _STATE_LINE:
        line = _STATE_LINE[RunState(run.state)]
        if run.state == RunState.DEPLOYED and run.deployed_at:
            line += f" {slack_date(run.deployed_at)} by {mention(run.deployed_by)}"
            if run.deploy_override_reason:
                line += f" (override: _{escape_within(run.deploy_override_reason, 300)}_)"
        elif run.end_reason:
            line += f": _{escape_within(run.end_reason, 300)}_"
        return line
    if readiness.ready:
        return ":white_check_mark: *READY FOR DEPLOYMENT*"
    parts = []
    if readiness.required_open:
        parts.append(f"{readiness.required_open} required item(s) open")
    if readiness.signoffs_missing:
        parts.append(f"{len(readiness.signoffs_missing)} sign-off(s) missing")
    return ":x: *NOT READY*: " + ", ".join(parts)


def _signoff_block(run: Deployment, index: int, nonce: str, approvers: Mapping[str, str]) -> dict[str, Any]:
    s = run.signoffs[index]
    title = f"*{escape(s.role_title)}*" + (" _(final authorisation)_" if s.final else "")
    button: dict[str, Any] | None = None
    if s.state == SignoffState.SIGNED and s.signed_at:
        text = f":white_check_mark: {title}: {mention(s.user_id)} {slack_date(s.signed_at)}"
        if s.comment:
            text += f"\n> {escape_within(s.comment, 500)}"
        button = {"text": "Revoke", "action": Action.REVOKE, "style": None}
    else:
        if s.state == SignoffState.STALE:
            text = f":warning: {title}: stale (signed by {mention(s.user_id)}, then a required item changed); renew"
        elif s.state == SignoffState.REVOKED:
            text = f":leftwards_arrow_with_hook: {title}: revoked by {mention(s.user_id)}; waiting"
        else:
            text = f":hourglass_flowing_sand: {title}: waiting"
        who = approvers.get(s.role_key)
        if who:
            text += f"\n_approvers: {who}_"
        button = {"text": "Sign off", "action": Action.SIGN, "style": "primary"}
    block: dict[str, Any] = {
        "type": "section",
        "block_id": f"s{index}.{nonce}",
        "text": {"type": "mrkdwn", "text": text},
    }
    if run.state == RunState.OPEN and button:
        accessory: dict[str, Any] = {
            "type": "button",
            "action_id": button["action"],
            "text": {"type": "plain_text", "text": button["text"]},
            "value": s.role_key,
        }
        if button["style"]:
            accessory["style"] = button["style"]
        block["accessory"] = accessory
    return block


def _button(text: str, action: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def render_run(
    run: Deployment,
    template: Template,
    *,
    nonce: str,
    approvers: Mapping[str, str] | None = None,
    progress: Sequence[SectionProgress] | None = None,
    readiness: Readiness | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Progress and readiness may be given (counted in SQL) so a render need not load every item."""
    approvers = approvers or {}
    status = status_line(run, readiness)
    if progress is None:
        progress = section_progress(run.items, [s.key for s in template.sections])
    lines = []
    for section, p in zip(template.sections, progress, strict=True):
        if p.total:
            lines.append(f"`{progress_bar(p.resolved, p.total)}` {p.resolved}/{p.total}  {escape(section.title)}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "block_id": f"h.{nonce}",
            "text": {"type": "plain_text", "text": truncate(f"Deploy {run_title(run)}", 150)},
        },
        {
            "type": "section",
            "block_id": f"st.{nonce}",
            "text": {"type": "mrkdwn", "text": status},
        },
        {
            "type": "context",
            "block_id": f"who.{nonce}",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Run #{run.id} · started by {mention(run.started_by)} {slack_date(run.created_at)} · "
                    f"checklist _{escape(template.title)}_ ({run.template_hash[:8]}) · items in the thread",
                }
            ],
        },
        {
            "type": "section",
            "block_id": f"p.{nonce}",
            "text": {"type": "mrkdwn", "text": truncate("\n".join(lines), 3000)},
        },
        {"type": "divider", "block_id": f"d1.{nonce}"},
        {"type": "section", "block_id": f"sh.{nonce}", "text": {"type": "mrkdwn", "text": "*Sign-offs*"}},
    ]
    blocks += [_signoff_block(run, i, nonce, approvers) for i in range(len(run.signoffs))]
    actions = []
    if run.state == RunState.OPEN:
        actions.append(_button("Mark deployed", Action.MARK_DEPLOYED, str(run.id), "primary"))
    if run.state in (RunState.OPEN, RunState.DEPLOYED):
        actions.append(_button("Declare incident", Action.INCIDENT, str(run.id)))
    actions.append(_button("Export", Action.EXPORT, str(run.id)))
    if run.state == RunState.OPEN:
        actions.append(_button("Abort", Action.ABORT, str(run.id), "danger"))
    blocks.append({"type": "divider", "block_id": f"d2.{nonce}"})
    blocks.append({"type": "actions", "block_id": f"a.{nonce}", "elements": actions})
    text = f"Deploy {run_title(run)}: {status}"
    return text, blocks


def readiness_notice(run: Deployment, ready: bool) -> str:
    if ready:
        return (
            f":white_check_mark: Run #{run.id} ({escape(run_title(run))}) is *READY FOR DEPLOYMENT*: every required "
            "item is resolved and every role has signed."
        )
    return f":x: Run #{run.id} ({escape(run_title(run))}) is back to *NOT READY*: {status_line(run)}"
