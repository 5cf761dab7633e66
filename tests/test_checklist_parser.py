"""The Markdown checklist parser against the real seed template and small hand-written templates."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bot.checklist import (
    Template,
    TemplateError,
    find_template,
    load_named_template,
    load_template,
    parse_template,
)
from bot.checklist.encoding import repair_mojibake
from bot.checklist.slug import slugify

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "templates" / "checklists" / "lamsa-production.md"
MISENCODED = Path("/work/shared/seeds/lamsa-production-deployment-checklist.original.txt")
CHECKBOX_LINE = re.compile(r"^\s*[-*+] \[[ xX]\]")


@pytest.fixture(scope="module")
def seed() -> Template:
    return load_template(SEED)


def small(body: str) -> str:
    return "# Small\n\n## 🔒 Security\n\n### Checks\n" + body


# --- the seed template -------------------------------------------------------------------------------------


def test_seed_counts(seed: Template) -> None:
    assert seed.name == "lamsa-production"
    assert seed.title == "Lamsa Production Deployment Checklist"
    assert len(seed.sections) == 9
    assert sum(len(s.groups) for s in seed.sections) == 23
    assert len(seed.items) == 92
    assert [i.key for i in seed.items if i.prechecked] == [
        "pre-deployment-security-requirements.console-logging-vulnerability-fixed",
        "pre-deployment-security-requirements.jwt-token-expiration-reduced",
    ]
    assert [i.key for i in seed.items if not i.required] == ["infrastructure-environment.service-mesh"]
    assert [(r.key, r.title, r.group_title, r.final) for r in seed.signoff_roles] == [
        ("security-team", "Security Team", "Technical Review", False),
        ("devops-team", "DevOps Team", "Technical Review", False),
        ("lead-developer", "Lead Developer", "Technical Review", False),
        ("product-manager", "Product Manager", "Business Review", False),
        ("business-owner", "Business Owner", "Business Review", False),
        ("deployment-manager", "Deployment Manager", "Final Deployment Authorization", True),
    ]
    assert [c.slot for c in seed.oncall_slots] == [
        "primary-engineer",
        "secondary-engineer",
        "devops-lead",
        "product-manager",
    ]
    external = [c for c in seed.contacts if c.kind == "external"]
    assert [(c.title, c.detail) for c in external] == [
        ("Cloud Provider Support", "[Support contact]"),
        ("Database Support", "[Supabase support]"),
        ("CDN Support", "[CloudFlare/CloudFront support]"),
        ("Payment Processor", "[Tap Payment support]"),
    ]
    assert seed.oncall_slots[0].detail == "[Name] - [Phone] - [Email]"
    assert seed.meta == {"version": "1.0", "date": "2025-07-16", "environment": "Production"}


def test_every_checkbox_line_is_exactly_one_item_or_role(seed: Template) -> None:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    checkbox_lines = [n for n, text in enumerate(lines, start=1) if CHECKBOX_LINE.match(text)]
    parsed_lines = [i.line for i in seed.items] + [r.line for r in seed.signoff_roles]
    assert len(checkbox_lines) == 98
    assert sorted(parsed_lines) == checkbox_lines
    for item in seed.items:
        assert f"**{item.title}**" in lines[item.line - 1]
    for role in seed.signoff_roles:
        assert f"**{role.title}" in lines[role.line - 1]


def test_seed_keys_and_titles(seed: Template) -> None:
    assert [s.key for s in seed.sections] == [
        "pre-deployment-security-requirements",
        "database-backup-preparation",
        "infrastructure-environment",
        "application-configuration",
        "monitoring-alerting",
        "testing-validation",
        "deployment-process",
        "rollback-procedures",
        "post-deployment-tasks",
    ]
    assert seed.sections[0].title == "🔒 Pre-Deployment Security Requirements"
    assert seed.sections[0].groups[0].title == "Critical Security Fixes ✅"
    keys = [i.key for i in seed.items]
    assert len(set(keys)) == len(keys)
    assert "database-backup-preparation.database-migrations" in keys
    assert "deployment-process.database-migrations" in keys
    scan = seed.item("pre-deployment-security-requirements.dependency-security-scan")
    assert (scan.title, scan.description, scan.group_title, scan.line) == (
        "Dependency security scan",
        "`npm audit` shows no critical vulnerabilities",
        "Security Validation",
        19,
    )
    # Trailing Markdown hard-break spaces are not part of the description.
    assert seed.item("pre-deployment-security-requirements.jwt-token-expiration-reduced").description == (
        "Changed from 7 days to 15 minutes"
    )
    mesh = seed.item("infrastructure-environment.service-mesh")
    assert mesh.description == "Istio/Linkerd configured (if applicable)"
    assert not any("status" in i.key or "notes" in i.key for i in seed.items)


def test_snapshot_round_trips_through_json(seed: Template) -> None:
    restored = Template.from_dict(json.loads(json.dumps(seed.to_dict())))
    assert restored == seed
    assert len(seed.content_hash) == 64


# --- mis-encoded input ---------------------------------------------------------------------------------------


def test_mac_roman_mojibake_is_repaired_to_the_clean_parse(seed: Template, tmp_path: Path) -> None:
    garbled = MISENCODED.read_text(encoding="utf-8")
    assert "üîí" in garbled  # the fixture really is garbled
    copy = tmp_path / "lamsa-production.md"
    shutil.copyfile(MISENCODED, copy)
    repaired = load_template(copy)
    assert repaired == seed  # same keys, titles, lines, roles, contacts and content hash
    assert [s.title for s in repaired.sections] == [s.title for s in seed.sections]
    assert repaired.sections[1].title == "🗄️ Database & Backup Preparation"
    assert repaired.sections[0].groups[0].title == "Critical Security Fixes ✅"
    assert [i.key for i in repaired.items] == [i.key for i in seed.items]


def test_repair_reports_lines_and_leaves_clean_text_alone() -> None:
    garbled = MISENCODED.read_text(encoding="utf-8")
    text, lines = repair_mojibake(garbled)
    assert text == SEED.read_text(encoding="utf-8")
    assert lines == (9, 11, 25, 41, 63, 85, 107, 123, 145, 161, 183, 199, 215)
    assert repair_mojibake(text) == (text, ())


@pytest.mark.parametrize(
    ("garbled", "clean"),
    [
        ("‚úÖ ok", "✅ ok"),  # Mac Roman
        ("ðŸ”’ lock", "🔒 lock"),  # cp1252
        ("Ã©tÃ© â€“ summer", "été – summer"),  # cp1252; Mac Roman would give bare combining marks
        ("✅ done, \uf8ffüîí locked", "✅ done, 🔒 locked"),  # correct emoji and mojibake on one line
    ],
)
def test_repair_fixes_runs(garbled: str, clean: str) -> None:
    assert repair_mojibake(garbled)[0] == clean


@pytest.mark.parametrize(
    "legit", ["Café – naïve — “quoted” it’s", "“Ça va”", "π ≈ 3.14, x ≥ 5%", "Straße Über façade", "デプロイ"]
)
def test_repair_leaves_real_text_alone(legit: str) -> None:
    assert repair_mojibake(legit) == (legit, ())


def test_invalid_utf8_names_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    prefix = small("").encode("utf-8") + b"- [ ] **Caf"
    path.write_bytes(prefix + b"\xe9** - x\n")  # "Café" saved as Latin-1
    with pytest.raises(TemplateError) as err:
        load_template(path)
    assert err.value.line == 6
    offset = len(prefix)
    assert f"offset {offset}" in err.value.message
    assert "not valid UTF-8" in err.value.message and "0xe9" in err.value.message
    assert str(err.value).startswith(f"{path}:6: ")


def test_bom_and_crlf_parse_like_plain_lf() -> None:
    text = small("- [ ] **One** - first\n- [x] **Two**\n")
    plain = parse_template(text, name="t")
    windows = parse_template("\ufeff" + text.replace("\n", "\r\n"), name="t")
    assert windows == plain


# --- item shapes ---------------------------------------------------------------------------------------------


def test_separators_descriptions_and_markers() -> None:
    t = parse_template(
        small(
            "- [ ] **Hyphen** - with hyphen\n"
            "- [ ] **En dash** – with en dash\n"
            "- [ ] **Em dash** — with em dash\n"
            "- [ ] **Colon**: with colon\n"
            "- [ ] **Inner colon:** colon in bold\n"
            "- [X] **Bare title**\n"
            "- [ ] Plain title - no bold\n"
            "- [ ] **Maybe** - only sometimes (If Applicable)\n"
            "- [ ] **Wrapped** - first line\n"
            "  continues here\n"
        ),
        name="t",
    )
    got = [(i.title, i.description, i.required, i.prechecked) for i in t.items]
    assert got == [
        ("Hyphen", "with hyphen", True, False),
        ("En dash", "with en dash", True, False),
        ("Em dash", "with em dash", True, False),
        ("Colon", "with colon", True, False),
        ("Inner colon", "colon in bold", True, False),
        ("Bare title", "", True, True),
        ("Plain title", "no bold", True, False),
        ("Maybe", "only sometimes (If Applicable)", False, False),
        ("Wrapped", "first line continues here", True, False),
    ]
    assert [i.line for i in t.items] == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert t.items[0].key == "security.hyphen"


def test_prose_code_and_groupless_items() -> None:
    t = parse_template(
        "# T\n\n**Version:** 2  \n**Owner Team:** Platform\n\n## Setup\n"
        "Some prose with **bold**.\n\n"
        "- [ ] **No group** - before any ###\n"
        "- a plain bullet, not an item\n\n"
        "```\n- [ ] **In code** - not an item\n```\n\n"
        "> - [ ] **Quoted** - an example in a quote, not an item\n\n"
        "### Later\n- [ ] **Grouped**\n\n"
        "---\n\n**Deployment Status:** ❌ NOT READY\n\n**Notes:**\n_Anything._\n\n*Italic footer.*\n",
        name="t",
    )
    assert [(i.group_title, i.title) for i in t.items] == [("", "No group"), ("Later", "Grouped")]
    assert [g.title for g in t.sections[0].groups] == ["", "Later"]
    assert t.meta == {"version": "2", "owner_team": "Platform"}


def test_without_final_group_last_role_is_final() -> None:
    t = parse_template(
        small("- [ ] **A**\n\n## Sign off\n- [ ] **QA Approval:** ____ Date: ___\n- [ ] **Ops Lead**\n"),
        name="t",
    )
    assert [(r.key, r.title, r.final, r.group_title) for r in t.signoff_roles] == [
        ("qa", "QA", False, ""),
        ("ops-lead", "Ops Lead", True, ""),
    ]


def test_final_group_role_is_ordered_last() -> None:
    t = parse_template(
        small(
            "- [ ] **A**\n\n## ✅ Sign-off\n### Final Deployment Authorization\n- [ ] **Boss:** ___\n"
            "### Review\n- [ ] **Security Team Approval:** ___\n"
        ),
        name="t",
    )
    assert [(r.key, r.final) for r in t.signoff_roles] == [("security-team", False), ("boss", True)]


# --- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("# T\n\n## Empty\nJust prose.\n", 1, "no checklist items"),
        ("# T\n- [ ] **Early** - x\n## S\n- [ ] **A**\n", 2, "before any '## ' section"),
        (small("- [ ] **Same** - a\n- [ ] **Same** - b\n"), 7, "lines 6 and 7"),
        (small("- [ ]\n"), 6, "empty title"),
        (small("- [ ] **🔥**\n"), 6, "no letters or digits"),
        ("#\n## S\n- [ ] **A**\n", 1, "title is empty"),
        ("# T\n## 🔒\n- [ ] **A**\n", 2, "section heading '## ' has an empty title"),
        (small("- [ ] **A**\n### ✅\n- [ ] **B**\n"), 7, "group heading"),
        ("## S\n- [ ] **A**\n", 1, "no '# Title' heading"),
        ("# T\n# U\n## S\n- [ ] **A**\n", 2, "second '# ' title"),
        (small("- [ ] **A**\n\n## ✅ Sign-off\n### Technical Review\nNobody yet.\n"), 8, "sign-off section has no"),
        (small("- [ ] **A**\n\n## 📞 Emergency Contacts\n- [ ] **Pager**\n"), 9, "checkbox in the Emergency"),
        (small("- [ ] **A**\n\n## 📞 Emergency Contacts\n- call someone\n"), 9, "'- **Role:** detail'"),
        (small("- [ ] **A**\n\n## Sign-off\n- [ ] **QA Approval:**\n- [ ] **QA:** ___\n"), 10, "duplicate sign-off"),
        ("# T\n## S\n- [ ] **A**\n## S\n- [ ] **B**\n", 4, "duplicate section key 's'"),
    ],
)
def test_template_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse_template(text, name="t", path="bad.md")
    assert err.value.path == "bad.md"
    assert err.value.line == line
    assert fragment in err.value.message
    assert str(err.value).startswith(f"bad.md:{line}: ")


# --- front matter and sidecar metadata -----------------------------------------------------------------------

FRONT = """---
name: Lamsa production
items:
  post-deployment-tasks.monitor-error-rates: {required: true, owner_role: devops-team, probe: error_rate}
  infrastructure-environment.service-mesh: {required: false}
  pre-deployment-security-requirements.security-audit-passed:
    owner_role: security-team
