"""Templates on disk: find one by name, read it (strict UTF-8 plus mojibake repair), load its sidecar."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.checklist.encoding import decode_utf8
from bot.checklist.errors import TemplateError, TemplateNotFound
from bot.checklist.frontmatter import did_you_mean
from bot.checklist.model import Template
from bot.checklist.parser import parse_template

TEMPLATE_SUFFIX = ".md"
SIDECAR_SUFFIX = ".meta.yaml"


def default_template_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "templates" / "checklists"


def available_templates(search_dirs: Sequence[Path] | None = None) -> list[str]:
    dirs = list(search_dirs) if search_dirs is not None else [default_template_dir()]
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob(f"*{TEMPLATE_SUFFIX}") if p.is_file()})


def find_template(name: str, search_dirs: Sequence[Path] | None = None) -> Path:
    """`<dir>/<name>.md` from the first search dir that has it. Names are plain (no paths), so a name typed
    in Slack cannot reach other files."""
    dirs = list(search_dirs) if search_dirs is not None else [default_template_dir()]
    stem = name.strip().removesuffix(TEMPLATE_SUFFIX)
    if stem and "/" not in stem and "\\" not in stem and not stem.startswith("."):
        for directory in dirs:
            candidate = directory / f"{stem}{TEMPLATE_SUFFIX}"
            if candidate.is_file():
                return candidate
    names = available_templates(dirs)
    listing = ", ".join(names) if names else "none"
    where = ", ".join(str(d) for d in dirs)
    raise TemplateNotFound(
        f"no checklist template named {name!r} (available: {listing}){did_you_mean(stem, names)}", path=where
    )


def sidecar_path(path: Path) -> Path | None:
    """`lamsa-production.meta.yaml` (or `lamsa-production.md.meta.yaml`) next to the template, if present."""
    candidates = [
        p for p in (path.with_suffix(SIDECAR_SUFFIX), path.with_name(path.name + SIDECAR_SUFFIX)) if p.is_file()
    ]
    if len(candidates) > 1:
        raise TemplateError(
            f"two metadata files: {candidates[0].name} and {candidates[1].name}; keep one", path=str(path)
        )
    return candidates[0] if candidates else None


def read_template_text(path: str | Path) -> str:
    """The file as text; missing files and invalid UTF-8 become TemplateError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TemplateError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise TemplateError("is a directory, not a template file", path=str(path)) from None
    except OSError as exc:
        raise TemplateError(f"cannot read: {exc.strerror}", path=str(path)) from None
    return decode_utf8(data, path=str(path))


def load_template(path: str | Path) -> Template:
    path = Path(path)
    text = read_template_text(path)
    meta_file = sidecar_path(path)
    sidecar = read_template_text(meta_file) if meta_file is not None else None
    return parse_template(
        text,
        name=path.stem,
        path=str(path),
        sidecar=sidecar,
        sidecar_path=str(meta_file) if meta_file is not None else None,
    )


def load_named_template(name: str, search_dirs: Sequence[Path] | None = None) -> Template:
    return load_template(find_template(name, search_dirs))
