"""Which messages show a run's checklist: one per section part in the thread; rollback steps apart."""

from __future__ import annotations

from dataclasses import dataclass

from bot.checklist.model import Group, Section, Template
from bot.checklist.phases import ROLLBACK, item_phase
from bot.render.section import part_key, section_parts


@dataclass(frozen=True)
class Slot:
    kind: str  # "section" or "rollback"
    key: str  # f"{section_key}#{part}"
    section: Section  # filtered to the items this kind shows
    part: int


def _filtered(section: Section, *, rollback: bool) -> Section:
    groups = []
    for g in section.groups:
        items = tuple(i for i in g.items if (item_phase(section, i) == ROLLBACK) == rollback)
        if items:
            groups.append(Group(title=g.title, items=items))
    return Section(key=section.key, title=section.title, groups=tuple(groups))


def slots(template: Template, kind: str) -> list[Slot]:
    out = []
    for section in template.sections:
        shown = _filtered(section, rollback=kind == "rollback")
        if not shown.groups:
            continue
        for index, _ in enumerate(section_parts(shown)):
            out.append(Slot(kind=kind, key=part_key(section.key, index), section=shown, part=index))
    return out


def slot_for(template: Template, kind: str, key: str) -> Slot:
    for slot in slots(template, kind):
        if slot.key == key:
            return slot
    raise KeyError(key)