---
"""


def test_front_matter_fills_item_metadata_and_keeps_lines(seed: Template) -> None:
    text = FRONT + SEED.read_text(encoding="utf-8")
    t = parse_template(text, name="lamsa-production", path="x.md")
    shift = FRONT.count("\n")
    assert [i.line - shift for i in t.items] == [i.line for i in seed.items]
    monitor = t.item("post-deployment-tasks.monitor-error-rates")
    assert (monitor.required, monitor.owner_role, monitor.probe) == (True, "devops-team", "error_rate")
    assert t.item("infrastructure-environment.service-mesh").required is False
    audit = t.item("pre-deployment-security-requirements.security-audit-passed")
    assert (audit.required, audit.owner_role, audit.probe) == (True, "security-team", None)
    assert t.meta["name"] == "Lamsa production"
    assert len(t.items) == 92 and t.content_hash != seed.content_hash


def test_metadata_can_make_an_item_optional() -> None:
    fm = "---\nitems:\n  security.a: {required: false}\n---\n"
    t = parse_template(fm + small("- [ ] **A**\n- [ ] **B**\n"), name="t")
    assert [(i.key, i.required) for i in t.items] == [("security.a", False), ("security.b", True)]


@pytest.mark.parametrize(
    ("front", "line", "fragment"),
    [
        ("items:\n  security.a: {required: [}\n", 3, "invalid YAML"),
        ("itemz:\n  security.a: {}\n", 2, "did you mean 'items'?"),
        ("items:\n  security.a: {requird: true}\n", 3, "did you mean 'required'?"),
        ("items:\n  security.b: {}\n  security.aa: {}\n", 4, "unknown item 'security.aa'; did you mean 'security.a'?"),
        ("items:\n  security.a: {owner_role: devops-tem}\n", 3, "did you mean 'devops-team'?"),
        ("items:\n  security.a:\n    probe: x\n    owner_role: nobody\n", 5, "not a sign-off role"),
        ("items:\n  security.a: {required: maybe}\n", 3, "must be true or false"),
        ("items:\n  security.a: {}\n  security.a: {}\n", 4, "duplicate key 'security.a'"),
        ("items: [security.a]\n", 2, "'items' must map"),
        ("- just a list\n", 2, "must be a mapping"),
    ],
)
def test_front_matter_errors(front: str, line: int, fragment: str) -> None:
    text = f"---\n{front}---\n" + small("- [ ] **A**\n- [ ] **B**\n\n## Sign-off\n- [ ] **DevOps Team Approval:**\n")
    with pytest.raises(TemplateError) as err:
        parse_template(text, name="t", path="fm.md")
    assert (err.value.path, err.value.line) == ("fm.md", line)
    assert fragment in err.value.message


def test_unclosed_front_matter() -> None:
    with pytest.raises(TemplateError) as err:
        parse_template("---\nitems: {}\n# T\n## S\n- [ ] **A**\n", name="t", path="u.md")
    assert (err.value.line, "never closed" in err.value.message) == (1, True)


def test_sidecar_metadata(tmp_path: Path) -> None:
    path = tmp_path / "svc.md"
    path.write_text(small("- [ ] **A**\n- [ ] **B**\n"), encoding="utf-8")
    plain = load_template(path)
    (tmp_path / "svc.meta.yaml").write_text("items:\n  security.b: {required: false, probe: http}\n")
    with_meta = load_template(path)
    assert [(i.required, i.probe) for i in with_meta.items] == [(True, None), (False, "http")]
    assert with_meta.content_hash != plain.content_hash

    (tmp_path / "svc.meta.yaml").write_text("items:\n  security.a: {}\n  security.c: {}\n")
    with pytest.raises(TemplateError) as err:
        load_template(path)
    assert (err.value.path, err.value.line) == (str(tmp_path / "svc.meta.yaml"), 3)


def test_sidecar_and_front_matter_together_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "svc.md"
    path.write_text("---\nitems: {}\n---\n" + small("- [ ] **A**\n"), encoding="utf-8")
    (tmp_path / "svc.meta.yaml").write_text("items: {}\n")
    with pytest.raises(TemplateError, match="both in front matter and in"):
        load_template(path)


# --- finding templates ---------------------------------------------------------------------------------------


def test_find_template_default_dir() -> None:
    assert find_template("lamsa-production") == SEED
    assert find_template("lamsa-production.md") == SEED
    assert load_named_template("lamsa-production").name == "lamsa-production"


def test_find_template_lists_names_and_refuses_paths(tmp_path: Path) -> None:
    (tmp_path / "alpha.md").write_text(small("- [ ] **A**\n"), encoding="utf-8")
    (tmp_path / "beta.md").write_text(small("- [ ] **B**\n"), encoding="utf-8")
    (tmp_path / "alpha.meta.yaml").write_text("items: {}\n")
    assert find_template("beta", [tmp_path]) == tmp_path / "beta.md"
    with pytest.raises(TemplateError) as err:
        find_template("alpah", [tmp_path])
    assert "available: alpha, beta" in err.value.message and "did you mean 'alpha'?" in err.value.message
    with pytest.raises(TemplateError):
        find_template("../checklists/lamsa-production", [tmp_path / "sub"])


def test_slugify() -> None:
    assert slugify("🗄️ Database & Backup Preparation") == "database-backup-preparation"
    assert slugify("Production .env file") == "production-env-file"
    assert slugify("Café Über") == "cafe-uber"
    assert slugify("✅ Sign-off") == "sign-off"
