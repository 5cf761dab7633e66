"""Rollback triggers and paging on-call: alerts from verdicts and incidents, escalation, roll back."""
