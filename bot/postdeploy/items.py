"""Which Post-Deployment item each summary decides, and how rule records become a verdict (pure).

An item's `probe` metadata (template front matter, docs/templates.md) names rules or probes, comma separated,
or a selector: `@error` (rules about errors), `@latency`, `@smoke` (rules reading smoke probes). Items of the
default template without metadata get DEFAULT_SELECTORS. The group an item sits in picks the summary that
decides it: "... Hour" -> summary-1h, "... 24 Hours" / "Day" -> summary-24h, "... Week" -> report-7d.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.checklist.model import Template
from bot.postdeploy.schedule import REPORT_7D, SUMMARY_1H, SUMMARY_24H
from probes.analysis import Rule

DEFAULT_SELECTORS = {
    "monitor-error-rates": "@error",
    "check-performance-metrics": "@latency",
    "validate-core-features": "@smoke",
    "performance-trending": "@latency",
}
_KEYWORDS = {"@error": ("error", "5xx", "fail"), "@latency": ("latency", "duration", "p95", "p99", "response")}


@dataclass(frozen=True)
class ItemCheck:
    key: str
    title: str
    job: str  # the summary that decides it
    selector: str


def summary_job(group_title: str) -> str:
    low = group_title.lower()
    if "week" in low:
        return REPORT_7D
    if "24" in low or "day" in low:
        return SUMMARY_24H
    return SUMMARY_1H


def item_checks(template: Template, post_keys: Iterable[str]) -> list[ItemCheck]:
    """Post-phase items that a probe may decide (metadata first, defaults for the default template)."""
    keys = set(post_keys)
    out = []
    for item in template.items:
        if item.key not in keys:
            continue
        selector = item.probe or DEFAULT_SELECTORS.get(item.key.rsplit(".", 1)[-1])
        if selector:
            out.append(ItemCheck(item.key, item.title, summary_job(item.group_title), selector))
    return out


def select_rules(selector: str, rules: Sequence[Rule], probe_kinds: dict[str, str]) -> list[Rule]:
    chosen: list[Rule] = []
    for part in (p.strip() for p in selector.split(",")):
        if part == "@smoke":
            found = [r for r in rules if probe_kinds.get(r.probe) == "smoke"]
        elif part in _KEYWORDS:
            words = _KEYWORDS[part]
            found = [r for r in rules if any(w in f"{r.name} {r.probe}".lower() for w in words)]
        else:
            found = [r for r in rules if part in (r.name, r.probe)]
        chosen.extend(r for r in found if r not in chosen)
    return chosen


@dataclass
class RuleTally:
    """One rule's evaluations over a summary window, from the stored records."""

    rule: str
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> evaluations
    values: list[float | None] = field(default_factory=list)
    crossed: bool = False
    last: dict[str, Any] | None = None

    @property
    def evaluations(self) -> int:
        return sum(self.counts.values())

    def add(self, record: dict[str, Any]) -> None:
        self.counts[record["outcome"]] = self.counts.get(record["outcome"], 0) + 1
        value = record.get("value")
        self.values.append(None if value is None else float(value))
        self.crossed = self.crossed or bool(record.get("crossed"))
        self.last = record

    def counts_text(self) -> str:
        order = ("pass", "fail", "inconclusive", "error")
        return ", ".join(f"{self.counts[o]} {o}" for o in order if self.counts.get(o))

    def problem(self) -> str | None:
        """Why this rule does not let an item be ticked, or None when it does."""
        if not self.evaluations:
            return f"{self.rule}: no measurements in this window"
        last = self.last or {}
        if self.crossed:
            return f"{self.rule}: crossed its threshold ({self.counts_text()}); last: {last.get('reason', '')}"
        if last.get("outcome") in ("fail", "error"):
            return f"{self.rule}: last check {last['outcome']}: {last.get('reason', '')}"
        if not self.counts.get("pass"):
            return f"{self.rule}: no passing measurement ({self.counts_text()}); last: {last.get('reason', '')}"
        return None

    def line(self) -> str:
        last = self.last or {}
        return f"{self.rule}: {self.counts_text() or 'no measurements'}; last: {last.get('reason', '-')}"

    def evidence(self) -> dict[str, Any]:
        last = self.last or {}
        result = last.get("result") or {}
        ev = result.get("evidence") or {}
        return {
            "rule": self.rule,
            "counts": dict(self.counts),
            "crossed": self.crossed,
            "last_reason": last.get("reason"),
            "value": last.get("value"),
            "baseline": last.get("baseline"),
            "threshold": last.get("threshold"),
            "samples": last.get("samples"),
            "query": ev.get("query"),
            "url": ev.get("url"),
        }


def tally(records: Iterable[dict[str, Any]]) -> dict[str, RuleTally]:
    out: dict[str, RuleTally] = {}
    for record in records:
        out.setdefault(record["rule"], RuleTally(record["rule"])).add(record)
    return out


@dataclass(frozen=True)
class ItemVerdict:
    check: ItemCheck
    done: bool
    summary: str
    evidence: dict[str, Any]


def judge_item(check: ItemCheck, rules: Sequence[Rule], tallies: dict[str, RuleTally], window: str) -> ItemVerdict:
    if not rules:
        why = f"no configured probe or rule matches '{check.selector}'"
        return ItemVerdict(check, False, why, {"summary": why, "selector": check.selector})
    per_rule = [tallies.get(r.name) or RuleTally(r.name) for r in rules]
    problems = [p for t in per_rule if (p := t.problem())]
    if problems:
        summary = "; ".join(problems)
    else:
        summary = f"{window}: " + "; ".join(f"{t.rule} {t.counts_text()}" for t in per_rule)
    evidence = {
        "summary": summary,
        "selector": check.selector,
        "window": window,
        "rules": [t.evidence() for t in per_rule],
    }
    return ItemVerdict(check, not problems, summary, evidence)
