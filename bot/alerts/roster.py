"""Pure: the on-call order from the checklist's Emergency Contacts, mapped to Slack users by the config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.checklist.model import Template


@dataclass(frozen=True)
class OnCall:
    slot: str  # e.g. "primary-engineer"
    title: str  # e.g. "Primary Engineer"
    user: str  # Slack user id


def roster(template: Template, oncall: Mapping[str, str]) -> list[OnCall]:
    """Slots in template order that have a person configured; unmapped slots are skipped."""
    return [OnCall(c.slot, c.title, oncall[c.slot]) for c in template.oncall_slots if oncall.get(c.slot)]


def roster_of_snapshot(snapshot: dict[str, Any], oncall: Mapping[str, str]) -> list[OnCall]:
    return roster(Template.from_dict(snapshot), oncall)


def at_level(people: list[OnCall], level: int, *, repeat: bool) -> OnCall | None:
    """Who is on call at escalation `level` (0 = first slot); past the end: wrap when repeating."""
    if not people:
        return None
    if level < len(people):
        return people[level]
    return people[level % len(people)] if repeat else people[-1]


def has_next(people: list[OnCall], level: int, *, repeat: bool) -> bool:
    """Is there anyone to escalate to after `level`?"""
    if repeat:
        return len(people) > 1
    return level + 1 < len(people)
