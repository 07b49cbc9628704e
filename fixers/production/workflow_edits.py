"""Small workflow edits that heal a failed job, each a minimal change to the original text.

* :func:`replace_workflow_commands` -- ``echo "::set-output name=X::V"`` becomes
  ``echo "X=V" >> "$GITHUB_OUTPUT"`` (``save-state`` likewise into ``$GITHUB_STATE``);
* :func:`set_python_version` -- the ``python-version`` a setup step (or its matrix) asks
  for, replaced by one the runner image has;
* :func:`add_setup_python` -- an ``actions/setup-python`` step before the first step of a
  job that runs pip against the system Python;
* :func:`unique_artifact_names` -- ``upload-artifact`` names made unique per matrix entry
  (v4 refuses two uploads of one name in a run), downloads switched to ``pattern:``.

Every function re-parses its result and returns ``None`` (no edit) unless the workflow
still parses and reads back as intended; the position checks of
:mod:`fixers.production.workflows` refuse text that is not where the parser put it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from fixers.production.workflows import (
    EditError,
    Job,
    Workflow,
    WorkflowError,
    insert_lines,
    line_text,
    load_workflow,
    parse_yaml,
    replace_scalar,
)

__all__ = [
    "WorkflowEdit",
    "add_setup_python",
    "find_job",
    "replace_workflow_commands",
    "set_python_version",
    "unique_artifact_names",
]

_COMMAND = re.compile(
    r"""(?P<echo>\becho[ \t]+)(?P<q>["']?)::(?P<cmd>set-output|save-state)[ \t]+"""
    r"""name=(?P<name>[A-Za-z0-9_-]+)::"""
    # the value stops before the next command on the line: a lazy scan to the end of a
    # line for each of many unclosed commands along it would be quadratic
    r"""(?P<value>(?:(?!::(?:set-output|save-state)\b)[^\n])*?)"""
    r"""(?P=q)(?P<rest>[ \t]*(?:$|[;&|)]))""",
    re.MULTILINE,
)
_FILES = {"set-output": "$GITHUB_OUTPUT", "save-state": "$GITHUB_STATE"}
# `${{ … }}` up to its closing braces; stopping at the next `${{` keeps an unclosed
# expression repeated along a line linear (a lazy `.*?` rescans the rest of it each time).
_EXPRESSION = re.compile(r"\$\{\{(?:[^}$]|\}(?!\})|\$(?!\{\{))*+\}\}")


def _without_matrix(job_name: str) -> str:
    """``test (3.12, ubuntu)`` -> ``test``: the matrix values GitHub appends to a job name."""
    at = job_name.find(" (")
    return job_name[:at] if at >= 0 and job_name.endswith(")") else job_name


@dataclass(frozen=True, slots=True)
class WorkflowEdit:
    text: str
    changes: tuple[str, ...]  # what changed, one line each, for the PR body


def _reparses(path: str, text: str) -> Workflow | None:
    try:
        return load_workflow(path, text.encode("utf-8"))
    except (WorkflowError, YAMLError, EditError, ValueError):
        return None


def find_job(workflow: Workflow, job_name: str | None) -> Job | None:
    """The job a check run / jobs API entry names: its ``name:`` (matrix values in
    parentheses stripped) or its id; the only job when there is one."""
    jobs = [j for j in workflow.jobs if j.uses is None]
    if not job_name:
        return jobs[0] if len(jobs) == 1 else None
    base = _without_matrix(job_name)
    try:
        doc = parse_yaml(workflow.text)
    except (YAMLError, ValueError):
        doc = None
    named = {}
    if isinstance(doc, CommentedMap) and isinstance(doc.get("jobs"), CommentedMap):
        for job_id, node in doc["jobs"].items():
            if isinstance(node, CommentedMap) and isinstance(node.get("name"), str):
                named[_EXPRESSION.sub("", node["name"]).strip()] = str(job_id)
    for j in jobs:
        if j.id in (job_name, base) or named.get(base) == j.id or named.get(job_name) == j.id:
            return j
    prefix = [
        j for j in jobs if any(k and base.startswith(k) for k, v in named.items() if v == j.id)
    ]
    if len(prefix) == 1:
        return prefix[0]
    return jobs[0] if len(jobs) == 1 else None


# --------------------------------------------------------------------------- set-output


def replace_workflow_commands(path: str, text: str) -> WorkflowEdit | None:
    """Rewrite ``::set-output``/``::save-state`` echoes to the environment files."""
    changes: list[str] = []

    def sub(m: re.Match[str]) -> str:
        value, quote = m.group("value"), m.group("q") or '"'
        if quote in value or "\n" in value:
            return m.group(0)  # quoting we cannot keep exactly: leave it (the PR says so)
        target = _FILES[m.group("cmd")]
        changes.append(f"`::{m.group('cmd')} name={m.group('name')}` → `{target}`")
        written = f"{quote}{m.group('name')}={value}{quote}"
        return f'{m.group("echo")}{written} >> "{target}"{m.group("rest")}'

    new_text = _COMMAND.sub(sub, text)
    if not changes or new_text == text:
        return None
    before, after = _reparses(path, text), _reparses(path, new_text)
    if before is None or after is None:
        return None
    # Only run: scripts may change: every other value must read back the same.
    old_runs = [s.run for j in before.jobs for s in j.steps]
    new_runs = [s.run for j in after.jobs for s in j.steps]
    if len(old_runs) != len(new_runs) or [s.uses for j in before.jobs for s in j.steps] != [
        s.uses for j in after.jobs for s in j.steps
    ]:
        return None
    if any("::set-output" in (r or "") and "echo" in (r or "") for r in new_runs) and not any(
        "::set-output" in (r or "") for r in old_runs
    ):
        return None
    return WorkflowEdit(new_text, tuple(dict.fromkeys(changes)))


# --------------------------------------------------------------------------- python-version


def _setup_steps(job: Job) -> list:
    return [s for s in job.steps if (s.uses or "").split("@")[0] == "actions/setup-python"]


def _minor(text: str) -> str:
    parts = re.findall(r"\d+", text)
    return ".".join(parts[:2])


def set_python_version(
    workflow: Workflow, job: Job, missing: str, target: str
) -> WorkflowEdit | None:
    """Replace ``missing`` where the job's setup-python asks for it (a literal input, or
    the matrix entry its ``${{ matrix.X }}`` names) with ``target``."""
    text, changes = workflow.text, []
    for step in _setup_steps(job):
        ref = step.with_refs.get("python-version")
        if ref is None:
            continue
        expr = re.fullmatch(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}", ref.value.strip())
        if expr is None:
            if _minor(ref.value) == _minor(missing) or ref.value == missing:
                text = replace_scalar(text, ref, target)
                changes.append(f"`python-version: {ref.value}` → `{target}` (line {ref.lineno})")
            continue
        entries = job.matrix.get(expr.group(1), ())
        if any(_minor(e.value) == _minor(target) for e in entries):
            return None  # the target is already in the matrix: dropping an entry is a choice
        for entry in sorted(entries, key=lambda e: (e.line, e.col), reverse=True):
            if entry.value == missing or _minor(entry.value) == _minor(missing):
                quoted = target if not entry.number else f'"{target}"'
                text = _replace_entry(text, entry, quoted)
                changes.append(f"matrix `{expr.group(1)}`: `{entry.value}` → `{target}`")
    if not changes:
        return None
    after = _reparses(workflow.path, text)
    if after is None:
        return None
    return WorkflowEdit(text, tuple(changes))


def _replace_entry(text: str, ref, new: str) -> str:
    # An unquoted number becomes a quoted string ("3.10" must not read as 3.1).
    if ref.number:
        lines = text.split("\n")
        line = lines[ref.line]
        if line[ref.col : ref.col + len(ref.value)] != ref.value:
            raise EditError(f"line {ref.lineno}: matrix entry moved")
        lines[ref.line] = line[: ref.col] + new + line[ref.col + len(ref.value) :]
        return "\n".join(lines)
    return replace_scalar(text, ref, new)


# --------------------------------------------------------------------------- setup-python


_PIP = re.compile(r"(?m)^[^\S\n]*+(?:sudo\s+)?(?:python3?\s+-m\s+)?pip3?\s+install\b")


def add_setup_python(
    workflow: Workflow, job: Job, version: str, uses: str, *, before: int | None = None
) -> WorkflowEdit | None:
    """Insert a setup-python step (``uses`` as written, e.g. ``actions/setup-python@<sha> #
    v6.0.0``) before step ``before`` -- else before the job's first step running pip."""
    if _setup_steps(job):
        return None  # it has one: the system Python is not what failed
    target = None
    if before is not None and 0 <= before < len(job.steps):
        target = job.steps[before]
    else:
        target = next((s for s in job.steps if s.run and _PIP.search(s.run)), None)
    if target is None:
        return None
    first = line_text(workflow.text, target.line - 1)
    m = re.match(r"^(?P<indent>[ \t]*)- ", first)
    if m is None:
        return None
    indent = m.group("indent")
    block = [
        f"{indent}- name: Set up Python",
        f"{indent}  uses: {uses}",
        f"{indent}  with:",
        f'{indent}    python-version: "{version}"',
    ]
    text = insert_lines(workflow.text, target.line - 1, block, workflow.newline)
    after = _reparses(workflow.path, text)
    if after is None:
        return None
    new_job = after.job(job.id)
    if new_job is None or len(new_job.steps) != len(job.steps) + 1:
        return None
    what = f"job `{job.id}`: `actions/setup-python` with Python {version} before `{target.label}`"
    return WorkflowEdit(text, (what,))


# --------------------------------------------------------------------------- artifacts


def _matrix_keys(job: Job) -> list[str]:
    return [k for k in job.matrix if k not in ("include", "exclude")]


def unique_artifact_names(workflow: Workflow) -> WorkflowEdit | None:
    """Matrix jobs' ``upload-artifact`` names get ``-${{ matrix.K }}`` per matrix key; a
    download of such a name becomes ``pattern: NAME-*`` with ``merge-multiple: true``."""
    text, changes = workflow.text, []
    renamed: set[str] = set()
    edits: list[tuple[int, int, str, str]] = []  # (line, col, old, new) scalar edits
    for job in workflow.jobs:
        keys = _matrix_keys(job)
        if not keys:
            continue
        for step in job.steps:
            if (step.uses or "").split("@")[0] != "actions/upload-artifact":
                continue
            ref = step.with_refs.get("name")
            if ref is None or "matrix." in ref.value or "strategy.job-index" in ref.value:
                continue
            suffix = "".join(f"-${{{{ matrix.{k} }}}}" for k in keys)
            edits.append((ref.line, ref.col, ref.value, ref.value + suffix))
            renamed.add(ref.value)
            changes.append(f"job `{job.id}`: artifact `{ref.value}` → `{ref.value}{suffix}`")
    if not edits:
        return None
    refs = {
        (r.line, r.col): r for j in workflow.jobs for s in j.steps for r in s.with_refs.values()
    }
    for line, col, _old, new in sorted(edits, reverse=True):
        text = replace_scalar(text, refs[(line, col)], new)
    # Downloads of a renamed artifact collect every matrix upload.
    downloads = []
    for job in workflow.jobs:
        for step in job.steps:
            if (step.uses or "").split("@")[0] != "actions/download-artifact":
                continue
            ref = step.with_refs.get("name")
            if ref is not None and ref.value in renamed and "merge-multiple" not in step.with_:
                downloads.append((job, ref))
    for job, ref in sorted(downloads, key=lambda d: d[1].line, reverse=True):
        current = line_text(text, ref.line)
        m = re.match(r"^(?P<indent>[ \t]*)name:(?P<gap>[ \t]*)(?P<value>.+?)[ \t]*$", current)
        if m is None or m.group("value").strip("'\"") != ref.value:
            return None
        new_line = f"{m.group('indent')}pattern:{m.group('gap')}{ref.value}-*"
        lines = text.split(workflow.newline)
        lines[ref.line] = new_line
        lines.insert(ref.line + 1, f"{m.group('indent')}merge-multiple: true")
        text = workflow.newline.join(lines)
        changes.append(
            f"job `{job.id}`: download `{ref.value}` → `pattern: {ref.value}-*`, "
            "`merge-multiple: true`"
        )
    if _reparses(workflow.path, text) is None:
        return None
    return WorkflowEdit(text, tuple(changes))


def changed_lines(changes: Sequence[str]) -> str:
    return "\n".join(f"- {c}" for c in changes)
