"""The HTTP API for CI: start a run, mark it deployed. Bearer token from DEPLOYBOT_API_TOKEN."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, jsonify, request

from bot.checklist.errors import TemplateError
from bot.context import AppContext
from bot.errors import Conflict, NotFound, UserError
from bot.services.messages import messages_of
from bot.services.runs import mark_deployed, start_run
from bot.store.models import Source


def api_blueprint(ctx: AppContext) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.before_request
    def authenticate() -> Any:
        token = ctx.settings.api_token
        if token is None:
            return jsonify(error="the API is disabled: set DEPLOYBOT_API_TOKEN"), 404
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return jsonify(error="missing or wrong bearer token"), 401
        return None

    @bp.errorhandler(UserError)
    def user_error(exc: UserError) -> Any:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return jsonify(error=exc.message, code=exc.code), status

    @bp.errorhandler(TemplateError)
    def template_error(exc: TemplateError) -> Any:
        return jsonify(error=str(exc), code="bad_template"), 400

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise UserError("send a JSON object body with Content-Type: application/json")
        return data

    @bp.post("/runs")
    def start() -> Any:
        data = body()
        missing = [k for k in ("service", "version") if not str(data.get(k) or "").strip()]
        if missing:
            raise UserError(f"missing field(s): {', '.join(missing)}")
        actor = f"api:{str(data.get('requested_by') or 'ci')[:60]}"
        template = ctx.template(data.get("template"))
        channel = ctx.settings.channel or str(data.get("channel") or "")
        if not channel:
            raise UserError("no deployment channel: set `channel` in the config or pass one")
        service = str(data["service"])
        with ctx.db.write() as s:
            run = start_run(
                s,
                template=template,
                service=service,
                version=str(data["version"]),
                environment=str(data.get("environment") or "production"),
                channel_id=channel,
                started_by=actor,
                now=ctx.clock.now(),
                source=Source.API,
                previous_version=data.get("previous_version")
                or (ctx.settings.services[service].previous_version if service in ctx.settings.services else None),
            )
            run_id, ids = run.id, [m.id for m in messages_of(s, run.id)]
        ctx.updater.notify(ids)
        return jsonify(id=run_id, status="open"), 201

    @bp.post("/runs/<int:run_id>/deployed")
    def deployed(run_id: int) -> Any:
        data = request.get_json(silent=True) or {}
        actor = f"api:{str(data.get('requested_by') or 'ci')[:60]}"
        with ctx.db.write() as s:
            changed = mark_deployed(
                s,
                run_id=run_id,
                actor=actor,
                now=ctx.clock.now(),
                override_reason=data.get("override_reason"),
                source=Source.API,
                request_id=request.headers.get("Idempotency-Key"),
            )
        if not changed.duplicate:
            ctx.after_change(changed)
            for hook in ctx.on_deployed:
                hook(run_id)
        return jsonify(id=run_id, status="deployed", duplicate=changed.duplicate)

    return bp
