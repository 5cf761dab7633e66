"""`deploybot template check PATH [--json]`: validate a template and show what the bot will make of it."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from bot.checklist.encoding import repair_mojibake
from bot.checklist.errors import TemplateError
from bot.checklist.loader import find_template, load_template, read_template_text
from bot.checklist.model import Template


def template_check(path: str, as_json: bool = False, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """0 when the template is valid (structure printed to stdout), 1 with `file:line: message` on stderr."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        resolved = _resolve(path)
        _, repaired = repair_mojibake(read_template_text(resolved))
        template = load_template(resolved)
    except TemplateError as exc:
        print(str(exc), file=err)
        return 1
    if repaired:
        lines = ", ".join(str(n) for n in repaired)
        print(
            f"{resolved}: note: repaired mis-encoded text (UTF-8 read as Mac Roman/cp1252) on lines {lines}",
            file=err,
        )
    if as_json:
        print(json.dumps(template_summary(template), ensure_ascii=False), file=out)
    else:
        print(describe(template), file=out)
    return 0


def _resolve(path: str) -> Path:
    """A path as given; a bare name that is not a file ("lamsa-production") is looked up by template name."""
    candidate = Path(path)
    if candidate.exists() or "/" in path or "\\" in path or candidate.suffix:
        return candidate
    return find_template(path)


def template_summary(template: Template) -> dict[str, Any]:
    """The JSON shape of `template check --json`."""
    return {
        "name": template.name,
        "title": template.title,
        "meta": template.meta,
        "sections": [
            {
                "key": section.key,
                "title": section.title,
                "groups": [
                    {
                        "title": group.title,
                        "items": [
                            {
                                "key": item.key,
                                "title": item.title,
                                "description": item.description,
                                "required": item.required,
                                "prechecked": item.prechecked,
                                "owner_role": item.owner_role,
                                "probe": item.probe,
                                "line": item.line,
                            }
                            for item in group.items
                        ],
                    }
                    for group in section.groups
                ],
            }
            for section in template.sections
        ],
        "signoff_roles": [asdict(role) for role in template.signoff_roles],
        "contacts": [asdict(contact) for contact in template.contacts],
    }


def describe(template: Template) -> str:
    items = template.items
    required = sum(1 for i in items if i.required)
    prechecked = sum(1 for i in items if i.prechecked)
    lines = [f"{template.title}  ({template.name})"]
    lines += [f"  {key}: {value}" for key, value in template.meta.items()]
    lines.append("")
    for section in template.sections:
        lines.append(f"{section.title}  [{section.key}]  {len(section.items)} items")
        for group in section.groups:
            lines.append(f"    {group.title or '(no group)'}: {len(group.items)} items")
    lines.append("")
    lines.append(
        f"Items: {len(items)} total, {required} required, {len(items) - required} optional, {prechecked} prechecked"
    )
    lines.append("Sign-off roles (in order):")
    for number, role in enumerate(template.signoff_roles, start=1):
        final = "  (final)" if role.final else ""
        lines.append(f"  {number}. {role.title} [{role.key}] - {role.group_title}{final}")
    lines.append("Contacts:")
    for contact in template.contacts:
        lines.append(f"  {contact.kind:8} {contact.title} [{contact.slot}]: {contact.detail}")
    return "\n".join(lines)
