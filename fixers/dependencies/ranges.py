"""Version ranges (``>=``, Poetry ``^``/``~``): the ``range-strategy`` option.

* ``increase-if-necessary`` (default): a range whose lower bound is a vulnerable release
  has that bound raised to the smallest fixed release (``django>=4.2`` ->
  ``django>=4.2.16``), in a repository that deploys; in a library (no deployment
  files) the loose bound is usually intended, so it is reported, not edited. Ranges are
  never edited for drift: a range that admits the newest release is left alone;
* ``bump``: the same, libraries included;
* ``lock-only``: ranges are never edited; only lock files move (a vulnerable locked
  version gets its lock-only PR, see :mod:`fixers.dependencies.lockvulns`).

Only the bound's version bytes change; ``~=`` ranges are reported (raising ``~=1.2`` to
``~=1.2.5`` would also lower its upper bound).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from fixers.contract import Finding, Severity
from fixers.dependencies.model import Dependency, Span
from fixers.dependencies.pythons import PythonTargets
from fixers.dependencies.releases import candidates
from fixers.dependencies.sources import Advisory, Project


@dataclass(frozen=True, slots=True)
class Ranged:
    dep: Dependency
    lower: str
    operator: str  # ">=", "~=" (PEP 440 view of Poetry's ^ and ~ is ">=")


def lower_bound_of(d: Dependency) -> Ranged | None:
    if d.pinned or not d.managed or not d.specifier or d.ecosystem != "pypi":
        return None
    try:
        specs = list(SpecifierSet(d.specifier))
    except InvalidSpecifier:
        return None
    lows = [s for s in specs if s.operator in (">=", "~=") and "*" not in s.version]
    if len(lows) != 1:
        return None
    try:
        Version(lows[0].version)
    except InvalidVersion:
        return None
    return Ranged(d, lows[0].version, lows[0].operator)


def ranged_deps(deps: Sequence[Dependency]) -> list[Ranged]:
    return [r for d in deps if (r := lower_bound_of(d)) is not None]


def range_findings(
    ranged: Sequence[Ranged],
    advisories: Mapping[str, Sequence[Advisory]],
    projects: Mapping[str, Project | None],
    targets: PythonTargets,
    strategy: str,
    deployed: bool,
    make: Callable[..., Finding],
    advisory_json: Callable[[Advisory], dict[str, object]],
) -> list[Finding]:
    """One ``vulnerable-range`` finding per package whose declared lower bound is affected."""
    by_name: dict[str, list[Ranged]] = {}
    for r in ranged:
        if advisories.get(f"{r.dep.name}=={r.lower}"):
            by_name.setdefault(r.dep.name, []).append(r)
    out = []
    for name, rs in sorted(by_name.items()):
        lowest = min(rs, key=lambda r: Version(r.lower))
        found = {a.id: a for r in rs for a in advisories.get(f"{name}=={r.lower}", ())}
        project = projects.get(name)
        target = None
        if project is not None:
            target = next(
                (
                    rel.version
                    for rel in candidates(project, Version(lowest.lower), targets)
                    if not any(a.affects(rel.version) for a in found.values())
                ),
                None,
            )
        editable = [
            r
            for r in rs
            if r.operator == ">="
            and target is not None
            and SpecifierSet(r.dep.specifier).contains(target, prereleases=True)
        ]
        if strategy == "lock-only":
            why = "range-strategy is lock-only: the range is not edited"
        elif not deployed and strategy != "bump":
            why = "this looks like a library (no deployment files): the bound is left to you"
        elif target is None:
            why = "no fixed release is known"
        elif not editable:
            why = f"{target} is outside the declared range, or the range uses `~=`"
        else:
            why = ""
        ids = sorted(found)
        where = ", ".join(f"{r.dep.file}:{r.dep.line}" for r in rs[:5])
        fix = f"; raising it to {target} excludes them" if target else ""
        out.append(
            make(
                "vulnerable-range",
                Severity.VULNERABILITY if deployed else Severity.HYGIENE,
                f"{name}'s declared range ({where}) admits {lowest.lower}, which has "
                f"{len(ids)} known vulnerabilit{'y' if len(ids) == 1 else 'ies'} "
                f"({', '.join(ids[:8])}){fix}." + (f" Not edited: {why}." if why else ""),
                (name, lowest.lower, *ids),
                path=lowest.dep.file,
                line=lowest.dep.line,
                title=f"{name} range admits vulnerable {lowest.lower}",
                data={
                    "ecosystem": "pypi",
                    "package": name,
                    "from": lowest.lower,
                    "target": target if not why else None,
                    "fixed_release": target,
                    "security": True,
                    "range": True,
                    "lines": [[r.dep.file, r.dep.line] for r in editable] if not why else [],
                    "advisories": [advisory_json(found[i]) for i in ids],
                    "urls": dict(project.project_urls) if project else {},
                },
            )
        )
    return out


def bound_span(text: str, d: Dependency, lower: str) -> Span | None:
    """Where ``lower`` sits as the ``>=``/``^``/``~`` bound on ``d``'s line, after its name."""
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    if not 0 < d.line <= len(starts):
        return None
    begin = starts[d.line - 1]
    end = starts[d.line] if d.line < len(starts) else len(text)
    line = text[begin:end]
    name_at = re.search(re.escape(d.raw_name or d.name), line, re.IGNORECASE)
    if name_at is None:
        return None
    m = re.compile(r"(?:>=|\^|~(?!=))\s*(" + re.escape(lower) + r")(?![\w.])").search(
        line, name_at.end()
    )
    if m is None:
        return None
    return Span(begin + m.start(1), begin + m.end(1))
