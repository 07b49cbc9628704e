"""Static parsers for ``pyproject.toml`` (PEP 621, PEP 735, Poetry), ``setup.cfg`` and ``Pipfile``.

Nothing is executed or built. A file that is not valid TOML is one finding; a
single bad requirement string is one finding and the rest of the file is kept.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fixers.dependencies.conventions import Conventions
from fixers.dependencies.model import (
    SOURCE_PEP621,
    SOURCE_PEP735,
    SOURCE_PIPFILE,
    SOURCE_POETRY,
    SOURCE_SETUP_CFG,
    Dependency,
    ParseIssue,
    ParseResult,
    Span,
    normalize,
    strip_comment,
)
from fixers.dependencies.pep508 import InvalidRequirement, Req, parse_requirement
from fixers.dependencies.toml_locate import LiteralIndex
from fixers.nesting import toml_loads

MAX_TEXT = 120
_BARE_VERSION = re.compile(r"^\d+(\.\d+)*([a-z]+\d*)?(\.post\d+)?(\.dev\d+)?$", re.IGNORECASE)


def _bounded(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "invalid"
    return first if len(first) <= MAX_TEXT else first[: MAX_TEXT - 1] + "…"


def _where(line: int, group: str | None) -> str:
    """``line N``, or the group when an escaped string hid the position."""
    return f"line {line}" if line else f"an entry of {group or 'dependencies'}"[:80]


def requirement_pin(req: Req) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def version_span_in(req_text: str, version: str, base: int) -> Span | None:
    found = re.search(r"===?\s*(" + re.escape(version) + r")", req_text)
    if not found:
        return None
    return Span(base + found.start(1), base + found.end(1))


def _load_toml(path: str, text: str, result: ParseResult) -> dict[str, Any] | None:
    try:
        return toml_loads(text)
    except tomllib.TOMLDecodeError as exc:
        result.issues.append(
            ParseIssue(
                path,
                _toml_error_line(str(exc)),
                "parse-error",
                f"cannot parse {path}: {_bounded(str(exc))}",
            )
        )
        return None


def _toml_error_line(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _pep508(
    path: str,
    req_text: Any,
    index: LiteralIndex,
    result: ParseResult,
    *,
    source: str,
    group: str | None,
    development: bool,
) -> None:
    """One PEP 508 string from a TOML array."""
    if not isinstance(req_text, str):
        if isinstance(req_text, Mapping) and "include-group" in req_text:
            return  # PEP 735 group include: its members are parsed with their own group
        result.issues.append(
            ParseIssue(
                path, None, "parse-error", f"cannot parse {path}: non-string entry in {group}"
            )
        )
        return
    lit = index.take(req_text)
    line = lit.line if lit else 0
    try:
        req = parse_requirement(req_text)
    except InvalidRequirement as exc:
        result.issues.append(
            ParseIssue(
                path,
                line or None,
                "parse-error",
                f"cannot parse {_where(line, group)}: {_bounded(str(exc))}",
            )
        )
        return
    pinned = requirement_pin(req)
    span = version_span_in(req_text, pinned, lit.start) if (pinned and lit and lit.exact) else None
    result.dependencies.append(
        Dependency(
            file=path,
            line=line,
            name=normalize(req.name),
            raw_name=req.name,
            specifier=str(req.specifier) if not req.url else "",
            source=source,
            pinned=None if req.url else pinned,
            extras=tuple(sorted(req.extras)),
            markers=req.marker,
            group=group,
            development=development,
            managed=req.url is None,
            reason="direct URL reference" if req.url else None,
            span=None if req.url else span,
        )
    )


def parse_pyproject(path: str, text: str, conventions: Conventions) -> ParseResult:
    result = ParseResult()
    data = _load_toml(path, text, result)
    if data is None:
        return result
    index = LiteralIndex(text)
    project = data.get("project")
    if isinstance(project, Mapping):
        rp = project.get("requires-python")
        if isinstance(rp, str):
            result.requires_python[path] = rp
        for req in _str_list(project.get("dependencies")):
            _pep508(path, req, index, result, source=SOURCE_PEP621, group=None, development=False)
        optional = project.get("optional-dependencies")
        if isinstance(optional, Mapping):
            for extra, reqs in optional.items():
                dev = conventions.is_development_group(extra)
                for req in _list(reqs):
                    _pep508(
                        path, req, index, result, source=SOURCE_PEP621, group=extra, development=dev
                    )
    groups = data.get("dependency-groups")
    if isinstance(groups, Mapping):
        for name, reqs in groups.items():
            # PEP 735 groups are never installed by `pip install .`: development by nature.
            for req in _list(reqs):
                _pep508(
                    path, req, index, result, source=SOURCE_PEP735, group=name, development=True
                )
    tool = data.get("tool") if isinstance(data.get("tool"), Mapping) else {}
    poetry = tool.get("poetry")
    if isinstance(poetry, Mapping):
        _parse_poetry(path, poetry, index, result, conventions)
        if poetry.get("source"):
            result.index_settings.append((path, None, "[[tool.poetry.source]]"))
    uv = tool.get("uv")
    if isinstance(uv, Mapping):
        for key in ("index", "index-url", "extra-index-url", "find-links", "sources"):
            if key in uv:
                result.index_settings.append((path, None, f"[tool.uv] {key}"))
    pdm = tool.get("pdm")
    if isinstance(pdm, Mapping) and pdm.get("source"):
        result.index_settings.append((path, None, "[[tool.pdm.source]]"))
    return result


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _str_list(value: Any) -> list[Any]:
    return _list(value)


def _parse_poetry(
    path: str,
    poetry: Mapping[str, Any],
    index: LiteralIndex,
    result: ParseResult,
    conventions: Conventions,
) -> None:
    tables: list[tuple[str, Any, str | None, bool]] = [
        ("tool.poetry.dependencies", poetry.get("dependencies"), None, False),
        ("tool.poetry.dev-dependencies", poetry.get("dev-dependencies"), "dev", True),
    ]
    groups = poetry.get("group")
    if isinstance(groups, Mapping):
        for gname, gdata in groups.items():
            if isinstance(gdata, Mapping):
                dev = gname != "main"
                tables.append(
                    (
                        f"tool.poetry.group.{gname}.dependencies",
                        gdata.get("dependencies"),
                        None if gname == "main" else gname,
                        dev,
                    )
                )
    for dotted, table, group, dev in tables:
        if not isinstance(table, Mapping):
            continue
        start = index.table_start(dotted) or 0
        for raw_name, value in table.items():
            if raw_name.lower() == "python":
                if isinstance(value, str):
                    result.requires_python[path] = poetry_to_pep440(value)
                continue
            _poetry_entry(path, raw_name, value, index, start, result, SOURCE_POETRY, group, dev)


def _poetry_entry(
    path: str,
    raw_name: str,
    value: Any,
    index: LiteralIndex,
    table_start: int,
    result: ParseResult,
    source: str,
    group: str | None,
    development: bool,
) -> None:
    """A ``name = "constraint"`` / ``name = {version=..}`` / ``name = [{..}, {..}]`` entry."""
    key_at = index.key_position(raw_name, table_start)
    entries = value if isinstance(value, list) else [value]
    for entry in entries:
        line = index.line_of(key_at) if key_at is not None else 0
        if isinstance(entry, str):
            constraint, extras, markers = entry, (), None
        elif isinstance(entry, Mapping):
            unmanaged = next(
                (k for k in ("git", "path", "url", "file", "editable") if k in entry), None
            )
            if unmanaged and not (unmanaged == "editable" and "version" in entry):
                result.dependencies.append(
                    Dependency(
                        file=path,
                        line=line,
                        name=normalize(raw_name),
                        raw_name=raw_name,
                        specifier="",
                        source=source,
                        group=group,
                        development=development,
                        managed=False,
                        reason=f"{unmanaged} dependency",
                    )
                )
                continue
            constraint = entry.get("version", "*")
            if not isinstance(constraint, str):
                constraint = "*"
            extras = tuple(sorted(str(e) for e in _list(entry.get("extras"))))
            markers = entry.get("markers") if isinstance(entry.get("markers"), str) else None
        else:
            result.issues.append(
                ParseIssue(
                    path,
                    line or None,
                    "parse-error",
                    f"cannot parse {_where(line, group)}: unsupported value for {raw_name[:60]}",
                )
            )
            continue
        spec = (
            poetry_to_pep440(constraint)
            if source == SOURCE_POETRY
            else pipfile_to_pep440(constraint)
        )
        pinned = _exact(constraint)
        span = None
        if pinned and key_at is not None:
            lit = index.take(constraint, key_at)
            if lit and lit.exact:
                offset = lit.value.find(pinned)
                span = Span(lit.start + offset, lit.start + offset + len(pinned))
                line = lit.line
        result.dependencies.append(
            Dependency(
                file=path,
                line=line,
                name=normalize(raw_name),
                raw_name=raw_name,
                specifier=spec,
                source=source,
                pinned=pinned,
                extras=extras,
                markers=markers,
                group=group,
                development=development,
                span=span,
            )
        )


def _exact(constraint: str) -> str | None:
    c = constraint.strip()
    if c.startswith("==") and not c.startswith("==="):
        c = c[2:].strip()
    elif c.startswith("="):
        c = c[1:].strip()
    return c if _BARE_VERSION.match(c) else None


def poetry_to_pep440(constraint: str) -> str:
    """Poetry's ``^``/``~``/bare-version constraints as a PEP 440 specifier string."""
    parts = [
        p.strip() for p in re.split(r",|(?<!\s)\s++(?=[<>=!~^])", constraint.strip()) if p.strip()
    ]
    out: list[str] = []
    for part in parts:
        if part in ("*", ""):
            continue
        if part.startswith("^"):
            out.append(_caret(part[1:].strip()))
        elif part.startswith("~") and not part.startswith("~="):
            out.append(_tilde(part[1:].strip()))
        elif _BARE_VERSION.match(part):
            out.append(f"=={part}")
        else:
            out.append(part)
    return ",".join(out)


