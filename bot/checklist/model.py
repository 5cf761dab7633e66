"""The parsed shape of a checklist template. Plain frozen data: safe to snapshot into a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemMeta:
    """Per-item metadata from front matter, keyed by item key."""

    required: bool | None = None  # None: decided by the "(if applicable)" marker
    owner_role: str | None = None  # a sign-off role key
    probe: str | None = None  # name of a probe check that may tick it automatically


@dataclass(frozen=True)
class Item:
    key: str  # slug(section) + "." + slug(title); unique within the template
    section_key: str
    group_title: str
    title: str
    description: str
    required: bool
    prechecked: bool
    line: int
    owner_role: str | None = None
    probe: str | None = None


@dataclass(frozen=True)
class Group:
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Section:
    key: str  # slug of the title without emoji
    title: str  # as written, emoji included
    groups: tuple[Group, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for g in self.groups for i in g.items)


@dataclass(frozen=True)
class SignoffRole:
    key: str  # slug, e.g. "security-team"
    title: str  # e.g. "Security Team"
    group_title: str  # "Technical Review", "Business Review", "Final Deployment Authorization"
    final: bool  # the "Final Deployment Authorization" role; always last
    line: int


@dataclass(frozen=True)
class Contact:
    slot: str  # slug, e.g. "primary-engineer"
    title: str  # "Primary Engineer"
    detail: str  # text after the colon, placeholders included
    kind: str  # "oncall" (On-Call Team) or "external"
    line: int


@dataclass(frozen=True)
class Template:
    name: str  # file stem, e.g. "lamsa-production"
    title: str
    sections: tuple[Section, ...]
    signoff_roles: tuple[SignoffRole, ...]
    contacts: tuple[Contact, ...]
    content_hash: str  # sha256 of the source text
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # header fields (Version, Date...)

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for s in self.sections for i in s.items)

    @property
    def oncall_slots(self) -> tuple[Contact, ...]:
        return tuple(c for c in self.contacts if c.kind == "oncall")

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def item(self, key: str) -> Item:
        for i in self.items:
            if i.key == key:
                return i
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, stored as a run's snapshot."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Template:
        sections = tuple(
            Section(
                key=s["key"],
                title=s["title"],
                groups=tuple(Group(title=g["title"], items=tuple(Item(**i) for i in g["items"])) for g in s["groups"]),
            )
            for s in data["sections"]
        )
        return cls(
            name=data["name"],
            title=data["title"],
            sections=sections,
            signoff_roles=tuple(SignoffRole(**r) for r in data["signoff_roles"]),
            contacts=tuple(Contact(**c) for c in data["contacts"]),
            content_hash=data["content_hash"],
            meta=dict(data.get("meta", {})),
        )
