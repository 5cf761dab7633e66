"""What may name a run: its service, version and environment (shown in Slack titles, used in export file
names) and its number. Pure, shared by the command parser, the CI API and the run service."""

from __future__ import annotations

import re

# What names a run (its title in Slack, a file name in exports): short, no spaces or markup.
_RUN_FIELD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+/:@-]*")
RUN_FIELD_MAX = {"service": 80, "version": 80, "environment": 40}
RUN_NUMBER_MAX = 2**31 - 1  # the database's integer


def run_field_problem(field: str, value: str) -> str | None:
    """Why `value` cannot be a run's service, version or environment, or None."""
    limit = RUN_FIELD_MAX[field]
    if len(value) > limit:
        return f"{field} is at most {limit} characters (got {len(value)})."
    if not _RUN_FIELD.fullmatch(value):
        return f"{field} `{value[:40]}` may hold only letters, digits and . _ + / : @ - (no spaces or quotes)."
    return None