def pipfile_to_pep440(constraint: str) -> str:
    c = constraint.strip()
    return "" if c in ("*", "") else c


def _nums(version: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", version.split("+")[0])[:3]] or [0]


def _caret(version: str) -> str:
    nums = _nums(version)
    upper = [nums[0] + 1]
    for i, n in enumerate(nums):
        if n != 0 or i == len(nums) - 1:
            upper = [*nums[:i], n + 1]
            break
    return f">={version},<{'.'.join(map(str, upper))}"


def _tilde(version: str) -> str:
    nums = _nums(version)
    upper = [nums[0] + 1] if len(nums) == 1 else [nums[0], nums[1] + 1]
    return f">={version},<{'.'.join(map(str, upper))}"


def parse_pipfile(path: str, text: str, conventions: Conventions) -> ParseResult:
    result = ParseResult()
    data = _load_toml(path, text, result)
    if data is None:
        return result
    index = LiteralIndex(text)
    requires = data.get("requires")
    if isinstance(requires, Mapping):
        pv = requires.get("python_full_version") or requires.get("python_version")
        if isinstance(pv, str):
            result.requires_python[path] = f">={pv}"
    for source in data.get("source") or []:
        url = source.get("url") if isinstance(source, Mapping) else None
        if isinstance(url, str) and urlsplit(url).hostname not in ("pypi.org", "pypi.python.org"):
            result.index_settings.append((path, None, "[[source]]"))
            break
    for category, table in data.items():
        if category in ("source", "requires", "scripts", "pipenv") or not isinstance(
            table, Mapping
        ):
            continue
        dev = category == "dev-packages" or conventions.is_development_group(category)
        group = None if category == "packages" else category
        start = index.table_start(category) or 0
        for raw_name, value in table.items():
            _poetry_entry(path, raw_name, value, index, start, result, SOURCE_PIPFILE, group, dev)
    return result


def parse_setup_cfg(path: str, text: str, conventions: Conventions) -> ParseResult:
    """``[options] install_requires`` / ``python_requires`` and ``[options.extras_require]``."""
    result = ParseResult()
    section = ""
    key: str | None = None
    offset = 0
    for number, physical in enumerate(text.splitlines(keepends=True), start=1):
        body = physical.rstrip("\r\n")
        here = offset
        offset += len(physical)
        stripped = body.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        header = re.match(r"^\[([^\]]+)\]\s*$", stripped)
        if header and not body[0].isspace():
            section, key = header.group(1).strip(), None
            continue
        if not body[0].isspace():
            m = re.match(r"^([A-Za-z0-9_.\-]+)\s*[=:]\s*(.*)$", body)
            if not m:
                key = None
                continue
            key = m.group(1).strip()
            value, value_at = m.group(2), here + m.start(2)
            if section == "options" and key == "python_requires" and value.strip():
                result.requires_python[path] = value.strip()
                key = None
                continue
            if not value.strip():
                continue
            body, here = value, value_at
        if key is None or not _is_requirement_key(section, key):
            continue
        group = key if section == "options.extras_require" else None
        dev = conventions.is_development_group(group)
        _setup_cfg_line(path, number, body, here, group, dev, result)
    return result


def _is_requirement_key(section: str, key: str) -> bool:
    return (section == "options" and key in ("install_requires", "tests_require")) or (
        section == "options.extras_require"
    )


def _setup_cfg_line(
    path: str,
    number: int,
    body: str,
    base: int,
    group: str | None,
    dev: bool,
    result: ParseResult,
) -> None:
    content = strip_comment(body)
    req_text = content.strip()
    if not req_text:
        return
    lead = base + (len(content) - len(content.lstrip()))
    try:
        req = parse_requirement(req_text)
    except InvalidRequirement as exc:
        result.issues.append(
            ParseIssue(
                path, number, "parse-error", f"cannot parse line {number}: {_bounded(str(exc))}"
            )
        )
        return
    pinned = requirement_pin(req)
    span = version_span_in(req_text, pinned, lead) if pinned else None
    result.dependencies.append(
        Dependency(
            file=path,
            line=number,
            name=normalize(req.name),
            raw_name=req.name,
            specifier=str(req.specifier),
            source=SOURCE_SETUP_CFG,
            pinned=pinned,
            extras=tuple(sorted(req.extras)),
            markers=req.marker,
            group=group,
            development=dev,
            managed=req.url is None,
            reason="direct URL reference" if req.url else None,
            span=span,
        )
    )


def merge(results: Iterable[ParseResult]) -> ParseResult:
    total = ParseResult()
    for r in results:
        total.extend(r)
    return total
