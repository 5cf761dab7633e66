"""Checklist templates: Markdown in, a typed Template out."""

from bot.checklist.errors import TemplateError
from bot.checklist.loader import find_template, load_named_template, load_template
from bot.checklist.model import Contact, Group, Item, ItemMeta, Section, SignoffRole, Template
from bot.checklist.parser import parse_template

__all__ = [
    "Contact",
    "Group",
    "Item",
    "ItemMeta",
    "Section",
    "SignoffRole",
    "Template",
    "TemplateError",
    "find_template",
    "load_named_template",
    "load_template",
    "parse_template",
]
