"""Message kind -> renderer, reading the run and its template snapshot from the session."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.checklist.model import Template
from bot.render import layout
from bot.render.run import render_run
from bot.render.section import render_section
from bot.services.runs import run_readiness, section_counts
from bot.store.models import ChecklistItem, Deployment, RunState, SlackMessage

Blocks = tuple[str, list[dict[str, Any]]]


_CACHE: dict[str, Template] = {}


def template_of(run: Deployment) -> Template:
    """Snapshots never change once stored: parse each one once per content hash (the column is deferred)."""
    cached = _CACHE.get(run.template_hash)
    if cached is None:
        cached = _CACHE[run.template_hash] = Template.from_dict(run.template_snapshot)
    return cached


def checklist_renderers(approvers: Mapping[str, str]) -> dict[str, Callable[[Session, SlackMessage, str], Blocks]]:
    # Renders run up to once a second per message, beside the clicks: read only what the message shows.
    def parent(s: Session, msg: SlackMessage, nonce: str) -> Blocks:
        run = s.get_one(Deployment, msg.deployment_id, options=[selectinload(Deployment.signoffs)])
        template = template_of(run)
        signoffs = run.signoffs
        return render_run(
            run,
            template,
            nonce=nonce,
            approvers=approvers,
            progress=section_counts(s, run.id, [sec.key for sec in template.sections]),
            readiness=run_readiness(s, run, signoffs),
        )

    def section(s: Session, msg: SlackMessage, nonce: str) -> Blocks:
        run = s.get_one(Deployment, msg.deployment_id)
        template = template_of(run)
        slot = layout.slot_for(template, msg.kind, msg.key)
        rows = list(
            s.scalars(
                select(ChecklistItem).where(
                    ChecklistItem.deployment_id == run.id, ChecklistItem.section_key == slot.section.key
                )
            )
        )
        editable = run.state in (RunState.OPEN, RunState.DEPLOYED, RunState.ROLLED_BACK)
        return render_section(run, template, slot.section, slot.part, nonce=nonce, editable=editable, items=rows)

    return {"parent": parent, "section": section, "rollback": section}
