"""Declaring a dependency that is missing: one new line, written like its neighbours.

Used when a job fails on an import of a package nobody declared (``fixers.heal``).
The line goes into the requirements file the failing job installs (or
``requirements.txt``, else ``[project] dependencies`` of ``pyproject.toml``), pinned
the way the file's other lines are (``==``, ``>=``, ``~=`` or bare), in alphabetical
place when the file is sorted, with ``--hash`` lines when the file uses hashes.
The edited file is parsed again and the edit dropped unless it now declares exactly
that requirement -- and nothing else changed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from fixers.contract import FileEdit, Snapshot
from fixers.dependencies.conventions import load_conventions
from fixers.dependencies.manifests import parse_pyproject
from fixers.dependencies.model import Dependency, decode_manifest, encode_manifest, normalize
from fixers.dependencies.requirements import parse_requirements_text

__all__ = ["Addition", "add_requirement", "declared", "pin_style"]

MAX_MANIFEST_BYTES = 512 * 1024
_OPERATORS = ("==", ">=", "~=")


@dataclass(frozen=True, slots=True)
class Addition:
    edit: FileEdit
    line: str  # the requirement as written
    path: str


def _parse(path: str, text: str) -> list[Dependency]:
    conv = load_conventions()
    if path.endswith("pyproject.toml"):
        return parse_pyproject(path, text, conv).dependencies
    return parse_requirements_text(path, text, conv).dependencies


def declared(snapshot: Snapshot, name: str) -> bool:
    """Is ``name`` declared in any manifest of the snapshot (any file, any group)?"""
    from fixers.dependencies.inventory import parse_snapshot

    target = normalize(name)
    return any(d.name == target for d in parse_snapshot(snapshot).dependencies)


def pin_style(deps: Sequence[Dependency]) -> str:
    """The operator most of ``deps`` use (``==``, ``>=``, ``~=``), or ``""`` (bare names)."""
    counts: Counter[str] = Counter()
    for d in deps:
        spec = d.specifier.strip()
        op = next((o for o in _OPERATORS if spec.startswith(o) and "," not in spec), None)
        counts[op or ("" if not spec else "other")] += 1
    if not counts:
        return "=="
    style, _n = counts.most_common(1)[0]
    return "==" if style == "other" else style


def _requirement(display: str, version: str, style: str) -> str:
    return f"{display}{style}{version}" if style else display


def _sorted_names(deps: Sequence[Dependency]) -> bool:
    names = [d.name for d in sorted(deps, key=lambda d: d.line)]
    return len(names) >= 2 and names == sorted(names)


def _requirements_edit(
    text: str, deps: Sequence[Dependency], req: str, hashes: Sequence[str]
) -> str | None:
    newline = "\r\n" if "\r\n" in text else "\n"
    uses_hashes = any(d.hashes for d in deps)
    if uses_hashes and not hashes:
        return None  # a hash-checked file refuses a line without hashes
    block = req
    if uses_hashes:
        block += "".join(f" \\{newline}    --hash=sha256:{h}" for h in hashes)
    lines = text.split(newline) if text else []
    if _sorted_names(deps):
        target = normalize(re.split(r"[=<>~!\[ ;]", req, maxsplit=1)[0])
        after = [d for d in sorted(deps, key=lambda d: d.line) if d.name > target]
        if after:
            at = after[0].line - 1  # 0-based line of the first name sorting after ours
            return newline.join([*lines[:at], block, *lines[at:]])
    if text and not text.endswith(newline):
        text += newline
    return text + block + newline


_PEP621_DEPS = re.compile(r"(?m)^dependencies\s*=\s*\[[ \t]*(?:#.*)?\r?$")


def _pyproject_edit(text: str, req: str) -> str | None:
    """Insert before the closing ``]`` of a multi-line ``[project] dependencies``."""
    project = re.search(r"(?m)^\[project\]\s*$", text)
    if project is None:
        return None
    section_end = re.search(r"(?m)^\[", text[project.end() :])
    body_end = project.end() + (section_end.start() if section_end else len(text) - project.end())
    m = _PEP621_DEPS.search(text, project.end(), body_end)
    if m is None:
        return None
    close = re.search(r"(?m)^[^\S\n]*+\]", text[m.end() :])
    if close is None:
        return None
    close_at = m.end() + close.start()
    items = text[m.end() : close_at]
    item_lines = [line for line in items.splitlines() if line.strip().startswith(('"', "'"))]
    indent = re.match(r"\s*", item_lines[0]).group(0) if item_lines else "    "
    quote = item_lines[0].strip()[0] if item_lines else '"'
    newline = "\r\n" if "\r\n" in text else "\n"
    body = items.rstrip()
    if body and not body.endswith(","):
        body += ","
    new_items = f"{body}{newline}{indent}{quote}{req}{quote},{newline}"
    return text[: m.end()] + new_items + text[close_at:].lstrip(" \t")


def add_requirement(
    snapshot: Snapshot,
    display_name: str,
    version: str,
    *,
    prefer: Sequence[str] = (),
    hashes: Sequence[str] = (),
) -> Addition | None:
    """The edit declaring ``display_name`` at ``version`` (styled like the file), or None.

    ``prefer`` lists requirement files the failing job installs, best first.
    """
    name = normalize(display_name)
    paths = [p for p in prefer if snapshot.read(p) is not None]
    paths += [p for p in ("requirements.txt", "pyproject.toml") if snapshot.read(p) is not None]
    for path in dict.fromkeys(paths):
        raw = snapshot.read(path)
        if raw is None or len(raw) > MAX_MANIFEST_BYTES:
            continue
        text, codec = decode_manifest(raw)
        before = [d for d in _parse(path, text) if d.ecosystem == "pypi"]
        if any(d.name == name for d in before):
            return None  # declared already: the failure is something else
        pyproject = path.endswith("pyproject.toml")
        main = [d for d in before if d.managed and (not pyproject or d.group is None)]
        req = _requirement(display_name, version, pin_style(main))
        new_text = (
            _pyproject_edit(text, req) if pyproject else _requirements_edit(text, main, req, hashes)
        )
        if new_text is None:
            continue
        after = [d for d in _parse(path, new_text) if d.ecosystem == "pypi"]
        added = [d for d in after if d.name == name]
        unchanged = sorted((d.name, d.specifier) for d in after if d.name != name) == sorted(
            (d.name, d.specifier) for d in before
        )
        if (
            len(added) != 1
            or not unchanged
            or version not in added[0].specifier + ("" if pin_style(main) else version)
        ):
            continue
        return Addition(FileEdit(path, "modify", encode_manifest(new_text, codec)), req, path)
    return None
