"""Static parser for pip requirements files (``requirements*.txt``, ``*.in``).

Never runs pip: it reads the grammar pip documents (options, ``-r``/``-c``
includes, ``\\`` continuations, comments, ``--hash``, markers, extras) and turns
every line it cannot take into a :class:`ParseIssue` instead of failing the file.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fixers.dependencies.conventions import Conventions
from fixers.dependencies.model import (
    MAX_COMMENT,
    SOURCE_REQUIREMENTS,
    Dependency,
    InstallOptions,
    ParseIssue,
    ParseResult,
    Span,
    normalize,
    scrub_url,
    strip_comment,
)
from fixers.dependencies.pep508 import InvalidRequirement, Req, parse_requirement

_REQ_OPTION = re.compile(r"\s--?[A-Za-z]")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_DIRECT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*+\s*+(\[[^\]]*+\])?+\s*+@")
_EGG = re.compile(r"#egg=([A-Za-z0-9._-]+)")
_ARCHIVE = re.compile(r"\.(whl|zip|tar\.gz|tgz|tar\.bz2|tar)$", re.IGNORECASE)
_HASH = re.compile(r"--hash(?:=|\s+)(\S+)")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:=|\s*)(\S.*)?$")
_EDITABLE = re.compile(r"^(-e|--editable)(?:=|\s*)(\S.*)?$")
# Options pip accepts in a requirements file that do not name a dependency.
_GLOBAL_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--pre",
    "--trusted-host",
    "--require-hashes",
    "--use-feature",
    "-Z",
    "--always-unzip",
)
MAX_ISSUE_TEXT = 120
#: ``-r``/``-c`` chains deeper than this are not followed (each level was a recursive call:
#: a 3,000-file chain raised RecursionError). pip itself has no limit; real chains are 2-3.
MAX_INCLUDE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class _Segment:
    logical_start: int
    file_offset: int
    length: int


@dataclass(slots=True)
class _LogicalLine:
    """One line after joining ``\\`` continuations, with a map back to file offsets."""

    text: str
    number: int  # 1-based physical line where it starts
    segments: list[_Segment] = field(default_factory=list)

    def file_offset(self, index: int) -> int:
        for seg in self.segments:
            if seg.logical_start <= index <= seg.logical_start + seg.length:
                return seg.file_offset + (index - seg.logical_start)
        raise IndexError(index)


@dataclass(frozen=True, slots=True)
class Include:
    """An ``-r``/``-c`` edge from one requirements file to another."""

    source: str
    line: int
    target: str
    constraint: bool


@dataclass(slots=True)
class FileParse:
    dependencies: list[Dependency] = field(default_factory=list)
    issues: list[ParseIssue] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    options: InstallOptions = field(default_factory=InstallOptions)
    index_settings: list[tuple[int, str]] = field(default_factory=list)


def _logical_lines(text: str) -> list[_LogicalLine]:
    lines: list[_LogicalLine] = []
    offset = 0
    current: _LogicalLine | None = None
    for number, physical in enumerate(text.splitlines(keepends=True), start=1):
        body = physical.rstrip("\r\n")
        continued = body.endswith("\\") and not body.lstrip().startswith("#")
        piece = body[:-1] if continued else body
        if current is None:
            current = _LogicalLine(text="", number=number)
        current.segments.append(_Segment(len(current.text), offset, len(piece)))
        current.text += piece
        offset += len(physical)
        if not continued:
            lines.append(current)
            current = None
    if current is not None:
        lines.append(current)
    return lines


def _bounded(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "invalid"
    return first if len(first) <= MAX_ISSUE_TEXT else first[: MAX_ISSUE_TEXT - 1] + "…"


def parse_requirements_text(path: str, text: str, conventions: Conventions) -> FileParse:
    """Parse one requirements file; includes are returned as edges, not followed."""
    result = FileParse()
    development = conventions.is_development_file(path)
    group = "development" if development else None
    for line in _logical_lines(text):
        _parse_line(path, line, result, group, development)
    return result


def _parse_line(
    path: str, line: _LogicalLine, out: FileParse, group: str | None, development: bool
) -> None:
    content = strip_comment(line.text)
    stripped = content.strip()
    if not stripped:
        return
    comment = line.text[len(content) :].strip()[:MAX_COMMENT] or None
    lead = len(content) - len(content.lstrip())
    if stripped.startswith("-"):
        _parse_option(path, line, stripped, out, group, development)
        return
    options_at = _REQ_OPTION.search(stripped)
    req_text = stripped[: options_at.start()] if options_at else stripped
    options = stripped[options_at.start() :] if options_at else ""
    hashes = tuple(_HASH.findall(options))
    unmanaged = _unmanaged_reason(req_text)
    if unmanaged is not None:
        out.dependencies.append(_unmanaged(path, line.number, req_text, unmanaged, group))
        return
    try:
        req = parse_requirement(req_text)
    except InvalidRequirement as exc:
        out.issues.append(
            ParseIssue(
                path,
                line.number,
                "parse-error",
                f"cannot parse line {line.number}: {_bounded(str(exc))}",
            )
        )
        return
    if req.url:
        out.dependencies.append(
            _unmanaged(path, line.number, req_text, "direct URL reference", group, req.name)
        )
        return
    pinned, span = _pin_and_span(req, req_text, line, lead)
    out.dependencies.append(
        Dependency(
            file=path,
            line=line.number,
            name=normalize(req.name),
            raw_name=req.name,
            specifier=str(req.specifier),
            source=SOURCE_REQUIREMENTS,
            pinned=pinned,
            extras=tuple(sorted(req.extras)),
            markers=req.marker,
            group=group,
            development=development,
            hashes=hashes,
            span=span,
            comment=comment,
        )
    )


def _pin_and_span(
    req: Req, req_text: str, line: _LogicalLine, lead: int
) -> tuple[str | None, Span | None]:
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None, None
    version = specs[0].version
    found = re.search(r"===?\s*(" + re.escape(version) + r")", req_text)
    if not found:
        return version, None
    start = line.file_offset(lead + found.start(1))
    end = line.file_offset(lead + found.end(1))
    if end - start != len(version):  # split across a continuation: not editable in place
        return version, None
    return version, Span(start, end)


def _unmanaged_reason(req_text: str) -> str | None:
    if _DIRECT_REF.match(req_text):
        return None  # PEP 508 ``name @ url``: packaging parses it, reported as a URL reference
    if _VCS.match(req_text):
        return "VCS requirement"
    if _URL.match(req_text):
        return "URL requirement"
    if req_text.startswith((".", "/", "~")) or "\\" in req_text or _ARCHIVE.search(req_text):
        return "local path"
    if "/" in req_text.split(";")[0] and "@" not in req_text:
        return "local path"
    return None


def _unmanaged(
    path: str, number: int, text: str, reason: str, group: str | None, name: str | None = None
) -> Dependency:
    egg = _EGG.search(text)
    guessed = name or (egg.group(1) if egg else "")
    return Dependency(
        file=path,
        line=number,
        name=normalize(guessed) if guessed else "",
        raw_name=guessed,
        specifier=scrub_url(text)[:200],
        source=SOURCE_REQUIREMENTS,
        group=group,
        managed=False,
        reason=reason,
    )


def _parse_option(
    path: str,
    line: _LogicalLine,
    stripped: str,
    out: FileParse,
    group: str | None,
    development: bool,
) -> None:
    include = _INCLUDE.match(stripped)
    if include:
        target = (include.group(2) or "").strip()
        if not target:
            out.issues.append(
                ParseIssue(
                    path,
                    line.number,
                    "parse-error",
                    f"cannot parse line {line.number}: {include.group(1)} needs a file name",
                )
            )
            return
        constraint = include.group(1) in ("-c", "--constraint")
        out.includes.append(Include(path, line.number, target, constraint))
        return
    editable = _EDITABLE.match(stripped)
    if editable:
        target = (editable.group(2) or "").strip()
        out.dependencies.append(_unmanaged(path, line.number, target, "editable install", group))
        return
    parts = re.split(r"[=\s]+", stripped, maxsplit=1)
    option, value = parts[0], (parts[1].strip() if len(parts) > 1 else "")
    if option in _BINARY_OPTIONS:
        out.options = out.options.merged(_binary_option(option, value))
        return
    if option in _INDEX_OPTIONS:
        out.index_settings.append((line.number, option))  # the name only: values hold tokens
        return
    if option in _GLOBAL_OPTIONS:
        return  # index and install options: not dependencies, and may carry credentials
    out.issues.append(
        ParseIssue(
            path,
            line.number,
            "parse-error",
            f"cannot parse line {line.number}: unknown option {_bounded(option)[:40]}",
        )
    )


_INDEX_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--trusted-host",
)
_BINARY_OPTIONS = ("--only-binary", "--no-binary", "--prefer-binary", "--pre")


def _binary_option(option: str, value: str) -> InstallOptions:
    """One of pip's release-selection options (``--only-binary :all:``, ``--pre``...)."""
    names = frozenset(
        v if v in (":all:", ":none:") else normalize(v)
        for v in re.split(r"[,\s]+", strip_comment(value))
        if v
    )
    if option == "--only-binary":
        return InstallOptions(only_binary=names - {":none:"})
    if option == "--no-binary":
        return InstallOptions(no_binary=names - {":none:"})
    if option == "--prefer-binary":
        return InstallOptions(prefer_binary=True)
    return InstallOptions(pre=True)


