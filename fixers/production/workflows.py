"""GitHub Actions workflows, read once and shared by the production fixers.

Workflows are parsed with ruamel.yaml's round-trip loader because it keeps the
line/column of every key and scalar: fixers then edit the *original text* at
those positions (insert a block, replace one scalar) instead of re-dumping the
document, so comments, quoting and layout outside the edit stay byte-identical.
Every edit helper here checks that the text at the recorded position is what
the parser saw before touching it, and refuses otherwise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from fixers.contract import Context, Snapshot, matches_any
from fixers.yaml_budget import YamlBudgetError, check_yaml

__all__ = [
    "WORKFLOW_PATTERNS",
    "EditError",
    "Job",
    "ScalarRef",
    "Step",
    "Workflow",
    "WorkflowCache",
    "WorkflowError",
    "insert_lines",
    "load_workflow",
    "load_workflows",
    "parse_yaml",
    "replace_lines",
    "replace_scalar",
]

WORKFLOW_PATTERNS = (".github/workflows/*.yml", ".github/workflows/*.yaml")

# A workflow bigger than this is not a hand-written workflow; refuse it rather
# than spend the scan budget parsing it.
MAX_WORKFLOW_BYTES = 512 * 1024
_NEWLINE = re.compile("\n")


class WorkflowError(Exception):
    """A workflow that could not be read, with a reason fit for a finding."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class EditError(Exception):
    """An edit refused because the text is not what the parser reported."""


@dataclass(frozen=True, slots=True)
class ScalarRef:
    """A scalar and where it starts in the text (0-based line and column)."""

    value: str
    line: int
    col: int
    # An unquoted number in the YAML (``3.10``): ``value`` is its source text,
    # but YAML -- and GitHub -- read it as a float (``3.1``).
    number: bool = False

    @property
    def lineno(self) -> int:
        return self.line + 1

    @property
    def misread(self) -> bool:
        """A number whose float reading differs from what was written (3.10 -> 3.1)."""
        try:
            return self.number and str(float(self.value)) != self.value
        except ValueError:
            return False


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    line: int  # 1-based
    uses: str | None
    run: str | None
    with_: Mapping[str, str]
    env: Mapping[str, str]
    name: str | None = None
    with_refs: Mapping[str, ScalarRef] = field(default_factory=dict)
    # `uses:`/`run:` present but not a plain string (a tag, a mapping): such a
    # step cannot be reasoned about, and callers must not treat it as empty.
    malformed: bool = False
    working_directory: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.uses or f"step {self.index + 1}"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    line: int  # 1-based line of the job's key
    uses: str | None  # a reusable workflow called at job level
    steps: tuple[Step, ...]
    has_permissions: bool
    permissions: Any
    runs_on: tuple[ScalarRef, ...]
    runs_on_expr: str | None  # e.g. "${{ matrix.os }}"
    matrix: Mapping[str, tuple[ScalarRef, ...]]
    env: Mapping[str, str]
    # Where the job's first key sits (0-based), to insert job-level keys; None
    # when the job is written in flow style and cannot take a block insertion.
    body_line: int | None
    body_col: int | None
    working_directory: str | None = None  # ``defaults.run.working-directory``


@dataclass(frozen=True, slots=True)
class Workflow:
    path: str
    text: str
    triggers: frozenset[str]
    trigger_config: Mapping[str, Any]
    jobs: tuple[Job, ...]
    has_permissions: bool
    permissions: Any
    env: Mapping[str, str]
    jobs_line: int | None  # 0-based line of the top-level ``jobs:`` key
    indent: int  # indentation unit the file uses for nested mappings
    # 0-based [start, end) lines of the top-level ``permissions:`` key and its block,
    # trailing blank and comment lines excluded (they belong to what follows).
    permissions_lines: tuple[int, int] | None = None

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    def job(self, job_id: str) -> Job | None:
        return next((j for j in self.jobs if j.id == job_id), None)


def parse_yaml(text: str) -> Any:
    """Parse one YAML document with the round-trip loader; ``YAMLError`` on failure
    (:class:`~fixers.yaml_budget.YamlBudgetError` past the node/depth budget)."""
    check_yaml(text)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml.load(text)


