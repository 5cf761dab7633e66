"""`/deploy ...`: parse, authorise, record, ack (well within 3 s); Slack messages follow after the ack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.checklist.errors import TemplateError, TemplateNotFound
from bot.commands import USAGE, Command, parse
from bot.context import AppContext
from bot.errors import UserError
from bot.listeners.common import after_aborted, after_ack, after_deployed, failure_text, request_id, require
from bot.render import status as status_render
from bot.services import audit
from bot.services.messages import messages_of
from bot.services.runs import abort_run, get_run, mark_deployed, open_runs, resolve_run, start_run
from bot.store.models import Deployment

START_LINK_WAIT_S = 10.0  # a run started from elsewhere: how long to wait for its message, to link it


def register(app: App, ctx: AppContext) -> None:
    @app.command("/deploy")
    def deploy(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        try:
            command = parse(body.get("text") or "")
            reply, work = _dispatch(ctx, command, body)
        except (UserError, TemplateError) as exc:
            text = _template_problem(exc) if isinstance(exc, TemplateError) else exc.message
            ack(text=text, response_type="ephemeral")
            return
        except Exception as exc:  # noqa: BLE001 - the user gets a reference id, never a stack trace
            ack(text=failure_text(exc), response_type="ephemeral")
            return
        merged: dict[str, Any] = {"response_type": "ephemeral", **reply}
        ack(**merged)
        if work:
            tell = _teller(respond)
            after_ack(ctx, tell, lambda: _follow_up(work, tell))


Reply = dict[str, Any]
Work = Callable[[], str | None]  # after the ack; a text it returns follows the reply


def _template_problem(exc: TemplateError) -> str:
    if isinstance(exc, TemplateNotFound):  # the person typed a wrong name; the server's paths are no help
        return exc.message[:1].upper() + exc.message[1:] + "."
    return f"That checklist template is broken: {exc}"


def _teller(respond: Respond) -> Callable[[str], object]:
    return lambda text: respond(text=text, response_type="ephemeral")


def _follow_up(work: Work, tell: Callable[[str], object]) -> None:
    text = work()
    if text:
        tell(text)


def _answer(ctx: AppContext, text: str, run: Deployment, typed_in: str) -> Reply:
    """A reply about a run; typed outside the run's channel, it links to the run's message."""
    where = status_render.where_it_lives(run, typed_in=typed_in, workspace_url=ctx.gateway.workspace_url)
    return {"text": f"{text}\n{where}" if where else text}


def _dispatch(ctx: AppContext, cmd: Command, body: dict[str, Any]) -> tuple[Reply, Work | None]:
    user, channel = body["user_id"], body["channel_id"]
    now = ctx.clock.now()
    if cmd.name == "help":
        return {"text": USAGE}, None
    if cmd.name == "list":
        with ctx.db.read() as s:
            return {"text": status_render.run_list(open_runs(s), workspace_url=ctx.gateway.workspace_url)}, None
    if cmd.name == "status":
        with ctx.db.read() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            text = status_render.run_status(run, typed_in=channel, workspace_url=ctx.gateway.workspace_url)
            return {"text": text}, None
    if cmd.name == "start":
        return _start(ctx, cmd, body)
    if cmd.name == "abort":
        require(ctx, "abort", user)
        with ctx.db.write() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            changed = abort_run(s, run_id=run.id, actor=user, reason=cmd.text, now=now, request_id=request_id(body))
            where = run.channel_id, run.thread_ts
            reply = _answer(ctx, f"Run #{run.id} aborted.", run, channel)
        if changed.duplicate:
            return {"text": f"Run #{run.id} was already aborted by that request."}, None
        return reply, lambda: after_aborted(ctx, changed, where, user, cmd.text)
    if cmd.name == "deployed":
        require(ctx, "deploy", user)
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
            reply = _answer(ctx, f"Run #{run.id} marked deployed.", run, channel)
        return reply, lambda: after_deployed(ctx, changed, where, user)
    if cmd.name == "incident":
        require(ctx, "incident", user)
        if not ctx.on_incident:
            raise UserError("Incident handling is not configured on this Deploy Bot.")
        with ctx.db.write() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            if not audit.claim_request(s, request_id(body), now=now):
                return {"text": "That incident was already declared."}, None
            run_id = run.id
            reply = _answer(ctx, f"Incident declared on run #{run_id}; paging on-call.", run, channel)

        def page() -> None:
            for hook in ctx.on_incident:
                hook(run_id, user, cmd.text)

        return reply, page
    if cmd.name == "export":
        with ctx.db.read() as s:
            run = resolve_run(s, ref=cmd.run, channel_id=channel)
            run_id = run.id
            reply = _answer(ctx, f"Exporting run #{run_id}; the file will appear in its thread.", run, channel)
        return reply, lambda: export_to_thread(ctx, run_id)
    raise UserError(USAGE)


def _start(ctx: AppContext, cmd: Command, body: dict[str, Any]) -> tuple[Reply, Work | None]:
    user = body["user_id"]
    require(ctx, "start", user)
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
    elsewhere = channel != body["channel_id"]
    where = f" in <#{channel}>" if elsewhere else ""
    reply = {
        "text": f"Started run #{run_id}: {service} {version} → {environment}{where}. "
        f"The checklist ({len(template.items)} items) is in the run's thread.",
        "response_type": "ephemeral",
    }

    def post() -> str | None:
        ctx.updater.notify(ids)
        if not elsewhere or not ctx.updater.flush(START_LINK_WAIT_S):
            return None
        with ctx.db.read() as s:
            return status_render.where_it_lives(
                get_run(s, run_id), typed_in=body["channel_id"], workspace_url=ctx.gateway.workspace_url
            )

    return reply, post


def export_to_thread(ctx: AppContext, run_id: int) -> None:
    from bot.export import export_run, people_in

    names = ctx.gateway.user_names(people_in(ctx.db, run_id))
    filename, markdown = export_run(ctx.db, run_id, now=ctx.clock.now(), names=names)
    with ctx.db.read() as s:
        run = get_run(s, run_id)
        channel, thread = run.channel_id, run.thread_ts
    if channel:
        ctx.gateway.upload(channel, filename, markdown, title=f"Deployment run #{run_id}", thread_ts=thread)
