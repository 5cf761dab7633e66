"""The log redaction filter, through real logging: logger -> handler (with the filter) -> StringIO."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import RedactingFilter, configure_logging, luhn_valid
from bot.settings import build_settings

BOT_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"
USER_TOKEN = "xoxp-1234-5678-abcdef"
APP_TOKEN = "xapp-1-A012345-6789-deadbeef"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
ROUTING_KEY = "R01234567890ABCDEF1234567890ABCD"
VISA = "4111 1111 1111 1111"
NOT_LUHN = "4111111111111112"
SLACK_TS = "1712345678.123456"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(secrets=[SIGNING, ROUTING_KEY]))
    logger = logging.getLogger("test.redaction")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)
    handler.close()
    logger.propagate = True


def test_tokens_secrets_and_cards_are_redacted_in_message_and_args(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.info("token=%s user=%s app=%s", BOT_TOKEN, USER_TOKEN, APP_TOKEN)
    logger.info("signing secret %s and routing key %s", SIGNING, ROUTING_KEY)
    logger.info("card %s paid; other id %s at ts %s", VISA, NOT_LUHN, SLACK_TS)
    out = stream.getvalue()
    for secret in (BOT_TOKEN, USER_TOKEN, APP_TOKEN, SIGNING, ROUTING_KEY, VISA, "4111111111111111"):
        assert secret not in out
    lines = out.splitlines()
    assert lines[0] == "INFO token=[REDACTED] user=[REDACTED] app=[REDACTED]"
    assert lines[1] == "INFO signing secret [REDACTED] and routing key [REDACTED]"
    assert lines[2] == f"INFO card [REDACTED-CARD] paid; other id {NOT_LUHN} at ts {SLACK_TS}"


def test_args_are_cleared_after_formatting(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    keep.addFilter(RedactingFilter())
    logger.addHandler(keep)
    try:
        logger.warning("posting with %s", {"token": BOT_TOKEN})
    finally:
        logger.removeHandler(keep)
        keep.close()
    assert records[0].args is None
    assert records[0].msg == "posting with {'token': '[REDACTED]'}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [REDACTED]"),
        ("headers={'authorization': 'GenieKey 0f0e-0d0c'}", "headers={'authorization': 'GenieKey [REDACTED]'}"),
        ("Authorization=Token s3cr3t;", "Authorization=Token [REDACTED];"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.payload", "sent Bearer [REDACTED]"),
        ("Token expired for U0123", "Token expired for U0123"),  # the word alone is not a header
        ("amex 3782-822463-10005 ok", "amex [REDACTED-CARD] ok"),
        ("mastercard 5555555555554444.", "mastercard [REDACTED-CARD]."),
        ("ts=1712345678.123456 channel=C0123", "ts=1712345678.123456 channel=C0123"),
        ("epoch ms 1712345678123 and 2026-01-01 12:00", "epoch ms 1712345678123 and 2026-01-01 12:00"),
        ("20 digits 41111111111111110000 stay", "20 digits 41111111111111110000 stay"),
        ("refresh xoxe.xoxp-1-abc and xoxe-1-def", "refresh [REDACTED] and [REDACTED]"),
        ("url?token=xoxb-9-9-zz&x=1", "url?token=[REDACTED]&x=1"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert RedactingFilter().redact(text) == expected


def test_url_encoded_secret_and_short_values(capture: tuple[logging.Logger, io.StringIO]) -> None:
    flt = RedactingFilter(secrets=["p@ss/word+1", "", "ab"])
    assert flt.redact("dsn postgresql://u:p%40ss%2Fword%2B1@db and p@ss/word+1") == (
        "dsn postgresql://u:[REDACTED]@db and [REDACTED]"
    )
    assert flt.redact("a tab of abc") == "a tab of abc"  # too-short values are ignored


def test_exception_text_is_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise RuntimeError(f"call failed with {BOT_TOKEN} for card {VISA} key {ROUTING_KEY}")
    except RuntimeError:
        logger.exception("posting failed")
    out = stream.getvalue()
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: call failed with [REDACTED] for card [REDACTED-CARD] key [REDACTED]" in out
    for secret in (BOT_TOKEN, VISA, ROUTING_KEY):
        assert secret not in out


def test_stack_info_is_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    stack = f'Stack (most recent call last):\n  File "x.py", line 1, in <module>\n    post("{BOT_TOKEN}")'
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "x.py", 1, "posting", (), None, sinfo=stack))
    out = stream.getvalue()
    assert 'post("[REDACTED]")' in out
    assert BOT_TOKEN not in out


def test_bad_format_arguments_are_still_redacted(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("only one %s", BOT_TOKEN, SIGNING)
    out = stream.getvalue()
    assert BOT_TOKEN not in out and SIGNING not in out
    assert "only one %s" in out


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid(NOT_LUHN)


def test_configure_logging_uses_settings_secrets_and_replaces_its_handler() -> None:
    settings = build_settings(
        {"channel": "C0123456789"},
        {"SLACK_BOT_TOKEN": "xoxb-from-settings", "SLACK_SIGNING_SECRET": SIGNING, "OPSGENIE_API_KEY": "genie-k3y"},
    )
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging("info", settings.secret_values(), stream=first)
        configure_logging("DEBUG", settings.secret_values(), stream=second)
        assert len(root.handlers) == len(before) + 1  # replaced, not stacked
        logging.getLogger("bot.some.module").debug("secret %s key %s", SIGNING, "genie-k3y")
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
    assert first.getvalue() == ""
    out = second.getvalue()
    assert "DEBUG bot.some.module: secret [REDACTED] key [REDACTED]" in out
    assert SIGNING not in out and "genie-k3y" not in out
