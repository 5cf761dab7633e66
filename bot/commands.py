"""Parsing `/deploy ...` text into a typed command. Pure: no Slack, no database."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from bot.errors import UserError

USAGE = """*Deploy Bot* — `/deploy <command>`
• `/deploy start SERVICE VERSION [ENVIRONMENT] [--template NAME]`: start a deployment run
• `/deploy status [RUN]`: where a run stands
• `/deploy list`: open runs
• `/deploy deployed [RUN] [--override REASON]`: mark a run deployed (starts post-deploy checks)
• `/deploy incident [RUN] TEXT`: declare a security incident (pages on-call)
• `/deploy abort [RUN] REASON`: abort a run
• `/deploy export [RUN]`: the run as Markdown, uploaded to its thread
• `/deploy help`: this message
RUN is the run number (`12` or `#12`); leave it out in a channel with one open run."""

SUBCOMMANDS = ("start", "status", "list", "deployed", "incident", "abort", "export", "help")


@dataclass(frozen=True)
class Command:
    name: str
    run: str | None = None
    args: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""  # free text (reasons)


def _looks_like_run(token: str) -> bool:
    return token.lstrip("#").isdigit()


def parse(text: str) -> Command:
    try:
        tokens = shlex.split(text.strip())
    except ValueError as exc:
        raise UserError(f"Could not read that command ({exc}). Check your quotes.\n\n{USAGE}") from None
    if not tokens:
        return Command("help")
    name, rest = tokens[0].lower(), tokens[1:]
    if name not in SUBCOMMANDS:
        raise UserError(f"Unknown command `{tokens[0]}`.\n\n{USAGE}")
    if name == "start":
        options: dict[str, str] = {}
        args: list[str] = []
        i = 0
        while i < len(rest):
            if rest[i] == "--template":
                if i + 1 >= len(rest):
                    raise UserError("`--template` needs a name, e.g. `--template lamsa-production`.")
                options["template"] = rest[i + 1]
                i += 2
                continue
            if rest[i].startswith("--"):
                raise UserError(
                    f"Unknown option `{rest[i]}`. Usage: `/deploy start SERVICE VERSION [ENV] [--template NAME]`"
                )
            args.append(rest[i])
            i += 1
        if len(args) < 2 or len(args) > 3:
            raise UserError("Usage: `/deploy start SERVICE VERSION [ENVIRONMENT] [--template NAME]`")
        return Command("start", args=tuple(args), options=options)
    if name in ("list", "help"):
        if rest:
            raise UserError(f"`/deploy {name}` takes no arguments.")
        return Command(name)
    run = rest[0] if rest and _looks_like_run(rest[0]) else None
    rest = rest[1:] if run else rest
    if name in ("status", "export"):
        if rest:
            raise UserError(f"Usage: `/deploy {name} [RUN]`")
        return Command(name, run=run)
    if name == "deployed":
        opts: dict[str, str] = {}
        if rest:
            if rest[0] != "--override" or len(rest) < 2:
                raise UserError("Usage: `/deploy deployed [RUN] [--override REASON]`")
            opts["override"] = " ".join(rest[1:])
        return Command(name, run=run, options=opts)
    reason = " ".join(rest).strip()
    if not reason:
        what = "REASON" if name == "abort" else "TEXT"
        raise UserError(f"Usage: `/deploy {name} [RUN] {what}`")
    return Command(name, run=run, text=reason)
