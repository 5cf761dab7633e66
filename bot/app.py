"""Wiring: settings -> context -> Bolt app. No work at import time."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.error import BoltError

from bot.clock import Clock, SystemClock
from bot.context import AppContext, approvers_text
from bot.foreground import Foreground
from bot.listeners import actions, alerts, commands, views
from bot.postdeploy.render import render_trend
from bot.render.alert import alert_renderer
from bot.render.registry import checklist_renderers
from bot.settings import Settings
from bot.slack.gateway import Gateway
from bot.slack.publisher import Publisher
from bot.slack.updater import MessageUpdater
from bot.store.db import Database

log = logging.getLogger(__name__)


def build_context(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    gateway: Gateway | None = None,
) -> AppContext:
    db = db or Database(settings.database_url)
    if gateway is None:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        gateway = Gateway(token=token, base_url=settings.slack_api_url)
    renderers = {
        **checklist_renderers(approvers_text(settings)),
        "trend": render_trend,
        "alert": alert_renderer(settings),
    }
    publisher = Publisher(db, gateway, renderers)
    foreground = Foreground()
    updater = MessageUpdater(
        publisher, interval_s=settings.config.update_coalesce_seconds, before_send=foreground.let_requests_pass
    )
    return AppContext(
        settings=settings,
        db=db,
        gateway=gateway,
        updater=updater,
        clock=clock or SystemClock(),
        foreground=foreground,
    )


class AnsweringApp(App):
    """Counts the requests being answered (HTTP and Socket Mode alike): after-ack work waits for them
    (bot/foreground.py). Bolt's middleware cannot do it: it runs before the listener, not around it."""

    def __init__(self, foreground: Foreground, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._foreground = foreground

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        with self._foreground.answering():
            return super().dispatch(req)


def create_app(ctx: AppContext) -> App:
    settings = ctx.settings
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = AnsweringApp(
        ctx.foreground,
        client=ctx.gateway.client,
        signing_secret=secret,
        # Bolt answers when the listener returns: a listener records, acks and hands the rest to the listener pool
        # (listeners.common.after_ack). With False, Bolt polls for the ack every 10 ms, adding up to 10 ms per click.
        process_before_response=True,
        request_verification_enabled=not settings.socket_mode,
        raise_error_for_unhandled_request=False,
        listener_executor=ctx.listeners,
    )

    commands.register(app, ctx)
    actions.register(app, ctx)
    views.register(app, ctx)
    alerts.register(app, ctx)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        if isinstance(error, BoltError):
            log.warning("unhandled Slack request type %s", body.get("type"))
        else:
            log.error("listener error: %s", error, exc_info=error)

    return app
