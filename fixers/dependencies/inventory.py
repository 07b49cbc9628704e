"""What Patchwell sees: every dependency parsed from a snapshot (``patchwell deps``).

Like Renovate's extract dry-run: a user can check the parsers before trusting
the fixer. ``extract`` and ``render`` are pure; the CLI only wires them.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from collections.abc import Callable, Sequence

from fixers.contract import Snapshot, matches_any
from fixers.dependencies.conventions import Conventions, load_conventions
from fixers.dependencies.holds import line_comment
from fixers.dependencies.manifests import parse_pipfile, parse_pyproject, parse_setup_cfg
from fixers.dependencies.model import SOURCE_REQUIREMENTS, Dependency, ParseResult, decode_manifest
from fixers.dependencies.pythons import PATTERNS as PYTHON_PATTERNS
from fixers.dependencies.requirements import parse_requirements_tree
from fixers.dependencies.workflows import parse_workflow

REQUIREMENTS_PATTERNS = (
    "**/requirements*.txt",
    "**/*requirements*.txt",
    "**/requirements/*.txt",
    "**/requirements/**/*.txt",
    "**/constraints*.txt",
    "**/*.in",
)
MANIFEST_PATTERNS = ("**/pyproject.toml", "**/setup.cfg", "**/Pipfile")
WORKFLOW_PATTERNS = (
    ".github/workflows/*.yml",
    ".github/workflows/*.yaml",
    "action.yml",
    "action.yaml",
)
LOCK_PATTERNS = ("**/uv.lock", "**/poetry.lock", "**/pdm.lock", "**/Pipfile.lock")
PATTERNS = (
    REQUIREMENTS_PATTERNS + MANIFEST_PATTERNS + WORKFLOW_PATTERNS + LOCK_PATTERNS + PYTHON_PATTERNS
)
# Jinja / cookiecutter / copier templates: ``{{ cookiecutter.x }}`` in a path, or
# ``{% if %}`` / ``{{ var }}`` in a manifest. They are not installable as they stand.
_TEMPLATE_PATH = re.compile(r"\{\{|\{%")
# In a requirements file any Jinja tag or ``{{ var }}`` is a template (pip has no such
# syntax); GitHub's ``${{ … }}`` is not Jinja. TOML/YAML manifests legitimately hold
# ``{{`` inside strings (exclude globs naming a cookiecutter directory), so only a
# Jinja block tag starting a line marks them.
_TEMPLATE_REQ = re.compile(r"\{%-?\s*\w|(?<!\$)\{\{-?\s*[\w.\[\]'\"]+(?:\s*\|[^}\n]*)?\s*-?\}\}")
_TEMPLATE_BLOCK = re.compile(r"^[ \t]*\{%-?\s*(?:if|for|set|raw|macro|include|block)\b", re.M)
TEMPLATE_REASON = "templated (Jinja/cookiecutter): not a manifest until rendered"


def _text(snapshot: Snapshot, path: str) -> str | None:
    data = snapshot.read(path)
    # surrogateescape keeps undecodable bytes intact through an edit round-trip;
    # UTF-16 and BOM files (pip reads them) are decoded, offsets in the text.
    return None if data is None else decode_manifest(data)[0]


def is_templated(path: str, text: str | None) -> bool:
    """A path with ``{{``/``{%`` in it, or manifest text with Jinja tags or variables."""
    if _TEMPLATE_PATH.search(path):
        return True
    if text is None:
        return False
    head = text[:200_000]
    if matches_any(path, REQUIREMENTS_PATTERNS):
        return _TEMPLATE_REQ.search(head) is not None
    return _TEMPLATE_BLOCK.search(head) is not None


def parse_snapshot(
    snapshot: Snapshot,
    conventions: Conventions | None = None,
    ignored: Callable[[str], bool] = lambda _p: False,
) -> ParseResult:
    """Parse every manifest in the snapshot (requirements includes followed)."""
    conv = conventions or load_conventions()
    result = ParseResult()
    paths = [p for p in snapshot.paths() if not ignored(p)]
    templated = {
        p for p in paths if matches_any(p, PATTERNS) and is_templated(p, _text(snapshot, p))
    }
    result.skipped += [(p, TEMPLATE_REASON) for p in sorted(templated)]
    paths = [p for p in paths if p not in templated]
    roots = [p for p in paths if matches_any(p, REQUIREMENTS_PATTERNS) and conv.is_pip_input(p)]
    existing = set(snapshot.all_paths)
    result.extend(
        parse_requirements_tree(
            roots,
            lambda p: None if ignored(p) or p in templated else _text(snapshot, p),
            existing.__contains__,
            conv,
        )
    )
    for path in paths:
        base = posixpath.basename(path)
        text: str | None
        if matches_any(path, WORKFLOW_PATTERNS):
            text = _text(snapshot, path)
            if text is not None:
                result.extend(parse_workflow(path, text))
        elif base in ("pyproject.toml", "setup.cfg", "Pipfile"):
            text = _text(snapshot, path)
            if text is None:
                continue
            parser = {
                "pyproject.toml": parse_pyproject,
                "setup.cfg": parse_setup_cfg,
                "Pipfile": parse_pipfile,
            }[base]
            result.extend(parser(path, text, conv))
    result.dependencies = _with_comments(snapshot, result.dependencies)
    result.dependencies.sort(key=lambda d: (d.file, d.line, d.name))
    return result


def _with_comments(snapshot: Snapshot, deps: list[Dependency]) -> list[Dependency]:
    """Attach the line comment (holds like ``# pyup: < 6.1``) to TOML/INI declarations;
    the requirements parser attaches its own."""
    texts: dict[str, list[str] | None] = {}
    out = []
    for d in deps:
        if d.comment is None and d.line and d.source != SOURCE_REQUIREMENTS:
            if d.file not in texts:
                text = _text(snapshot, d.file)
                texts[d.file] = text.splitlines() if text is not None else None
            lines = texts[d.file]
            comment = line_comment(lines, d.line) if lines is not None else None
            if comment is not None:
                d = dataclasses.replace(d, comment=comment)
        out.append(d)
    return out


def extract(snapshot: Snapshot) -> list[Dependency]:
    """Every dependency declaration Patchwell parsed, managed or not."""
    return parse_snapshot(snapshot).dependencies


def render(deps: Sequence[Dependency], fmt: str) -> str:
    """``json`` (a list of objects) or ``text`` (one aligned line per dependency)."""
    if fmt == "json":
        return json.dumps([d.as_json() for d in deps], indent=2) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}: use json or text")
    if not deps:
        return "no dependencies found\n"
    rows = [_row(d) for d in deps]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        out.append(("  ".join(cells) + "  " + r[-1]).rstrip())
    return "\n".join(out) + "\n"


def render_skipped(skipped: Sequence[tuple[str, str]]) -> str:
    """Files not parsed on purpose (templates), one line each."""
    return "\n".join(f"skipped {path}: {reason}" for path, reason in skipped)


def _row(d: Dependency) -> list[str]:
    where = f"{d.file}:{d.line}"
    name = d.raw_name or d.name
    if d.extras:
        name += f"[{','.join(d.extras)}]"
    spec = d.specifier or "*"
    group = d.group or ("development" if d.development else "main")
    status = "managed" if d.managed else f"unmanaged ({d.reason})"
    extra = f"; {d.markers}" if d.markers else ""
    return [where, name, spec + extra, group, status]
