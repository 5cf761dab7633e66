"""What the post-deploy checks hand to whoever acts on them (alerts, paging)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from probes.analysis import Rule, Verdict
from probes.base import ProbeResult


@dataclass(frozen=True)
class Evaluation:
    run_id: int
    rule: Rule
    result: ProbeResult
    verdict: Verdict
    at: datetime


# Called (on the scheduler leader) after each evaluation round of a run, with every rule's evaluation.
VerdictHook = Callable[[int, Sequence[Evaluation]], None]
# Called every few seconds on the scheduler leader only (escalation timers and the like).
LeaderTask = Callable[[datetime], None]