def _as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        text = _as_str(item)
        if isinstance(key, str) and text is not None:
            out[key] = text
    return out


_PLAIN = re.compile(r"[^\s,\]\}#]+")


def _ref(value: Any, line: int, col: int, lines: Sequence[str]) -> ScalarRef | None:
    text = _as_str(value)
    if text is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and line < len(lines):
        # str(3.10) is "3.1": keep the characters the file actually has.
        raw = _PLAIN.match(lines[line], col)
        if raw is not None:
            return ScalarRef(raw.group(0), line, col, number=True)
    return ScalarRef(text, line, col)


def _value_ref(node: CommentedMap, key: str, lines: Sequence[str]) -> ScalarRef | None:
    line, col = node.lc.value(key) if key in node else (0, 0)
    return _ref(node.get(key), line, col, lines)


def _seq_refs(seq: CommentedSeq, lines: Sequence[str]) -> tuple[ScalarRef, ...]:
    refs = []
    for i, item in enumerate(seq):
        line, col = seq.lc.item(i)
        ref = _ref(item, line, col, lines)
        if ref is not None:
            refs.append(ref)
    return tuple(refs)


def _triggers(on: Any) -> tuple[frozenset[str], Mapping[str, Any]]:
    if isinstance(on, str):
        return frozenset({on}), {on: None}
    if isinstance(on, Sequence):
        names = [str(x) for x in on if isinstance(x, str)]
        return frozenset(names), dict.fromkeys(names)
    if isinstance(on, Mapping):
        names = [str(k) for k in on if isinstance(k, str)]
        return frozenset(names), {k: on[k] for k in names}
    return frozenset(), {}


def _step(index: int, node: Any, lines: Sequence[str]) -> Step | None:
    if not isinstance(node, CommentedMap):
        return None
    with_node = node.get("with")
    with_refs: dict[str, ScalarRef] = {}
    if isinstance(with_node, CommentedMap):
        for key in with_node:
            if isinstance(key, str):
                ref = _value_ref(with_node, key, lines)
                if ref is not None:
                    with_refs[key] = ref
    return Step(
        index=index,
        line=node.lc.line + 1,
        uses=_as_str(node.get("uses")),
        run=_as_str(node.get("run")),
        with_=_str_map(with_node),
        env=_str_map(node.get("env")),
        name=_as_str(node.get("name")),
        with_refs=with_refs,
        malformed=any(k in node and not isinstance(node[k], str) for k in ("uses", "run")),
        working_directory=_as_str(node.get("working-directory")),
    )


def _matrix(job: CommentedMap, lines: Sequence[str]) -> dict[str, tuple[ScalarRef, ...]]:
    strategy = job.get("strategy")
    if not isinstance(strategy, Mapping):
        return {}
    matrix = strategy.get("matrix")
    if not isinstance(matrix, CommentedMap):
        return {}
    out: dict[str, tuple[ScalarRef, ...]] = {}
    for key, value in matrix.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, CommentedSeq):
            out[key] = _seq_refs(value, lines)
        else:
            ref = _value_ref(matrix, key, lines)
            if ref is not None:
                out[key] = (ref,)
    return out


def _runs_on(job: CommentedMap, lines: Sequence[str]) -> tuple[tuple[ScalarRef, ...], str | None]:
    value = job.get("runs-on")
    if isinstance(value, CommentedSeq):
        return _seq_refs(value, lines), None
    if isinstance(value, CommentedMap):
        # ``runs-on: {group: ..., labels: [...]}``: larger-runner groups.
        labels = value.get("labels")
        if isinstance(labels, CommentedSeq):
            return _seq_refs(labels, lines), None
        ref = _value_ref(value, "labels", lines)
        return ((ref,) if ref else ()), None
    ref = _value_ref(job, "runs-on", lines)
    if ref is None:
        return (), None
    if "${{" in ref.value:
        return (), ref.value
    return (ref,), None


