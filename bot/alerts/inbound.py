"""PagerDuty V3 webhooks to us: an incident acknowledged or resolved in PagerDuty updates the Slack alert.

PagerDuty signs the raw body with the subscription's secret (`X-PagerDuty-Signature: v1=<hex HMAC-SHA256>`,
several comma-separated while a secret rotates). The incident's `incident_key` is our dedup key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from bot.alerts import service
from bot.context import AppContext
from bot.store.models import Page, Source

log = logging.getLogger(__name__)
ACTIONS = {"incident.acknowledged": "acknowledge", "incident.resolved": "resolve"}


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, given.strip()) for given in header.split(","))


def pagerduty_blueprint(ctx: AppContext) -> Blueprint:
    bp = Blueprint("pagerduty", __name__)

    @bp.post("/api/pagerduty/webhook")
    def webhook() -> Any:
        secret = ctx.settings.pagerduty_webhook_secret
        if secret is None:
            return jsonify(error="PagerDuty webhooks are off: set PAGERDUTY_WEBHOOK_SECRET"), 404
        body = request.get_data()
        if not signature_ok(secret.get_secret_value(), body, request.headers.get("X-PagerDuty-Signature", "")):
            return jsonify(error="bad or missing X-PagerDuty-Signature"), 401
        try:
            event = json.loads(body)["event"]
            kind, data = str(event["event_type"]), event["data"]
        except (ValueError, KeyError, TypeError):
            return jsonify(error='expected a PagerDuty V3 webhook: {"event": {"event_type", "data"}}'), 400
        action = ACTIONS.get(kind)
        key = data.get("incident_key") if isinstance(data, dict) else None
        if action is None or not key:
            return jsonify(status="ignored", event_type=kind)
        who = ((event.get("agent") or {}).get("summary") or "someone")[:60]
        return jsonify(apply(ctx, str(key), action, actor=f"pagerduty:{who}", event_id=str(event.get("id") or "")))

    return bp


def apply(ctx: AppContext, dedup_key: str, action: str, *, actor: str, event_id: str) -> dict[str, Any]:
    """Mirror PagerDuty's change on our alert; never calls PagerDuty back (it already knows)."""
    now = ctx.clock.now()
    with ctx.db.write() as s:
        alert_id = s.scalar(select(Page.alert_id).where(Page.dedup_key == dedup_key).order_by(Page.id.desc()))
        if alert_id is None:
            return {"status": "ignored", "reason": "no alert with that incident_key"}
        if action == "acknowledge":
            change = service.acknowledge(
                s,
                alert_id=alert_id,
                actor=actor,
                now=now,
                source=Source.API,
                request_id=f"pd:{event_id}" if event_id else None,
            )
        else:
            change = service.resolve(
                s, alert_id=alert_id, actor=actor, reason="resolved in PagerDuty", now=now, source=Source.API
            )
    ctx.updater.notify(change.message_ids)
    log.info("PagerDuty %s for alert %s (changed: %s)", action, alert_id, change.changed)
    return {"status": "applied" if change.changed else "unchanged", "alert": alert_id, "state": change.state}
