"""The one error a bad configuration raises: every problem, listed, no secret values."""

from __future__ import annotations


class SettingsError(ValueError):
    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" ({source})" if source else ""
        count = len(self.problems)
        head = f"Deploy Bot configuration{where} has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([head, *(f"- {p}" for p in self.problems)]))
