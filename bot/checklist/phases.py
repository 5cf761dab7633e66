"""When in a deployment an item is done. Only `pre` items gate READY FOR DEPLOYMENT."""

from __future__ import annotations

from bot.checklist.model import Item, Section

PRE = "pre"  # before the deploy: gates READY
DEPLOY = "deploy"  # ticked while deploying
POST = "post"  # after the deploy: ticked by people or probes
ROLLBACK = "rollback"  # posted as its own checklist when a rollback starts


def item_phase(section: Section, item: Item) -> str:
    group = item.group_title.lower()
    title = section.title.lower()
    if "rollback process" in group:
        return ROLLBACK
    if "post-deployment" in group or "post-deployment" in title:
        return POST
    if "deployment execution" in group:
        return DEPLOY
    return PRE
