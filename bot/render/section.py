"""A checklist section as thread messages: one single-option checkbox per item, so a click is absolute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.checklist.model import Item, Section, Template
from bot.render.ids import Action, item_action
from bot.render.text import escape, escape_within, mention, slack_date, truncate
from bot.store.models import ChecklistItem, Deployment, ItemState

MAX_BLOCKS = 50
OPTION_MAX = 75  # characters in a checkbox option's text and in its description
_FIXED = 2  # header + context at the top of every part


@dataclass(frozen=True)
class Part:
    """The groups (title, items) one message shows; a long section is split across several."""

    groups: tuple[tuple[str, tuple[Item, ...]], ...]


def _item_cost(_: Item) -> int:
    return 2  # actions block + context block, at most


def section_parts(section: Section, *, max_blocks: int = MAX_BLOCKS) -> list[Part]:
    parts: list[Part] = []
    current: list[tuple[str, tuple[Item, ...]]] = []
    used = _FIXED
    for group in section.groups:
        pending = list(group.items)
        while pending:
            room = max_blocks - used - 1  # minus the group's title block
            take = []
            while pending and room >= _item_cost(pending[0]):
                room -= _item_cost(pending[0])
                take.append(pending.pop(0))
            if take:
                current.append((group.title, tuple(take)))
                used = max_blocks - room
            if pending:
                parts.append(Part(tuple(current)))
                current, used = [], _FIXED
    if current or not parts:
        parts.append(Part(tuple(current)))
    return parts


def part_key(section_key: str, index: int) -> str:
    return f"{section_key}#{index}"


def _option(item: Item, row: ChecklistItem) -> dict[str, Any]:
    # An option's text and description hold 75 characters each, markup and entities included.
    if row.state == ItemState.NA:
        text = f"~{escape_within(item.title, OPTION_MAX - 6)}~ N/A"
    else:
        suffix = "" if row.required else " _(optional)_"
        text = f"*{escape_within(item.title, OPTION_MAX - 2 - len(suffix))}*{suffix}"
    option: dict[str, Any] = {"text": {"type": "mrkdwn", "text": text}, "value": "done"}
    if item.description:
        option["description"] = {"type": "mrkdwn", "text": escape_within(item.description, OPTION_MAX)}
    return option


def _attribution(item: Item, row: ChecklistItem) -> str | None:
    if row.changed_by is None or row.changed_at is None:
        return None
    when = slack_date(row.changed_at, "{time}")
    who = mention(row.changed_by)
    if row.state == ItemState.DONE:
        text = f":white_check_mark: ticked by {who} {when}"
        if row.changed_by == "template":
            text = ":white_check_mark: ticked in the template"
        summary = (row.evidence or {}).get("summary")
        if summary:
            text += f" · {escape_within(str(summary), 300)}"
        return text
    if row.state == ItemState.NA:
        return f":heavy_minus_sign: N/A by {who} {when}: _{escape_within(row.na_reason or '', 500)}_"
    text = f":arrow_backward: un-ticked by {who} {when}"
    summary = (row.evidence or {}).get("summary")
    if summary:
        text += f" · {escape_within(str(summary), 300)}"
    return text


def item_blocks(item: Item, row: ChecklistItem, *, nonce: str, editable: bool) -> list[dict[str, Any]]:
    option = _option(item, row)
    blocks: list[dict[str, Any]] = []
    if editable:
        checkbox: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": item_action(Action.CHECK, row.id),
            "options": [option],
        }
        if row.state == ItemState.DONE:
            checkbox["initial_options"] = [option]
        more = {
            "type": "overflow",
            "action_id": item_action(Action.ITEM_MORE, row.id),
            "options": [
                {"text": {"type": "plain_text", "text": "Clear N/A"}, "value": "clear"}
                if row.state == ItemState.NA
                else {"text": {"type": "plain_text", "text": "Mark N/A…"}, "value": "na"}
            ],
        }
        blocks.append({"type": "actions", "block_id": f"i{row.id}.{nonce}", "elements": [checkbox, more]})
    else:
        mark = {ItemState.DONE: ":white_check_mark:", ItemState.NA: ":heavy_minus_sign:"}.get(
            ItemState(row.state), ":white_large_square:"
        )
        blocks.append(
            {
                "type": "section",
                "block_id": f"i{row.id}.{nonce}",
                "text": {"type": "mrkdwn", "text": f"{mark} {option['text']['text']}"},
            }
        )
    note = _attribution(item, row)
    if note:
        blocks.append(
            {
                "type": "context",
                "block_id": f"c{row.id}.{nonce}",
                "elements": [{"type": "mrkdwn", "text": note}],
            }
        )
    return blocks


def render_section(
    run: Deployment,
    template: Template,
    section: Section,
    part_index: int,
    *,
    nonce: str,
    editable: bool = True,
    items: Sequence[ChecklistItem] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for one part of a section. `items`: the section's rows (default: the run's)."""
    parts = section_parts(section)
    part = parts[part_index]
    rows = {r.key: r for r in (run.items if items is None else items)}
    mine = [rows[i.key] for i in section.items if i.key in rows]
    resolved = sum(1 for r in mine if r.state in (ItemState.DONE, ItemState.NA))
    title = section.title if len(parts) == 1 else f"{section.title} ({part_index + 1}/{len(parts)})"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "block_id": f"h.{nonce}",
            "text": {"type": "plain_text", "text": truncate(title, 150)},
        },
        {
            "type": "context",
            "block_id": f"x.{nonce}",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Run #{run.id} · {escape(run.service)} {escape(run.version)} · "
                    f"{resolved}/{len(mine)} resolved",
                }
            ],
        },
    ]
    for gi, (group_title, group_items) in enumerate(part.groups):
        blocks.append(
            {
                "type": "section",
                "block_id": f"g{gi}.{nonce}",
                "text": {"type": "mrkdwn", "text": f"*{escape(group_title or section.title)}*"},
            }
        )
        for item in group_items:
            if item.key in rows:
                blocks += item_blocks(item, rows[item.key], nonce=nonce, editable=editable)
    text = f"{section.title}: {resolved}/{len(mine)} resolved (run #{run.id})"
    return text, blocks
