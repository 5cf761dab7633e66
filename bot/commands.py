"""Parsing `/deploy ...` text into a typed command. Pure: no Slack, no database."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.errors import UserError
from bot.run_names import run_field_problem

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


class _Words:
    """The command's words, split on whitespace; free text (reasons) is taken verbatim, quotes and all."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]

    def __len__(self) -> int:
        return len(self.spans)

    def word(self, i: int) -> str:
        return self.spans[i][1]

    def words(self, start: int) -> list[str]:
        return [w for _, w in self.spans[start:]]

    def rest(self, start: int) -> str:
        return self.text[self.spans[start][0] :].strip() if start < len(self.spans) else ""


def parse(text: str) -> Command:
    words = _Words(text)
    if not words:
        return Command("help")
    name = words.word(0).lower()
    if name not in SUBCOMMANDS:
        raise UserError(f"Unknown command `{words.word(0)}`.\n\n{USAGE}")
    if name == "start":
        return _start(words.words(1))
    if name in ("list", "help"):
        if len(words) > 1:
            raise UserError(f"`/deploy {name}` takes no arguments.")
        return Command(name)
    at = 1
    run = None
    if len(words) > 1 and _looks_like_run(words.word(1)):
        run, at = words.word(1), 2
    if name in ("status", "export"):
        if len(words) > at:
            raise UserError(f"Usage: `/deploy {name} [RUN]`")
        return Command(name, run=run)
    if name == "deployed":
        opts: dict[str, str] = {}
        if len(words) > at:
            if words.word(at) != "--override" or not words.rest(at + 1):
                raise UserError("Usage: `/deploy deployed [RUN] [--override REASON]`")
            opts["override"] = words.rest(at + 1)
        return Command(name, run=run, options=opts)
    reason = words.rest(at)
    if not reason:
        what = "REASON" if name == "abort" else "TEXT"
        raise UserError(f"Usage: `/deploy {name} [RUN] {what}`")
    return Command(name, run=run, text=reason)


def _start(rest: list[str]) -> Command:
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
    fields = zip(("service", "version", "environment"), args, strict=False)
    problems = [p for f, v in fields if (p := run_field_problem(f, v))]
    if problems:
        raise UserError(" ".join(problems))
    return Command("start", args=tuple(args), options=options)