def resolve_include(source: str, target: str) -> str | None:
    """Repository path of an include, or ``None`` when it points outside the repository."""
    if target.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", target):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    if joined.startswith("../") or joined == "..":
        return None
    return joined


def parse_requirements_tree(
    roots: Iterable[str],
    read: Callable[[str], str | None],
    exists: Callable[[str], bool],
    conventions: Conventions,
) -> ParseResult:
    """Parse ``roots`` and everything they include, each file once.

    Cycles are reported at the include that closes them and not followed;
    remote includes are skipped with a finding (we never fetch them).
    """
    result = ParseResult()
    parsed: dict[str, FileParse] = {}
    reported_cycles: set[tuple[str, int]] = set()
    finished: set[str] = set()

    def visit(path: str, stack: tuple[str, ...]) -> None:
        if path not in parsed:
            text = read(path)
            if text is None:
                return
            parsed[path] = parse_requirements_text(path, text, conventions)
            result.dependencies.extend(parsed[path].dependencies)
            result.issues.extend(parsed[path].issues)
            if parsed[path].options != InstallOptions():
                result.install_options[path] = parsed[path].options
            result.index_settings += [(path, n, o) for n, o in parsed[path].index_settings]
            edges = [
                (target, inc.constraint)
                for inc in parsed[path].includes
                if not _URL.match(inc.target)
                and (target := resolve_include(inc.source, inc.target)) is not None
            ]
            if edges:
                result.includes[path] = edges
        if path in finished:
            return  # already expanded: any cycle through it was reported then (DFS colouring)

        for inc in parsed[path].includes:
            _follow(inc, (*stack, path))
        finished.add(path)

    def _follow(inc: Include, stack: tuple[str, ...]) -> None:
        if _URL.match(inc.target):
            result.issues.append(
                ParseIssue(
                    inc.source,
                    inc.line,
                    "remote-include",
                    f"line {inc.line}: remote include {scrub_url(inc.target)[:100]} "
                    "is not fetched; its dependencies are not checked",
                )
            )
            return
        target = resolve_include(inc.source, inc.target)
        if target is None:
            result.issues.append(
                ParseIssue(
                    inc.source,
                    inc.line,
                    "missing-include",
                    f"line {inc.line}: include {inc.target[:100]} points outside the repository",
                )
            )
            return
        if target in stack:
            key = (inc.source, inc.line)
            if key not in reported_cycles:
                reported_cycles.add(key)
                cycle = " -> ".join((*stack[stack.index(target) :], target))
                result.issues.append(
                    ParseIssue(
                        inc.source,
                        inc.line,
                        "include-cycle",
                        f"line {inc.line}: include cycle {cycle}; not followed again",
                    )
                )
            return
        if len(stack) >= MAX_INCLUDE_DEPTH:
            result.issues.append(
                ParseIssue(
                    inc.source,
                    inc.line,
                    "include-depth",
                    f"line {inc.line}: include {target[:100]} is {len(stack) + 1} files deep; "
                    f"past the include-depth budget ({MAX_INCLUDE_DEPTH}) it is not followed",
                )
            )
            return
        if read(target) is None:
            if exists(target):
                # In the tree but not fetched (name outside the manifest patterns,
                # ignored, or over a size limit): a blind spot, not a broken build.
                rule, why = "include-not-read", "was not read by this scan"
            else:
                rule, why = "missing-include", "does not exist"
            result.issues.append(
                ParseIssue(
                    inc.source, inc.line, rule, f"line {inc.line}: included file {target} {why}"
                )
            )
            return
        visit(target, stack)

    for root in roots:
        visit(root, ())
    return result
