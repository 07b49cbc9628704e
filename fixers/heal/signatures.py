"""Failure signatures (``fixers/data/heal_signatures.toml``) and matching them.

A :class:`Diagnosis` is one recognised failure cause of one failed job: the
signature, the named groups its pattern captured, the line that matched, and the
failing step's excerpt to quote. Nothing here reads GitHub: the caller hands in
the job's annotations and its parsed log (either may be missing).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from fixers.heal.joblog import JobLog, Section, StepInfo, failing_section
from fixers.heal.mask import mask_lines

__all__ = [
    "REMEDIES",
    "Annotation",
    "Diagnosis",
    "Signature",
    "SignatureTable",
    "diagnose",
    "excerpt_of",
    "load_signatures",
]

REMEDIES = frozenset(
    {
        "action-major",
        "artifact-unique-name",
        "workflow-commands",
        "python-version",
        "setup-python",
        "add-distribution",
        "nearest-release",
        "security-bump",
        "runner-label",
        "report",
    }
)
#: Lines of the failing step quoted in a PR or comment.
EXCERPT_LINES = 30
#: Lines of the failing step a remedy may read (pip-audit's table, pip's conflict list).
CONTEXT_LINES = 400
MAX_ANNOTATIONS = 50


@dataclass(frozen=True, slots=True)
class Signature:
    id: str
    remedy: str
    level: Literal["error", "warning"]
    patterns: tuple[re.Pattern[str], ...]
    title: str
    why: str
    source: str
    reviewed: str
    sources: tuple[str, ...] = ()
    #: also read on a job GitHub cancelled (a retired runner image never starts the job)
    cancelled: bool = False

    def match(self, line: str) -> dict[str, str] | None:
        for pattern in self.patterns:
            m = pattern.search(line)
            if m:
                return {k: v for k, v in m.groupdict().items() if v is not None}
        return None

    def describe(self, groups: Mapping[str, str]) -> str:
        try:
            return self.title.format_map(_Default(groups))
        except (ValueError, IndexError):
            return self.title


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return key


@dataclass(frozen=True)
class SignatureTable:
    signatures: tuple[Signature, ...]
    reviewed: str

    def by_id(self, sig_id: str) -> Signature | None:
        return next((s for s in self.signatures if s.id == sig_id), None)


def _signature(raw: Mapping[str, Any]) -> Signature:
    sig_id = str(raw["id"])
    remedy = str(raw["remedy"])
    if remedy not in REMEDIES:
        raise ValueError(f"signature {sig_id}: unknown remedy {remedy!r}")
    level = raw.get("level", "error")
    if level not in ("error", "warning"):
        raise ValueError(f"signature {sig_id}: level must be error or warning")
    for key in ("source", "reviewed", "title", "why"):
        if not raw.get(key):
            raise ValueError(f"signature {sig_id}: {key} is required")
    patterns = tuple(re.compile(p) for p in raw["patterns"])
    if not patterns:
        raise ValueError(f"signature {sig_id}: at least one pattern")
    return Signature(
        id=sig_id,
        remedy=remedy,
        level=level,
        patterns=patterns,
        title=str(raw["title"]),
        why=str(raw["why"]).strip(),
        source=str(raw["source"]),
        reviewed=str(raw["reviewed"]),
        sources=tuple(raw.get("sources") or ()),
        cancelled=bool(raw.get("cancelled", False)),
    )


def load_signatures(data: bytes | None = None) -> SignatureTable:
    raw = tomllib.loads(
        (
            data or resources.files("fixers.data").joinpath("heal_signatures.toml").read_bytes()
        ).decode()
    )
    sigs = tuple(_signature(s) for s in raw.get("signature") or ())
    ids = [s.id for s in sigs]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate signature ids")
    return SignatureTable(sigs, str((raw.get("meta") or {}).get("reviewed", "")))


@cache
def default_signatures() -> SignatureTable:
    return load_signatures()


@dataclass(frozen=True, slots=True)
class Annotation:
    """A check-run annotation (``GET /check-runs/{id}/annotations``)."""

    level: str  # notice | warning | failure
    message: str
    path: str = ""
    title: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """One recognised cause of one failed job."""

    signature: Signature
    groups: Mapping[str, str]
    line: str  # the matched line, masked
    excerpt: tuple[str, ...]  # the failing step's last lines, masked
    step: str  # the failing step's title in the log ("Set up job", "Run pytest", ...)
    context: tuple[str, ...] = field(default=(), repr=False)  # the step's lines, masked
    from_annotation: bool = False

    @property
    def id(self) -> str:
        return self.signature.id

    @property
    def title(self) -> str:
        return self.signature.describe(self.groups)

    @property
    def cause_key(self) -> str:
        """What makes two diagnoses the same cause (one PR each): the signature and what
        it names (the action, the module, the package)."""
        subject = next(
            (
                self.groups[k]
                for k in ("action", "module", "name", "image", "command")
                if k in self.groups
            ),
            "",
        )
        return f"{self.signature.id}:{subject.lower()}" if subject else self.signature.id


def _section_lines(section: Section | None) -> tuple[str, ...]:
    return section.output() if section is not None else ()


def _candidates(
    log: JobLog | None, failing: Section | None, annotations: Sequence[Annotation], level: str
) -> Iterable[tuple[str, bool, bool]]:
    """(line, from an annotation, printed by the failing step) in the order a signature is
    looked for."""
    wanted = ("failure",) if level == "error" else ("warning", "failure")
    for a in annotations[:MAX_ANNOTATIONS]:
        if a.level in wanted:
            yield a.message.split("\n", 1)[0], True, False
            yield from ((extra, True, False) for extra in a.message.split("\n")[1:20])
    if level == "error":
        yield from ((line, False, True) for line in _section_lines(failing))
        if log is not None:  # an ##[error] anywhere in the job (a step we could not place)
            for s in log.sections:
                yield from ((e, False, s is failing) for e in s.errors)
    elif log is not None:
        for s in log.sections:
            yield from ((w, False, s is failing) for w in s.warnings)


def _warning_groups(
    groups: Mapping[str, str], failing: Section | None, in_failing: bool
) -> dict[str, str] | None:
    """A deprecation warning is the cause only where it touches the step that failed: printed
    by that step, or naming the action that step runs (then it names only that action). The
    runner prints the Node.js warning at the end of every job using an old action; a job that
    failed on an assertion did not fail because of it. None: it does not count."""
    if failing is None:
        return None
    if in_failing:
        return dict(groups)
    key = "actions" if "actions" in groups else "action"
    for named in (a.strip() for a in groups.get(key, "").split(",")):
        if named and failing.title in (f"Run {named}", f"Run {named.split('@')[0]}"):
            return {**groups, key: named}
    return None


def diagnose(
    log: JobLog | None,
    annotations: Sequence[Annotation] = (),
    steps: Sequence[StepInfo] = (),
    table: SignatureTable | None = None,
    *,
    cancelled: bool = False,
) -> list[Diagnosis]:
    """Every recognised cause of one failed job, errors first; [] when nothing is known.

    Warning-level signatures (deprecations that only *may* break a job) count only when no
    error-level signature explains the failure, and only where they touch the failing step
    (:func:`_warning_groups`). ``cancelled``: the job was cancelled, not failed; only
    signatures marked ``cancelled`` in the table are looked for.
    """
    table = table or default_signatures()
    failing = failing_section(log, steps) if log is not None else None
    context = mask_lines(_section_lines(failing)[-CONTEXT_LINES:])
    excerpt = excerpt_of(failing)
    step = (
        failing.title
        if failing is not None
        else next((s.name for s in steps if s.conclusion == "failure"), "")
    )
    found: dict[str, Diagnosis] = {}
    for level in ("error", "warning"):
        sigs = [s for s in table.signatures if s.level == level and (s.cancelled or not cancelled)]
        for line, from_annotation, in_failing in _candidates(log, failing, annotations, level):
            for sig in sigs:
                groups = sig.match(line)
                if groups is None:
                    continue
                if level == "warning":
                    groups = _warning_groups(groups, failing, in_failing)
                    if groups is None:
                        break
                d = Diagnosis(
                    signature=sig,
                    groups=groups,
                    line=mask_lines([line])[0],
                    excerpt=excerpt or mask_lines([line]),
                    step=step,
                    context=context,
                    from_annotation=from_annotation,
                )
                found.setdefault(d.cause_key, d)
                break  # the first (most specific) signature owns the line
        if found:
            break
    return list(found.values())


def excerpt_of(section: Section | None) -> tuple[str, ...]:
    """The failing step's last lines, ending at its last ``##[error]`` (what a person
    scrolls to), masked."""
    lines = list(_section_lines(section))
    if not lines:
        return ()
    last_error = max(
        (i for i, line in enumerate(lines) if line.startswith("##[error]")), default=None
    )
    end = len(lines) if last_error is None else last_error + 1
    start = max(0, end - EXCERPT_LINES)
    chosen = lines[start:end]
    if section is not None and start > 0 and section.title.startswith("Run "):
        chosen = [section.title, "…", *chosen]
    return mask_lines(chosen)
