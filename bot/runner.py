"""`deploybot run`: validate everything first, then serve Slack (Socket Mode or HTTP) until stopped."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from bot.settings import Settings, SettingsError, load_settings
from bot.store.migrate import SchemaError

log = logging.getLogger("deploybot")


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def run(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    if not env.get("SLACK_BOT_TOKEN") and env.get("DEPLOYBOT_NO_SANDBOX") != "1":
        # No Slack app yet: show the bot working against the local Slack sandbox instead.
        from bot.sandbox.runner import run_sandbox

        print("SLACK_BOT_TOKEN is not set: starting the local Slack sandbox instead (see README).", file=sys.stderr)
        return run_sandbox()
    try:
        settings = load_settings(env)
    except SettingsError as exc:
        return _fail(str(exc))
    return serve(settings)


def serve(settings: Settings) -> int:
    from bot.logging_setup import configure_logging
    from bot.stack import BotStack

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), settings.secret_values())
    try:
        template = _check_template(settings)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        stack = BotStack(settings)
    except SchemaError as exc:
        return _fail(f"Database: {exc}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack.start()
    log.info(
        "Deploy Bot serving on %s (template %s, %s mode)",
        stack.url,
        template,
        "Socket Mode" if settings.socket_mode else "HTTP",
    )
    socket = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from bot.app import create_app

        assert settings.slack_app_token is not None
        socket = SocketModeHandler(create_app(stack.ctx), settings.slack_app_token.get_secret_value())
        socket.connect()
    try:
        stop.wait()
    finally:
        if socket is not None:
            socket.close()
        stack.stop()
    return 0


def _check_template(settings: Settings) -> str:
    from bot.checklist.loader import load_named_template

    template = load_named_template(settings.template)
    problems = settings.template_problems(template)
    if problems:
        raise ValueError(SettingsError(problems, source=settings.config_path).args[0])
    anyone = settings.open_roles(template)
    if anyone:
        log.warning("sign-off roles with no `approvers` entry, so anyone may sign them: %s", ", ".join(anyone))
    return template.name
