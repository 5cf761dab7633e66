"""Pure readiness and progress rules: state in, verdict out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.checklist.phases import PRE
from bot.store.models import ChecklistItem, ItemState, Signoff, SignoffState


@dataclass(frozen=True)
class SectionProgress:
    key: str
    resolved: int
    total: int


@dataclass(frozen=True)
class Readiness:
    ready: bool
    required_open: int  # required pre-deploy items not yet ticked or N/A
    signoffs_missing: tuple[str, ...]  # role titles
    items_gate_open: bool  # every required item resolved (the final authorisation may be given)

    @property
    def label(self) -> str:
        return "READY FOR DEPLOYMENT" if self.ready else "NOT READY"


RESOLVED = (ItemState.DONE, ItemState.NA)


class ItemFacts(Protocol):
    """What the rules read of an item: a ChecklistItem, or a row of its columns (the click path)."""

    @property
    def state(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def required(self) -> bool: ...


def is_resolved(item: ItemFacts) -> bool:
    return item.state in RESOLVED


def gates_ready(item: ItemFacts) -> bool:
    return item.phase == PRE and item.required


def compute_readiness(items: Sequence[ChecklistItem], signoffs: Sequence[Signoff]) -> Readiness:
    required_open = sum(1 for i in items if gates_ready(i) and not is_resolved(i))
    missing = tuple(s.role_title for s in signoffs if s.state != SignoffState.SIGNED)
    return Readiness(
        ready=required_open == 0 and not missing,
        required_open=required_open,
        signoffs_missing=missing,
        items_gate_open=required_open == 0,
    )


def section_progress(items: Sequence[ChecklistItem], section_keys: Sequence[str]) -> list[SectionProgress]:
    out = []
    for key in section_keys:
        mine = [i for i in items if i.section_key == key]
        out.append(SectionProgress(key=key, resolved=sum(1 for i in mine if is_resolved(i)), total=len(mine)))
    return out


def progress_bar(done: int, total: int, width: int = 10) -> str:
    filled = 0 if total == 0 else round(width * done / total)
    return "█" * filled + "░" * (width - filled)
