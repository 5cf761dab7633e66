"""Pure parts of the post-deploy output: item mapping, item verdicts, sparklines."""

from __future__ import annotations

from typing import Any

from bot.checklist.loader import load_named_template
from bot.checklist.model import Template
from bot.postdeploy.items import ItemCheck, item_checks, judge_item, select_rules, summary_job, tally
from bot.postdeploy.render import sparkline, trend_lines
from probes.analysis import Rule

RULES = (
    Rule(name="error_rate", probe="error_rate"),
    Rule(name="latency_p95", probe="latency_p95"),
    Rule(name="smoke", probe="smoke"),
    Rule(name="health", probe="health"),
)
KINDS = {"error_rate": "prometheus", "latency_p95": "prometheus", "smoke": "smoke", "health": "http"}


def rec(rule: str, outcome: str, value: float | None = 0.01, *, crossed: bool = False) -> dict[str, Any]:
    return {"rule": rule, "outcome": outcome, "reason": f"{rule} {outcome}", "value": value, "crossed": crossed}


def test_default_template_items_map_to_rules_and_summaries() -> None:
    template = load_named_template("lamsa-production")
    post = [i.key for i in template.items if i.key.startswith("post-deployment-tasks.")]
    checks = {c.key.split(".")[1]: c for c in item_checks(template, post)}
    assert set(checks) == {
        "monitor-error-rates",
        "check-performance-metrics",
        "validate-core-features",
        "performance-trending",
    }
    assert checks["monitor-error-rates"].job == "summary-1h"
    assert checks["performance-trending"].job == "summary-24h"
    names = {k: [r.name for r in select_rules(c.selector, RULES, KINDS)] for k, c in checks.items()}
    assert names["monitor-error-rates"] == ["error_rate"]
    assert names["check-performance-metrics"] == ["latency_p95"]
    assert names["validate-core-features"] == ["smoke"]


def test_metadata_names_rules_and_overrides_defaults() -> None:
    data = load_named_template("lamsa-production").to_dict()
    for section in data["sections"]:
        for group in section["groups"]:
            for item in group["items"]:
                if item["key"] == "post-deployment-tasks.monitor-error-rates":
                    item["probe"] = "health, smoke"
                if item["key"] == "post-deployment-tasks.security-monitoring":
                    item["probe"] = "health"
    template = Template.from_dict(data)
    checks = {c.key.split(".")[1]: c for c in item_checks(template, [i.key for i in template.items])}
    assert [r.name for r in select_rules(checks["monitor-error-rates"].selector, RULES, KINDS)] == ["health", "smoke"]
    assert checks["security-monitoring"].job == "report-7d"


def test_summary_job_from_group_title() -> None:
    assert summary_job("Immediate (First Hour)") == "summary-1h"
    assert summary_job("Short-term (First 24 Hours)") == "summary-24h"
    assert summary_job("Long-term (First Week)") == "report-7d"


def test_item_verdicts() -> None:
    check = ItemCheck("k", "Monitor error rates", "summary-1h", "@error")
    rules = [RULES[0]]
    ok = judge_item(check, rules, tally([rec("error_rate", "pass")] * 3), "first hour")
    assert ok.done and ok.evidence["summary"] == "first hour: error_rate 3 pass"
    assert ok.evidence["rules"][0]["counts"] == {"pass": 3}
    crossed = [rec("error_rate", "pass"), rec("error_rate", "fail", 0.2, crossed=True), rec("error_rate", "pass")]
    bad = judge_item(check, rules, tally(crossed), "first hour")
    assert not bad.done and "crossed its threshold (2 pass, 1 fail)" in bad.summary
    only_inconclusive = judge_item(check, rules, tally([rec("error_rate", "inconclusive")]), "first hour")
    assert not only_inconclusive.done and "no passing measurement" in only_inconclusive.summary
    last_error = judge_item(check, rules, tally([rec("error_rate", "pass"), rec("error_rate", "error")]), "w")
    assert not last_error.done and "last check error" in last_error.summary
    empty = judge_item(check, rules, {}, "first hour")
    assert not empty.done and "no measurements" in empty.summary
    unmapped = judge_item(check, [], {}, "first hour")
    assert not unmapped.done and "no configured probe or rule matches '@error'" in unmapped.summary


def test_sparkline_and_trend_lines() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([0.5, None, 0.5]) == "▁·▁"
    assert sparkline([]) == ""
    lines = trend_lines(7, [[rec("error_rate", "pass", 0.01)], [rec("error_rate", "fail", 0.09)]], hours=24)
    assert lines[0] == "*Run #7 · hourly trend* (2/24 h)"
    assert lines[1] == "❌ `▁█` *error_rate* · error_rate fail"
