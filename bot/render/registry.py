"""Message kind -> renderer, reading the run and its template snapshot from the session."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from bot.checklist.model import Template
from bot.render import layout
from bot.render.run import render_run
from bot.render.section import render_section
from bot.services.runs import get_run
from bot.store.models import RunState, SlackMessage

Blocks = tuple[str, list[dict[str, Any]]]


_CACHE: dict[str, Template] = {}


def _template(snapshot: dict[str, Any]) -> Template:
    """Snapshots never change once stored: build each Template once per content hash."""
    key = str(snapshot.get("content_hash"))
    cached = _CACHE.get(key)
    if cached is None:
        cached = _CACHE[key] = Template.from_dict(snapshot)
    return cached


def checklist_renderers(approvers: Mapping[str, str]) -> dict[str, Callable[[Session, SlackMessage, str], Blocks]]:
    def parent(s: Session, msg: SlackMessage, nonce: str) -> Blocks:
        run = get_run(s, msg.deployment_id)
        return render_run(run, _template(run.template_snapshot), nonce=nonce, approvers=approvers)

    def section(s: Session, msg: SlackMessage, nonce: str) -> Blocks:
        run = get_run(s, msg.deployment_id)
        template = _template(run.template_snapshot)
        slot = layout.slot_for(template, msg.kind, msg.key)
        editable = run.state in (RunState.OPEN, RunState.DEPLOYED, RunState.ROLLED_BACK)
        return render_section(run, template, slot.section, slot.part, nonce=nonce, editable=editable)

    return {"parent": parent, "section": section, "rollback": section}