def _job(job_id: str, jobs: CommentedMap, node: Any, lines: Sequence[str]) -> Job:
    line = jobs.lc.key(job_id)[0] + 1
    if not isinstance(node, CommentedMap):
        return Job(job_id, line, None, (), False, None, (), None, {}, {}, None, None)
    steps_node = node.get("steps")
    steps: list[Step] = []
    if isinstance(steps_node, Sequence) and not isinstance(steps_node, str):
        for i, item in enumerate(steps_node):
            step = _step(i, item, lines)
            if step is not None:
                steps.append(step)
    runs_on, runs_on_expr = _runs_on(node, lines)
    body_line: int | None = None
    body_col: int | None = None
    if len(node) and not node.fa.flow_style():
        first = next(iter(node))
        body_line, body_col = node.lc.key(first)
    return Job(
        id=job_id,
        line=line,
        uses=_as_str(node.get("uses")),
        steps=tuple(steps),
        has_permissions="permissions" in node,
        permissions=node.get("permissions"),
        runs_on=runs_on,
        runs_on_expr=runs_on_expr,
        matrix=_matrix(node, lines),
        env=_str_map(node.get("env")),
        body_line=body_line,
        body_col=body_col,
        working_directory=_default_directory(node),
    )


def _default_directory(job: CommentedMap) -> str | None:
    defaults = job.get("defaults")
    run = defaults.get("run") if isinstance(defaults, Mapping) else None
    return _as_str(run.get("working-directory")) if isinstance(run, Mapping) else None


def _indent_unit(doc: CommentedMap) -> int:
    jobs = doc.get("jobs")
    if isinstance(jobs, CommentedMap) and len(jobs) and not jobs.fa.flow_style():
        first = next(iter(jobs))
        col = jobs.lc.key(first)[1] - doc.lc.key("jobs")[1]
        if col > 0:
            return col
    return 2


def load_workflow(path: str, data: bytes) -> Workflow:
    """Parse one workflow file; raises :class:`WorkflowError` with a bounded reason."""
    if len(data) > MAX_WORKFLOW_BYTES:
        raise WorkflowError(path, f"larger than {MAX_WORKFLOW_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowError(path, f"not UTF-8 (byte {exc.start})") from None
    try:
        doc = parse_yaml(text)
    except YamlBudgetError as exc:
        raise WorkflowError(path, str(exc)) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise WorkflowError(path, f"invalid YAML{where}: {str(problem)[:120]}") from None
    except RecursionError:
        raise WorkflowError(path, "YAML nested too deeply") from None
    if not isinstance(doc, CommentedMap):
        raise WorkflowError(path, "not a mapping at the top level")
    triggers, trigger_config = _triggers(doc.get("on", doc.get(True)))
    jobs_node = doc.get("jobs")
    lines = text.split("\n")
    jobs: list[Job] = []
    jobs_line = None
    if isinstance(jobs_node, CommentedMap):
        jobs_line = doc.lc.key("jobs")[0]
        for job_id, node in jobs_node.items():
            if isinstance(job_id, str):
                jobs.append(_job(job_id, jobs_node, node, lines))
    return Workflow(
        permissions_lines=_key_block(doc, "permissions", lines),
        path=path,
        text=text,
        triggers=triggers,
        trigger_config=trigger_config,
        jobs=tuple(jobs),
        has_permissions="permissions" in doc,
        permissions=doc.get("permissions"),
        env=_str_map(doc.get("env")),
        jobs_line=jobs_line,
        indent=_indent_unit(doc),
    )


def _key_block(doc: CommentedMap, key: str, lines: Sequence[str]) -> tuple[int, int] | None:
    if key not in doc:
        return None
    start = doc.lc.key(key)[0]
    after = [doc.lc.key(k)[0] for k in doc if doc.lc.key(k)[0] > start]
    end = min(after) if after else len(lines)
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip()[:1] == "#"):
        end -= 1
    return start, end


