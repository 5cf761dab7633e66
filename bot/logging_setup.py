"""Logging with a redaction filter: tokens, registered secrets, auth headers and card numbers never reach
a log line, whether they arrive in the message, its arguments or an exception's traceback."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

REDACTED = "[REDACTED]"
REDACTED_CARD = "[REDACTED-CARD]"
MIN_SECRET_LENGTH = 4  # shorter values would shred ordinary text; no real secret is this short

_SLACK_TOKEN = re.compile(r"\bxox[abposre](?:\.xox[abposr])?-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+")
# `Authorization: Bearer x`, `'authorization': 'GenieKey x'`, `Authorization=Token x` ...
_AUTH_HEADER = re.compile(
    r"""(authorization["']?\s*[:=]\s*["']?)(bearer|geniekey|token|basic)\s+[^\s"',;]+""", re.IGNORECASE
)
_BARE_SCHEME = re.compile(r"\b(Bearer|GenieKey)\s+[A-Za-z0-9._~+/=-]{8,}")
# 13-19 digits, optionally split by single spaces or dashes, not part of a longer number or a decimal.
_CARD_CANDIDATE = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d])(?!\.\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return REDACTED_CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


class RedactingFilter(logging.Filter):
    """Formats each record's message, redacts it and clears args; also redacts exception and stack text.

    Attach it to a handler (a logger's filters do not see records propagated from child loggers).
    """

    def __init__(self, secrets: Iterable[str] = (), name: str = "") -> None:
        super().__init__(name)
        self._secrets: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        values = set(self._secrets)
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                values.update({secret, quote(secret, safe="")})
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _SLACK_TOKEN.sub(REDACTED, text)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)} {REDACTED}", text)
        text = _BARE_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _CARD_CANDIDATE.sub(_card, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the pieces, still redacted
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatter.format reuses exc_text when set, so the raw traceback is never rendered.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _RedactingHandler(logging.StreamHandler[TextIO]):
    """Marks the handler configure_logging owns, so calling it again replaces rather than stacks."""


def configure_logging(level: str = "INFO", secrets: Iterable[str] = (), *, stream: TextIO | None = None) -> None:
    """Install one redacting handler on the root logger (default stream: stderr)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _RedactingHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _RedactingHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Client libraries log every request URL at INFO; webhook URLs can carry tokens, and it is noise anyway.
    for noisy in ("httpx", "httpcore", "slack_sdk.web.base_client", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
