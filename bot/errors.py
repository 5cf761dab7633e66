"""Errors a user can act on: shown as an ephemeral message; anything else gets a reference id."""

from __future__ import annotations


class UserError(Exception):
    """Something the person in Slack (or the API caller) can fix; `message` says how."""

    code = "user_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(UserError):
    code = "not_found"


class Forbidden(UserError):
    code = "forbidden"


class Conflict(UserError):
    code = "conflict"


class Unavailable(UserError):
    """A service we depend on (Slack) could not answer in time; trying again later will do."""

    code = "unavailable"