class WorkflowCache:
    """Parsed workflows by path and content hash.

    Round-trip parsing is pure Python and the slowest step of these fixers; a
    fixer parses the same files in ``detect`` and again in ``fix``. Each fixer
    instance owns one cache (never module-global), bounded, and holds only
    immutable results, so sharing an entry is safe.
    """

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._items: dict[tuple[str, str], Workflow | WorkflowError] = {}

    def load(self, path: str, data: bytes) -> Workflow:
        key = (path, hashlib.sha256(data).hexdigest())
        hit = self._items.get(key)
        if hit is None:
            try:
                hit = load_workflow(path, data)
            except WorkflowError as exc:
                hit = exc
            if len(self._items) >= self._limit:
                self._items.pop(next(iter(self._items)))
            self._items[key] = hit
        if isinstance(hit, WorkflowError):
            raise hit
        return hit


def workflow_paths(snapshot: Snapshot, ctx: Context) -> Iterator[str]:
    for path in snapshot.paths():
        if matches_any(path, WORKFLOW_PATTERNS) and not ctx.ignored(path):
            yield path


def load_workflows(
    snapshot: Snapshot, ctx: Context, cache: WorkflowCache | None = None
) -> tuple[list[Workflow], list[WorkflowError]]:
    """Every workflow in the snapshot, and the ones that could not be read."""
    load = cache.load if cache is not None else load_workflow
    good: list[Workflow] = []
    bad: list[WorkflowError] = []
    for path in workflow_paths(snapshot, ctx):
        data = snapshot.read(path)
        if data is None:
            continue
        try:
            good.append(load(path, data))
        except WorkflowError as exc:
            bad.append(exc)
    return good, bad


# --- byte-preserving edits -------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    # Only "\n" ends a line here; "\r\n" files work because "\r" stays part of
    # the line. Files using other breaks fail the position checks and are refused.
    return [0, *(m.end() for m in _NEWLINE.finditer(text))]


def _offset(text: str, line: int, col: int) -> int:
    starts = _line_starts(text)
    if line >= len(starts):
        raise EditError(f"line {line + 1} is past the end of the file")
    offset = starts[line] + col
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    if offset > end:
        raise EditError(f"column {col} is past the end of line {line + 1}")
    return offset


def replace_scalar(text: str, ref: ScalarRef, new_value: str) -> str:
    """Replace one plain or quoted scalar in place, keeping its quoting."""
    offset = _offset(text, ref.line, ref.col)
    quote = text[offset : offset + 1]
    if quote in ("'", '"'):
        body = text[offset + 1 : offset + 1 + len(ref.value)]
        closing = text[offset + 1 + len(ref.value) : offset + 2 + len(ref.value)]
        if body != ref.value or closing != quote:
            raise EditError(f"line {ref.lineno}: quoted scalar is not where the parser put it")
        return text[: offset + 1] + new_value + text[offset + 1 + len(ref.value) :]
    if text[offset : offset + len(ref.value)] != ref.value:
        raise EditError(f"line {ref.lineno}: scalar {ref.value!r} is not where the parser put it")
    return text[:offset] + new_value + text[offset + len(ref.value) :]


def insert_lines(text: str, line: int, lines: Sequence[str], newline: str) -> str:
    """Insert whole lines before 0-based ``line``; nothing else in ``text`` moves."""
    starts = _line_starts(text)
    if line >= len(starts):
        raise EditError(f"line {line + 1} is past the end of the file")
    offset = starts[line]
    block = "".join(item + newline for item in lines)
    return text[:offset] + block + text[offset:]


def replace_lines(text: str, start: int, end: int, lines: Sequence[str], newline: str) -> str:
    """Replace 0-based lines ``start`` (inclusive) to ``end`` (exclusive) with ``lines``."""
    starts = _line_starts(text)
    if not 0 <= start <= end < len(starts) + 1 or start >= len(starts):
        raise EditError(f"lines {start + 1}-{end} are not in the file")
    first = starts[start]
    last = starts[end] if end < len(starts) else len(text)
    block = "".join(item + newline for item in lines)
    return text[:first] + block + text[last:]


def line_text(text: str, line: int) -> str:
    starts = _line_starts(text)
    if line >= len(starts):
        return ""
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[starts[line] : end].rstrip("\r\n")
