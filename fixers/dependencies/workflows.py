"""GitHub Actions ``uses: owner/repo[/path]@ref`` references in workflow files.

Parsed with ruamel.yaml's round-trip loader, which keeps line and column for
every node, so the edit later touches only the ref bytes on that line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from fixers.dependencies.model import SOURCE_WORKFLOW, Dependency, ParseIssue, ParseResult, Span
from fixers.yaml_budget import YamlBudgetError, check_yaml

_USES = re.compile(
    r"^(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)(?P<path>/[^@\s]*)?@(?P<ref>[^\s#]+)$"
)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REF_COMMENT = re.compile(r"#\s*(?P<tag>v?\d[\w.+-]*)")
MAX_TEXT = 120


def is_sha(ref: str) -> bool:
    return bool(_SHA.match(ref))


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True  # a duplicate key is the user's problem, not a crash
    return yaml


def _uses_nodes(doc: Any) -> Iterator[tuple[str, int]]:
    """(value, 0-based line) of every ``uses`` in jobs, steps and composite actions."""
    if not isinstance(doc, CommentedMap):
        return
    containers: list[Any] = []
    jobs = doc.get("jobs")
    if isinstance(jobs, CommentedMap):
        for job in jobs.values():
            if isinstance(job, CommentedMap):
                containers.append(job)
                if isinstance(job.get("steps"), CommentedSeq):
                    containers.extend(job["steps"])
    runs = doc.get("runs")
    if isinstance(runs, CommentedMap) and isinstance(runs.get("steps"), CommentedSeq):
        containers.extend(runs["steps"])
    for node in containers:
        if isinstance(node, CommentedMap) and isinstance(node.get("uses"), str):
            line = node.lc.value("uses")[0] if "uses" in node.lc.data else node.lc.line
            yield node["uses"], line


def parse_workflow(path: str, text: str) -> ParseResult:
    result = ParseResult()
    try:
        check_yaml(text)
        doc = _yaml().load(text)
    except YamlBudgetError as exc:
        result.issues.append(ParseIssue(path, None, "parse-error", f"{path}: {exc}"))
        return result
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = str(getattr(exc, "problem", "") or "invalid YAML")[:MAX_TEXT]
        result.issues.append(
            ParseIssue(path, line, "parse-error", f"cannot parse {path}: {problem}")
        )
        return result
    except Exception as exc:  # ruamel raises assorted non-YAMLError types on hostile input
        result.issues.append(
            ParseIssue(path, None, "parse-error", f"cannot parse {path}: {type(exc).__name__}")
        )
        return result
    lines = text.splitlines(keepends=True)
    starts = [0]
    for physical in lines:
        starts.append(starts[-1] + len(physical))
    for value, line0 in _uses_nodes(doc):
        dep = _action(path, value, line0, lines, starts)
        if dep is not None:
            result.dependencies.append(dep)
    return result


def _action(
    path: str, value: str, line0: int, lines: list[str], starts: list[int]
) -> Dependency | None:
    value = value.strip()
    if value.startswith(("./", "docker://")):
        return Dependency(
            file=path,
            line=line0 + 1,
            name=value[:200],
            specifier="",
            source=SOURCE_WORKFLOW,
            ecosystem="actions",
            managed=False,
            reason="local action" if value.startswith("./") else "docker image",
        )
    m = _USES.match(value)
    if not m:
        return Dependency(
            file=path,
            line=line0 + 1,
            name=value[:200],
            specifier="",
            source=SOURCE_WORKFLOW,
            ecosystem="actions",
            managed=False,
            reason="unrecognised uses reference",
        )
    ref = m.group("ref")
    span, comment = None, None
    if line0 < len(lines):
        text = lines[line0]
        at = text.find(value)
        if at >= 0:
            ref_at = at + value.rindex("@") + 1
            span = Span(starts[line0] + ref_at, starts[line0] + ref_at + len(ref))
            c = _REF_COMMENT.search(text[at + len(value) :])
            comment = c.group("tag") if c else None
    name = f"{m.group('owner')}/{m.group('repo')}"
    return Dependency(
        file=path,
        line=line0 + 1,
        name=name.lower(),
        raw_name=name + (m.group("path") or ""),
        specifier=ref,
        source=SOURCE_WORKFLOW,
        ecosystem="actions",
        pinned=ref,
        span=span,
        ref_comment=comment,
    )
