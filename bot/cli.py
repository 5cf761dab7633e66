"""`deploybot` command line. Each subcommand imports its module lazily so start-up stays cheap."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploybot", description="Deploy Bot: checklist-driven deployments")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot (Socket Mode with SLACK_APP_TOKEN, else HTTP)")
    sandbox = sub.add_parser("sandbox", help="run the bot against a local Slack emulator with a web page")
    sandbox.add_argument("--port", type=int, help="port of the sandbox page (default 3001, or SANDBOX_PORT)")
    sandbox.add_argument("--state-file", help="keep the sandbox conversation in this JSON file across restarts")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations to DATABASE_URL")
    db_sub.add_parser("current", help="print the schema revision")

    tpl = sub.add_parser("template", help="checklist templates")
    tpl_sub = tpl.add_subparsers(dest="template_command", required=True)
    check = tpl_sub.add_parser("check", help="validate a template and print its structure")
    check.add_argument("path")
    check.add_argument("--json", action="store_true", help="print one JSON object")

    export = sub.add_parser("export", help="render a run back to Markdown")
    export.add_argument("run", help="run id")
    export.add_argument("-o", "--output", help="write to this file instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "template":
        from bot.checklist.cli import template_check

        return template_check(args.path, as_json=args.json)
    if args.command == "db":
        from bot.store.migrate import db_command

        return db_command(args.db_command)
    if args.command == "run":
        from bot.runner import run

        return run()
    if args.command == "sandbox":
        from bot.sandbox.runner import run_sandbox

        forwarded = [] if args.port is None else ["--port", str(args.port)]
        forwarded += [] if args.state_file is None else ["--state-file", args.state_file]
        return run_sandbox(forwarded)
    if args.command == "export":
        from bot.export import export_command

        return export_command(args.run, args.output)
    return 2


if __name__ == "__main__":
    sys.exit(main())
