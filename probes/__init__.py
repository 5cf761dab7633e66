"""Post-deploy probes (HTTP, smoke, Prometheus), a bounded-concurrency runner and pure analysis rules."""

from probes.analysis import Rule, RuleState, Verdict, evaluate
from probes.base import Outcome, Probe, ProbeResult, build_probe
from probes.runner import run_probes, run_probes_sync

__all__ = [
    "Outcome",
    "Probe",
    "ProbeResult",
    "Rule",
    "RuleState",
    "Verdict",
    "build_probe",
    "evaluate",
    "run_probes",
    "run_probes_sync",
]
