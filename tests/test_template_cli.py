"""`deploybot template check`: through bot.cli.main in-process, and once as the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "templates" / "checklists" / "lamsa-production.md"
MISENCODED = Path("/work/shared/seeds/lamsa-production-deployment-checklist.original.txt")


def test_check_prints_structure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "check", str(SEED)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("Lamsa Production Deployment Checklist  (lamsa-production)\n")
    assert "🔒 Pre-Deployment Security Requirements  [pre-deployment-security-requirements]  8 items" in out
    assert "    Critical Security Fixes ✅: 4 items" in out
    assert "Items: 92 total, 91 required, 1 optional, 2 prechecked" in out
    roles = [line for line in out.splitlines() if line.startswith("  ") and ". " in line[:6]]
    assert roles[0] == "  1. Security Team [security-team] - Technical Review"
    assert roles[-1] == "  6. Deployment Manager [deployment-manager] - Final Deployment Authorization  (final)"
    assert "  oncall   Primary Engineer [primary-engineer]: [Name] - [Phone] - [Email]" in out
    assert "  external Payment Processor [payment-processor]: [Tap Payment support]" in out


def test_check_json_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "check", str(SEED), "--json"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert data["title"] == "Lamsa Production Deployment Checklist"
    assert len(data["sections"]) == 9
    assert sum(len(g["items"]) for s in data["sections"] for g in s["groups"]) == 92
    first = data["sections"][0]["groups"][0]["items"][0]
    assert {k: first[k] for k in ("key", "title", "description", "required", "prechecked")} == {
        "key": "pre-deployment-security-requirements.console-logging-vulnerability-fixed",
        "title": "Console logging vulnerability fixed",
        "description": "Payment data redaction implemented",
        "required": True,
        "prechecked": True,
    }
    assert [r["key"] for r in data["signoff_roles"]][-1] == "deployment-manager"
    assert data["signoff_roles"][-1]["final"] is True
    assert data["contacts"][0] == {
        "slot": "primary-engineer",
        "title": "Primary Engineer",
        "detail": "[Name] - [Phone] - [Email]",
        "kind": "oncall",
        "line": 186,
    }


def test_check_bad_template_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.md"
    path.write_text("# Bad\n\n## S\n- [ ] **Same**\n- [ ] **Same**\n", encoding="utf-8")
    assert main(["template", "check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{path}:5: duplicate item key 's.same': lines 4 and 5 have the same title in one section\n"


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.md"
    assert main(["template", "check", str(missing), "--json"]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"{missing}: no such file\n")


def test_check_by_template_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "check", "lamsa-production", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "lamsa-production"
    assert main(["template", "check", "lamsa-prod"]) == 1
    assert "available: lamsa-production" in capsys.readouterr().err


def test_check_notes_repaired_encoding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "lamsa-production.md"
    shutil.copyfile(MISENCODED, copy)
    assert main(["template", "check", str(copy), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["sections"][0]["title"] == "🔒 Pre-Deployment Security Requirements"
    assert "repaired mis-encoded text" in err and "lines 9, 11, 25," in err


def test_console_script_json() -> None:
    result = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "deploybot"),
            "template",
            "check",
            "templates/checklists/lamsa-production.md",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert len(data["signoff_roles"]) == 6
    assert sum(1 for c in data["contacts"] if c["kind"] == "oncall") == 4
