"""Markdown checklist template -> Template.

markdown-it-py gives a CommonMark token stream with source line maps, so fenced code, block quotes and
indented code that merely look like `- [ ]` lines are never mistaken for items, and every error can name
its line. We read only headings, list items and header paragraphs; everything else is prose.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.checklist.encoding import repair_mojibake
from bot.checklist.errors import TemplateError
from bot.checklist.frontmatter import Metadata, did_you_mean, parse_metadata, split_front_matter
from bot.checklist.model import Contact, Group, Item, Section, SignoffRole, Template
from bot.checklist.slug import slugify

OPTIONAL_MARKER = "(if applicable)"

_CHECKBOX = re.compile(r"\[([ xX])\](?:\s+(.*))?\Z")
_BOLD = re.compile(r"(\*\*|__)(.+?)\1(.*)\Z")
_LEADING_SEPARATOR = re.compile(r"\A\s*[-–—:]\s*")
_PLAIN_SEPARATOR = re.compile(r"\s+[-–—]\s+|:\s+")
_HEADER_FIELD = re.compile(r"\A\*\*([^*]+?):\*\*\s*(.*?)\s*\Z")
_SIGNATURE_BLANK = re.compile(r"_{2,}|\bDate:", re.IGNORECASE)
_APPROVAL_SUFFIX = re.compile(r"\s*\bapproval\b\s*\Z", re.IGNORECASE)


class _Kind(Enum):
    CHECKLIST = "checklist"
    SIGNOFF = "signoff"
    CONTACTS = "contacts"


@dataclass
class _GroupDraft:
    title: str
    items: list[Item] = field(default_factory=list)


@dataclass
class _SectionDraft:
    key: str
    title: str
    line: int
    kind: _Kind
    group_title: str = ""
    groups: list[_GroupDraft] = field(default_factory=list)
    roles: int = 0

    def group(self) -> _GroupDraft:
        if not self.groups or self.groups[-1].title != self.group_title:
            self.groups.append(_GroupDraft(self.group_title))
        return self.groups[-1]


@dataclass(frozen=True)
class _RoleDraft:
    key: str
    title: str
    group_title: str
    line: int


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.split("\n") if part.strip())


def split_item_text(text: str) -> tuple[str, str]:
    """ "**Title** - description" -> (title, description). Also en/em dash or colon, and no description."""
    match = _BOLD.match(text)
    if match:
        title, rest = match.group(2), _LEADING_SEPARATOR.sub("", match.group(3).strip(), count=1)
    else:
        parts = _PLAIN_SEPARATOR.split(text, maxsplit=1)
        title, rest = parts[0], parts[1] if len(parts) > 1 else ""
    return title.strip().rstrip(":").strip(), rest.strip()


def role_title(text: str) -> str:
    """ "**Security Team Approval:** ____ Date: ____" -> "Security Team"."""
    match = _BOLD.match(text)
    label = match.group(2) if match else text
    label = _SIGNATURE_BLANK.split(label, maxsplit=1)[0].strip().rstrip(":").strip()
    return _APPROVAL_SUFFIX.sub("", label).strip().rstrip(":").strip()


class _Walker:
    """One pass over the token stream, collecting drafts; cross-checks happen in parse_template."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.title: str | None = None
        self.title_line = 1
        self.meta: dict[str, Any] = {}
        self.sections: list[_SectionDraft] = []
        self.roles: list[_RoleDraft] = []
        self.contacts: list[Contact] = []

    def error(self, message: str, line: int | None) -> TemplateError:
        return TemplateError(message, path=self.path, line=line)

    @property
    def section(self) -> _SectionDraft | None:
        return self.sections[-1] if self.sections else None

    def walk(self, body: str) -> None:
        tokens = MarkdownIt("commonmark").parse(body)
        quoted = 0  # a block quote shows an example; its checkboxes are not items
        for index, token in enumerate(tokens):
            if token.type in ("blockquote_open", "blockquote_close"):
                quoted += 1 if token.type == "blockquote_open" else -1
            elif quoted:
                continue
            elif token.type == "heading_open":
                self.heading(token, tokens[index + 1])
            elif token.type == "list_item_open":
                inline = _first_inline(tokens, index)
                if inline is not None:
                    self.bullet(_one_line(inline.content), _line(inline))
            elif token.type == "paragraph_open" and token.level == 0 and not self.sections:
                self.header_fields(tokens[index + 1])

    def heading(self, token: Token, inline: Token) -> None:
        text, line = _one_line(inline.content), _line(token)
        level = int(token.tag[1:])
        if level == 1:
            if self.title is not None:
                raise self.error(f"a second '# ' title (the first is on line {self.title_line})", line)
            if not slugify(text):
                raise self.error("the '# ' title is empty", line)
            self.title, self.title_line = text, line
        elif level == 2:
            key = slugify(text)
            if not key:
                raise self.error("section heading '## ' has an empty title", line)
            kind = _Kind.CHECKLIST
            if "sign-off" in key or "signoff" in key:
                kind = _Kind.SIGNOFF
            elif "emergency-contacts" in key:
                kind = _Kind.CONTACTS
            self.sections.append(_SectionDraft(key=key, title=text, line=line, kind=kind))
        elif level == 3 and self.section is not None:
            if not slugify(text):
                raise self.error("group heading '### ' has an empty title", line)
            self.section.group_title = text
        # Deeper headings are prose.

    def bullet(self, text: str, line: int) -> None:
        checkbox = _CHECKBOX.match(text)
        section = self.section
        if checkbox is None:
            if section is not None and section.kind is _Kind.CONTACTS:
                self.contact(section, text, line)
            return
        rest = (checkbox.group(2) or "").strip()
        if section is None:
            raise self.error("checklist item before any '## ' section heading", line)
        if section.kind is _Kind.SIGNOFF:
            self.role(section, rest, line)
        elif section.kind is _Kind.CONTACTS:
            raise self.error("checkbox in the Emergency Contacts section; write '- **Role:** detail'", line)
        else:
            self.item(section, rest, checkbox.group(1) != " ", line)

    def item(self, section: _SectionDraft, text: str, prechecked: bool, line: int) -> None:
        title, description = split_item_text(text)
        if not title:
            raise self.error("checklist item has an empty title", line)
        slug = slugify(title)
        if not slug:
            raise self.error(f"checklist item title {title!r} has no letters or digits to make a key", line)
        section.group().items.append(
            Item(
                key=f"{section.key}.{slug}",
                section_key=section.key,
                group_title=section.group_title,
                title=title,
                description=description,
                required=OPTIONAL_MARKER not in text.lower(),
                prechecked=prechecked,
                line=line,
            )
        )

    def role(self, section: _SectionDraft, text: str, line: int) -> None:
        title = role_title(text)
        if not slugify(title):
            raise self.error("sign-off line has no role name; write '- [ ] **Role Approval:** ___'", line)
        section.roles += 1
        self.roles.append(_RoleDraft(slugify(title), title, section.group_title, line))

    def contact(self, section: _SectionDraft, text: str, line: int) -> None:
        match = _BOLD.match(text)
        title = match.group(2).strip().rstrip(":").strip() if match else ""
        if match is None or not slugify(title):
            raise self.error("contact lines look like '- **Role:** detail'", line)
        group = slugify(section.group_title)
        self.contacts.append(
            Contact(
                slot=slugify(title),
                title=title,
                detail=_LEADING_SEPARATOR.sub("", match.group(3).strip(), count=1).strip(),
                kind="oncall" if "on-call" in group or "oncall" in group else "external",
                line=line,
            )
        )

    def header_fields(self, inline: Token) -> None:
        for raw in inline.content.split("\n"):
            match = _HEADER_FIELD.match(raw.strip())
            if match:
                self.meta[re.sub(r"\s+", "_", match.group(1).strip().lower())] = match.group(2)


