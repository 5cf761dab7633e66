"""`/deploy ...`: parse, authorise, record, ack (well within 3 s); Slack messages follow after the ack."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.checklist.errors import TemplateError
from bot.commands import USAGE, Command, parse
from bot.context import AppContext
from bot.errors import Forbidden, UserError
from bot.listeners.common import after_ack, failure_text, request_id
from bot.render import status as status_render
from bot.services import audit
from bot.services.messages import messages_of
from bot.services.runs import abort_run, get_run, mark_deployed, open_runs, resolve_run, start_run


def register(app: App, ctx: AppContext) -> None:
    @app.command("/deploy")
    def deploy(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        try:
            command = parse(body.get("text") or "")
            reply, work = _dispatch(ctx, command, body)
        except (UserError, TemplateError) as exc:
            text = exc.message if isinstance(exc, UserError) else f"That checklist template is broken: {exc}"
            ack(text=text, response_type="ephemeral")
            return
        except Exception as exc:  # noqa: BLE001 - the user gets a reference id, never a stack trace
            ack(text=failure_text(exc), response_type="ephemeral")
            return
        merged: dict[str, Any] = {"response_type": "ephemeral", **reply}
        ack(**merged)
        if work:
            after_ack(ctx, lambda text: respond(text=text, response_type="ephemeral"), work)


Reply = dict[str, Any]


def _dispatch(ctx: AppContext, cmd: Command, body: dict[str, Any]) -> tuple[Reply, Any]:
    user, channel = body["user_id"], body["channel_id"]
    now = ctx.clock.now()
    if cmd.name == "help":
        return {"text": USAGE}, None
    if cmd.name == "list":
        with ctx.db.read() as s:
            return {"text": status_render.run_list(open_runs(s))}, None
    if cmd.name == "status":
        with ctx.db.read() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            return {"text": status_render.run_status(run, typed_in=channel)}, None
    if cmd.name == "start":
        return _start(ctx, cmd, body)
    if cmd.name == "abort":
        _require(ctx, "abort", user, "abort runs")
        with ctx.db.write() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            changed = abort_run(s, run_id=run.id, actor=user, reason=cmd.text, now=now)
            where = run.channel_id, run.thread_ts
        return {"text": f"Run #{changed.deployment_id} aborted."}, lambda: _announce(
            ctx, changed, where, f":no_entry: Run aborted by <@{user}>: _{cmd.text}_"
        )
    if cmd.name == "deployed":
        _require(ctx, "deploy", user, "mark runs deployed")
        with ctx.db.write() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            changed = mark_deployed(
                s,
                run_id=run.id,
                actor=user,
                now=now,
                override_reason=cmd.options.get("override"),
                request_id=request_id(body),
            )
            where = run.channel_id, run.thread_ts
        return {"text": f"Run #{changed.deployment_id} marked deployed."}, lambda: _deployed(ctx, changed, where, user)
    if cmd.name == "incident":
        _require(ctx, "incident", user, "declare incidents")
        with ctx.db.read() as s:
            run_id = resolve_run(s, ref=cmd.run, channel_id=channel).id
        if not ctx.on_incident:
            raise UserError("Incident handling is not configured on this Deploy Bot.")
        return {"text": f"Incident declared on run #{run_id}; paging on-call."}, lambda: [
            hook(run_id, user, cmd.text) for hook in ctx.on_incident
        ]
    if cmd.name == "export":
        with ctx.db.read() as s:
            run_id = resolve_run(s, ref=cmd.run, channel_id=channel).id
        return {"text": f"Exporting run #{run_id}; the file will appear in its thread."}, lambda: export_to_thread(
            ctx, run_id
        )
    raise UserError(USAGE)


def _require(ctx: AppContext, action: str, user: str, what: str) -> None:
    if not ctx.may(action, user):
        raise Forbidden(f"You are not allowed to {what}; ask a release manager (see `permissions.{action}`).")


def _start(ctx: AppContext, cmd: Command, body: dict[str, Any]) -> tuple[Reply, Any]:
    user = body["user_id"]
    _require(ctx, "start", user, "start deployment runs")
    service, version = cmd.args[0], cmd.args[1]
    environment = cmd.args[2] if len(cmd.args) > 2 else "production"
    template = ctx.template(cmd.options.get("template"))
    channel = ctx.deployment_channel(body["channel_id"])
    previous = ctx.settings.services[service].previous_version if service in ctx.settings.services else None
    now = ctx.clock.now()
    with ctx.db.write() as s:
        if not audit.claim_request(s, request_id(body), now=now):
            return {"text": "That start request was already handled."}, None
        run = start_run(
            s,
            template=template,
            service=service,
            version=version,
            environment=environment,
            channel_id=channel,
            started_by=user,
            now=now,
            previous_version=previous,
        )
        run_id = run.id
        ids = [m.id for m in messages_of(s, run_id)]
    where = "" if channel == body["channel_id"] else f" in <#{channel}>"
    reply = {
        "text": f"Started run #{run_id}: {service} {version} → {environment}{where}. "
        f"The checklist ({len(template.items)} items) is in the run's thread.",
        "response_type": "ephemeral",
    }
    return reply, lambda: ctx.updater.notify(ids)


def _announce(ctx: AppContext, changed: Any, where: tuple[str | None, str | None], text: str) -> None:
    ctx.after_change(changed)
    channel, thread = where
    if channel and thread:
        ctx.gateway.post(channel, text, thread_ts=thread)


def _deployed(ctx: AppContext, changed: Any, where: tuple[str | None, str | None], user: str) -> None:
    if changed.duplicate:
        return
    _announce(ctx, changed, where, f":rocket: Marked deployed by <@{user}>. Post-deploy checks start now.")
    for hook in ctx.on_deployed:
        hook(changed.deployment_id)


def export_to_thread(ctx: AppContext, run_id: int) -> None:
    from bot.export import export_run

    filename, markdown = export_run(ctx.db, run_id, now=ctx.clock.now())
    with ctx.db.read() as s:
        run = get_run(s, run_id)
        channel, thread = run.channel_id, run.thread_ts
    if channel:
        ctx.gateway.upload(channel, filename, markdown, title=f"Deployment run #{run_id}", thread_ts=thread)