def _line(token: Token) -> int:
    return token.map[0] + 1 if token.map else 1


def _first_inline(tokens: list[Token], index: int) -> Token | None:
    if index + 2 < len(tokens) and tokens[index + 1].type == "paragraph_open":
        inline = tokens[index + 2]
        return inline if inline.type == "inline" else None
    return None


def normalise_text(text: str) -> str:
    """One newline convention and no BOM, so hashes and line numbers do not depend on the editor."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse_template(
    text: str,
    *,
    name: str,
    path: str = "<template>",
    sidecar: str | None = None,
    sidecar_path: str | None = None,
) -> Template:
    """Parse a Markdown checklist. `sidecar` is the text of a `<name>.meta.yaml` file, if there is one.

    Mis-encoded text (UTF-8 once read as Mac Roman or cp1252) is repaired first; see bot.checklist.encoding.
    Raises TemplateError naming the file and line of the first problem.
    """
    text, _ = repair_mojibake(normalise_text(text))
    body, front_matter, first_line = split_front_matter(text, path=path)
    metadata: Metadata | None = None
    if front_matter is not None:
        metadata = parse_metadata(front_matter, path=path, first_line=first_line)
    if sidecar is not None:
        sidecar_path = sidecar_path or f"{name}.meta.yaml"
        if front_matter is not None:
            raise TemplateError(f"metadata is both in front matter and in {sidecar_path}; keep one", path=path, line=1)
        metadata = parse_metadata(normalise_text(sidecar), path=sidecar_path, first_line=1)

    walker = _Walker(path)
    walker.walk(body)
    if walker.title is None:
        raise walker.error("no '# Title' heading", 1)
    items = _check_items(walker)
    roles = _check_roles(walker)
    _check_contacts(walker)
    meta = dict(walker.meta)
    if metadata is not None:
        items = _apply_metadata(metadata, items, roles)
        meta.update({k: v for k, v in (("name", metadata.name), ("description", metadata.description)) if v})

    digest = hashlib.sha256(text.encode())
    if sidecar is not None:
        digest.update(b"\n\0sidecar\n" + normalise_text(sidecar).encode())
    return Template(
        name=name,
        title=walker.title,
        sections=_build_sections(walker, items),
        signoff_roles=roles,
        contacts=tuple(walker.contacts),
        content_hash=digest.hexdigest(),
        meta=meta,
    )


def _check_items(walker: _Walker) -> dict[str, Item]:
    items: dict[str, Item] = {}
    section_lines: dict[str, int] = {}
    for section in walker.sections:
        if section.kind is not _Kind.CHECKLIST or not any(g.items for g in section.groups):
            continue
        if section.key in section_lines:
            first = section_lines[section.key]
            raise walker.error(f"duplicate section key {section.key!r} (also on line {first})", section.line)
        section_lines[section.key] = section.line
        for group in section.groups:
            for item in group.items:
                if item.key in items:
                    first = items[item.key].line
                    raise walker.error(
                        f"duplicate item key {item.key!r}: lines {first} and {item.line} have the same title "
                        "in one section",
                        item.line,
                    )
                items[item.key] = item
    if not items:
        raise walker.error("no checklist items; write '- [ ] **Title** - description' under a '## ' section", 1)
    return items


def _check_roles(walker: _Walker) -> tuple[SignoffRole, ...]:
    for section in walker.sections:
        if section.kind is _Kind.SIGNOFF and section.roles == 0:
            raise walker.error("sign-off section has no roles; write '- [ ] **Role Approval:** ___'", section.line)
    seen: dict[str, int] = {}
    for role in walker.roles:
        if role.key in seen:
            raise walker.error(f"duplicate sign-off role {role.key!r} (also on line {seen[role.key]})", role.line)
        seen[role.key] = role.line
    finals = {r.key for r in walker.roles if slugify(r.group_title).startswith("final")}
    if walker.roles and not finals:
        finals = {walker.roles[-1].key}
    ordered = [r for r in walker.roles if r.key not in finals] + [r for r in walker.roles if r.key in finals]
    return tuple(
        SignoffRole(key=r.key, title=r.title, group_title=r.group_title, final=r.key in finals, line=r.line)
        for r in ordered
    )


def _check_contacts(walker: _Walker) -> None:
    seen: dict[str, int] = {}
    for contact in walker.contacts:
        if contact.slot in seen:
            raise walker.error(f"duplicate contact {contact.slot!r} (also on line {seen[contact.slot]})", contact.line)
        seen[contact.slot] = contact.line


def _apply_metadata(metadata: Metadata, items: dict[str, Item], roles: tuple[SignoffRole, ...]) -> dict[str, Item]:
    role_keys = [r.key for r in roles]
    updated = dict(items)
    for entry in metadata.entries:
        item = items.get(entry.item_key)
        if item is None:
            raise TemplateError(
                f"metadata for unknown item {entry.item_key!r}{did_you_mean(entry.item_key, list(items))}",
                path=metadata.path,
                line=entry.line,
            )
        owner = entry.meta.owner_role
        if owner is not None and owner not in role_keys:
            known = ", ".join(role_keys) or "none"
            raise TemplateError(
                f"owner_role {owner!r} for {entry.item_key!r} is not a sign-off role (roles: {known})"
                f"{did_you_mean(owner, role_keys)}",
                path=metadata.path,
                line=entry.owner_role_line,
            )
        updated[item.key] = dataclasses.replace(
            item,
            required=item.required if entry.meta.required is None else entry.meta.required,
            owner_role=owner,
            probe=entry.meta.probe,
        )
    return updated


def _build_sections(walker: _Walker, items: dict[str, Item]) -> tuple[Section, ...]:
    sections: list[Section] = []
    for draft in walker.sections:
        groups = tuple(
            Group(title=g.title, items=tuple(items[i.key] for i in g.items)) for g in draft.groups if g.items
        )
        if draft.kind is _Kind.CHECKLIST and groups:
            sections.append(Section(key=draft.key, title=draft.title, groups=groups))
    return tuple(sections)
