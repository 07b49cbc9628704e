"""Every PR installs: the full requirement set after a change, resolved by the real
resolver (``Services.resolver``) for the deploy Python and, where it differs, CI's.

An *install unit* is what one ``pip install`` / ``uv sync`` reads: a root requirements
file with everything it includes (``-c`` files as constraints), or one
``pyproject.toml``/``Pipfile``/``setup.cfg`` with all its groups. Before a proposal
becomes a PR, each unit containing the package is resolved with the change applied:

1. all proposals of the unit together (one resolution for a whole ``pip freeze``);
2. if that fails, each proposal alone (bounded);
3. a proposal that does not resolve alone is retried with the other pins of the unit
   free to move *up* (``>=`` their pin, inline holds kept, the current pins as uv's
   preferences): the packages that then had to move (Flask with Werkzeug) go in the
   same PR;
4. else the newest release up to the target that does resolve is proposed instead;
5. else the conflict is reported with uv's explanation, and nothing is proposed.

Resolution never changes a file: it only decides targets. When the resolver is
missing or cannot reach the index, proposals stand and the finding says "not checked".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from packaging.version import InvalidVersion, Version

from fixers.contract import Finding
from fixers.dependencies.buckets import bucket_keys
from fixers.dependencies.conventions import load_conventions
from fixers.dependencies.holds import holds_for
from fixers.dependencies.model import (
    SOURCE_REQUIREMENTS,
    Dependency,
    InstallOptions,
    ParseResult,
    normalize,
)
from fixers.dependencies.policy import Policy
from fixers.dependencies.pythons import PythonTargets
from fixers.dependencies.requirements import parse_requirements_text
from fixers.dependencies.resolution import CompileRequest, Resolver, ResolveResult

DEFAULT_PYTHON = "3.12"  # when a repository states no Python at all
MAX_CHECKS = 60  # resolutions per scan (each one is one uv run per checked Python)
MAX_CONFLICT_TEXT = 600
MAX_DROPPED = 8  # sdist-only pins left out of one unit's resolutions
Status = Literal["ok", "co-move", "lowered", "conflict", "unchecked"]


@dataclass(frozen=True, slots=True)
class Unit:
    """One set of requirements installed together (see module docstring)."""

    key: str
    deps: tuple[Dependency, ...]
    constraints: tuple[Dependency, ...] = ()
    options: InstallOptions = field(default_factory=InstallOptions)
    blocked: str | None = None  # why it cannot be resolved here (a URL requirement...)

    def names(self) -> set[str]:
        return {d.name for d in self.deps if d.managed and d.name}

    def pins(self) -> dict[str, str]:
        return {d.name: d.pinned for d in self.deps if d.managed and d.pinned}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    target: str | None = None
    moves_with: Mapping[str, str] = field(default_factory=dict)
    message: str = ""
    pythons: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    #: Another install unit holding the package that was *not* checked, and why (its
    #: status above is the most limiting of the checked ones).
    not_checked: str = ""
    #: Not checked because the scan's resolution budget ran out: the finding's patch is
    #: undecided (a PR opened for it by an earlier scan is neither updated nor closed).
    spent: bool = False

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "status": self.status,
            "target": self.target,
            "with": dict(self.moves_with),
            "message": self.message,
            "python": list(self.pythons),
            "units": list(self.units),
        }
        if self.not_checked:
            out["not_checked"] = self.not_checked
        return out


# --------------------------------------------------------------------------- units


def install_units(parsed: ParseResult) -> list[Unit]:
    """Every install unit of a parsed snapshot."""
    by_file: dict[str, list[Dependency]] = {}
    for d in parsed.dependencies:
        if d.ecosystem == "pypi":
            by_file.setdefault(d.file, []).append(d)
    included = {t for targets in parsed.includes.values() for t, _c in targets}
    units = []
    req_files = {d.file for d in parsed.dependencies if d.source == SOURCE_REQUIREMENTS}
    req_files |= set(parsed.includes)
    for root in sorted(req_files - included):
        deps: list[Dependency] = []
        constraints: list[Dependency] = []
        options = InstallOptions()
        seen: set[str] = set()
        stack = [(root, False)]
        while stack:
            path, constraint = stack.pop()
            if path in seen:
                continue
            seen.add(path)
            (constraints if constraint else deps).extend(by_file.get(path, []))
            options = options.merged(parsed.install_options.get(path, InstallOptions()))
            stack += [(t, constraint or c) for t, c in parsed.includes.get(path, [])]
        units.append(_unit(root, deps, constraints, options))
    for path, deps in sorted(by_file.items()):
        if path not in req_files and deps[0].source != "workflow":
            units.append(_unit(path, deps, [], InstallOptions()))
    return units


def _unit(
    key: str, deps: list[Dependency], constraints: list[Dependency], options: InstallOptions
) -> Unit:
    unmanaged = next((d for d in deps if not d.managed), None)
    blocked = (
        f"`{unmanaged.file}` line {unmanaged.line} is a {unmanaged.reason}"
        if unmanaged is not None
        else None
    )
    return Unit(key, tuple(deps), tuple(constraints), options, blocked)


def requirement_line(d: Dependency, spec: str | None = None) -> str:
    """``name[extras]spec ; markers`` for one declaration (``spec`` replaces its own)."""
    extras = f"[{','.join(d.extras)}]" if d.extras else ""
    line = f"{d.raw_name or d.name}{extras}{spec if spec is not None else d.specifier}"
    return f"{line} ; {d.markers}" if d.markers else line


# --------------------------------------------------------------------------- checking


@dataclass
class Checker:
    """Runs the checks of the module docstring through ``resolver``."""

    resolver: Resolver
    targets: PythonTargets
    runs: int = 0
    seconds: float = 0.0
    budget: int = MAX_CHECKS
    #: Per unit: does it resolve *unchanged*? (See :meth:`baseline`.)
    baselines: dict[str, ResolveResult] = field(default_factory=dict)
    #: Per unit: pins left out of every resolution because they publish no wheel.
    dropped: dict[str, set[str]] = field(default_factory=dict)

    @property
    def pythons(self) -> tuple[str, ...]:
        return tuple(str(v) for v in self.targets.checked) or (DEFAULT_PYTHON,)

    def _resolve(
        self,
        unit: Unit,
        lines: Sequence[str],
        prefs: Mapping[str, str] | None = None,
        refresh: Sequence[str] = (),
    ) -> tuple[ResolveResult, dict[str, str]]:
        """Resolve ``lines`` for every checked Python; the pins the first (deploy) Python chose.

        With ``prefs`` (pins free to move up) each Python would pick its own newest
        releases, and CI's newer Python would pick some the deploy Python cannot install.
        So the deploy Python's resolution decides, and every later Python must install
        exactly those pins (they become constraints) for the result to count."""
        files = [("requirements.in", ("\n".join(lines) + "\n").encode())]
        constraints: tuple[str, ...] = ()
        if unit.constraints:
            body = "\n".join(requirement_line(d) for d in unit.constraints if d.managed)
            files.append(("constraints.txt", (body + "\n").encode()))
            constraints = ("constraints.txt",)
        if prefs:
            body = "".join(f"{n}=={v}\n" for n, v in sorted(prefs.items()))
            files.append(("resolved.txt", body.encode()))
        pins: dict[str, str] = {}
        result = ResolveResult(ok=False)
        for python in self.pythons:
            request = CompileRequest(
                files=tuple(files),
                inputs=("requirements.in",),
                output="resolved.txt" if prefs else None,
                constraints=constraints,
                python_version=python,
                refresh=tuple(sorted(refresh)),
                only_binary=tuple(sorted(unit.options.only_binary)),
                no_binary=tuple(sorted(unit.options.no_binary)),
                prerelease=unit.options.pre,
                header=False,
                annotate=False,
            )
            result = self.resolver.compile(request)
            self.runs += 1
            self.seconds += result.seconds
            if not result.ok:
                return result, {}
            if prefs and not pins:
                output = result.outputs.get("resolved.txt") or result.outputs.get("-") or b""
                pins = _pins(output.decode("utf-8", errors="replace"))
                body = "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))
                files.append(("chosen.txt", body.encode()))
                constraints = (*constraints, "chosen.txt")
        return result, pins

    def lines(
        self, unit: Unit, changes: Mapping[str, str], relax: frozenset[str] = frozenset()
    ) -> list[str]:
        """The unit's requirements with ``changes`` applied; pins of ``relax`` become ``>=``."""
        holds = {n: holds_for([d for d in unit.deps if d.name == n]) for n in relax}
        dropped = self.dropped.get(unit.key, set())
        out = []
        for d in unit.deps:
            if not d.managed or not d.name or d.name in dropped:
                continue
            if d.name in changes and d.pinned:
                out.append(requirement_line(d, changes[d.name]))
            elif d.name in relax and d.pinned and all(h.kind != "ignore" for h in holds[d.name]):
                caps = "".join(f",{h.spec}" for h in holds[d.name] if h.kind == "cap")
                out.append(requirement_line(d, f">={d.pinned}{caps}"))
            else:
                out.append(requirement_line(d))
        return out

    def baseline(self, unit: Unit) -> ResolveResult:
        """The unit's requirements as they are, resolved once per scan. A change can only
        be judged against a baseline that resolves: when even the current pins do not
        (an sdist-only pin: nothing is built here to learn its dependencies), every
        candidate would "fail", and the failure says nothing about the candidate."""
        if unit.key in self.baselines:
            return self.baselines[unit.key]
        dropped = self.dropped.setdefault(unit.key, set())
        result = self._resolve(unit, self.lines(unit, {}))[0]
        # A pin that publishes only an sdist cannot be resolved without building it: it is
        # left out (and named), so the rest of the set is still checked.
        while not result.ok and len(dropped) < MAX_DROPPED:
            name = sdist_only(result.message)
            if name is None or name in dropped or name not in unit.names():
                break
            dropped.add(name)
            result = self._resolve(unit, self.lines(unit, {}))[0]
        self.baselines[unit.key] = result
        return result

    def left_out(self, unit: Unit) -> str:
        names = sorted(self.dropped.get(unit.key, ()))
        if not names:
            return ""
        verb = "they publish" if len(names) > 1 else "it publishes"
        return (
            f" ({', '.join(names[:5])} left out: {verb} no wheel, and Patchwell never "
            "builds a package to learn its dependencies)"
        )

    def together(self, unit: Unit, proposals: Mapping[str, str]) -> ResolveResult:
        changes = {n: f"=={v}" for n, v in proposals.items()}
        return self._resolve(unit, self.lines(unit, changes), refresh=sorted(proposals))[0]

    def one(
        self,
        unit: Unit,
        name: str,
        current: str,
        target: str,
        *,
        may_lower: bool = True,
        strict: ResolveResult | None = None,
    ) -> Verdict:
        """Steps 3-5 for one proposal (``strict``: its own resolution, if already run).
        ``may_lower`` is False for a security fix: an older release than the fix would
        still be vulnerable, so it is never proposed."""
        units = (unit.key,)
        if strict is None:
            strict, _pins = self._resolve(unit, self.lines(unit, {name: f"=={target}"}))
        if strict.ok:
            return Verdict("ok", target, pythons=self.pythons, units=units)
        if strict.refused or strict.unavailable or _not_found(strict.message):
            return Verdict("unchecked", target, message=_why_unchecked(strict), units=units)
        pins = unit.pins()
        others = frozenset(pins) - {name}
        moved, resolved = self._resolve(
            unit, self.lines(unit, {name: f"=={target}"}, others), prefs=pins
        )
        if moved.ok:
            with_ = {n: v for n, v in resolved.items() if n in others and _newer(v, pins[n])}
            return Verdict("co-move", target, with_, pythons=self.pythons, units=units)
        if not may_lower:
            return Verdict("conflict", None, message=first_lines(strict.message), units=units)
        lower, resolved = self._resolve(
            unit, self.lines(unit, {name: f">{current},<={target}"}), prefs=pins
        )
        found = resolved.get(name)
        if lower.ok and found and _newer(found, current):
            return Verdict(
                "lowered",
                found,
                message=f"{target} does not install with the other requirements: "
                + first_lines(strict.message),
                pythons=self.pythons,
                units=units,
            )
        return Verdict("conflict", None, message=first_lines(strict.message), units=units)


def _pins(text: str) -> dict[str, str]:
    parsed = parse_requirements_text("resolved.txt", text, load_conventions())
    return {d.name: d.pinned for d in parsed.dependencies if d.pinned}


def _newer(a: str, b: str) -> bool:
    try:
        return Version(a) > Version(b)
    except InvalidVersion:
        return False


def _not_found(message: str) -> bool:
    lowered = message.lower()
    return "not found in the package registry" in lowered


def _why_unchecked(result: ResolveResult) -> str:
    if result.refused:
        return f"not checked: {result.refused}"
    if _not_found(result.message):
        return (
            "not checked: a requirement is not on Patchwell's package index (a private "
            "package?): " + first_lines(result.message)
        )
    return "not checked: the resolver could not run (" + first_lines(result.message) + ")"


# Possessive runs and a start-of-name lookbehind: linear on a long run of name characters
# (uv's message quotes names from the repository).
_NO_WHEELS = re.compile(
    r"(?:all versions of ([A-Za-z0-9._-]++) have"
    r"|(?<![A-Za-z0-9._-])([A-Za-z0-9._-]++)(?:[=<>!~]\S*+)? has) "
    r"no usable wheels"
)


def sdist_only(message: str) -> str | None:
    m = _NO_WHEELS.search(message)
    return normalize(m.group(1) or m.group(2)) if m else None


def _why_baseline(result: ResolveResult) -> str:
    if result.refused or result.unavailable or _not_found(result.message):
        return _why_unchecked(result)
    sdist = "no usable wheels" in result.message or "--no-build" in result.message
    why = (
        "a pinned package publishes no wheel for this Python, and Patchwell never builds "
        "a package to learn its dependencies"
        if sdist
        else "the current requirements do not resolve either"
    )
    return f"not checked: {why} ({first_lines(result.message)})"


def first_lines(message: str) -> str:
    """uv's explanation as one bounded sentence (its "because ..." chain)."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    keep = [
        ln.removeprefix("cause: ").removeprefix("error: ")
        for ln in lines
        if not ln.lower().startswith(("hint:", "resolved ", "error: no solution found"))
    ]
    text = " ".join(keep)
    return text if len(text) <= MAX_CONFLICT_TEXT else text[: MAX_CONFLICT_TEXT - 1] + "…"


# --------------------------------------------------------------------------- findings


def check_findings(
    findings: Sequence[Finding],
    parsed: ParseResult,
    checker: Checker,
    policy: Policy,
) -> list[Finding]:
    """Findings with each future PR's changes resolved (``data["install"]``); targets
    lowered, joined by co-movers or withdrawn where the requirement set would not resolve.

    The PRs are the fix's own buckets (:mod:`fixers.dependencies.buckets`): a security
    update alone, drift by group/family/package. A bucket that does not resolve as a
    whole is split in halves until the failing proposals are found (a 270-pin freeze
    with one bad pin costs about 2 log2(270) resolutions, not 270).
    """
    secured = {str(f.data["package"]) for f in findings if f.rule == "vulnerable"}
    proposals = {
        (f.rule, str(f.data["package"])): (i, f)
        for i, f in enumerate(findings)
        if f.rule in ("outdated", "vulnerable")
        and f.data.get("target")
        and not (f.rule == "outdated" and str(f.data["package"]) in secured)
    }
    if not proposals:
        return list(findings)
    drift = [(n, f) for (rule, n), (_i, f) in proposals.items() if rule == "outdated"]
    keys = {n: b[0] for n, b in bucket_keys(drift, policy).items()}
    buckets: dict[str, list[tuple[str, str]]] = {}
    for rule, name in proposals:
        key = keys[name] if rule == "outdated" else f"security-{name}"
        buckets.setdefault(key, []).append((rule, name))
    units = install_units(parsed)
    verdicts: dict[tuple[str, str], list[Verdict]] = {}
    # Security updates first: when the resolution budget runs out, drift waits, not a fix.
    for _key, members in sorted(buckets.items(), key=lambda b: not b[0].startswith("security-")):
        for unit in units:
            wanted = {
                m: str(proposals[m][1].data["target"]) for m in members if m[1] in unit.pins()
            }
            if wanted:
                for m, verdict in _check_bucket(unit, wanted, proposals, checker).items():
                    verdicts.setdefault(m, []).append(verdict)
    out = list(findings)
    for member, vs in verdicts.items():
        index, finding = proposals[member]
        out[index] = _apply(finding, _merge(vs))
    return out


def _check_bucket(
    unit: Unit,
    wanted: Mapping[tuple[str, str], str],
    proposals: Mapping[tuple[str, str], tuple[int, Finding]],
    checker: Checker,
) -> dict[tuple[str, str], Verdict]:
    units = (unit.key,)
    if unit.blocked:
        why = f"not checked: {unit.blocked}"
        return {m: Verdict("unchecked", v, message=why, units=units) for m, v in wanted.items()}
    out: dict[tuple[str, str], Verdict] = {}
    pending = [dict(wanted)]
    while pending:
        part = pending.pop()
        if checker.budget <= 0:
            why = "not checked: this scan's resolution budget is spent"
            out.update(
                {
                    m: Verdict("unchecked", v, message=why, units=units, spent=True)
                    for m, v in part.items()
                }
            )
            continue
        checker.budget -= 1
        left_out = checker.dropped.get(unit.key, set())
        for m in [m for m in part if m[1] in left_out]:
            why = (
                "not checked: it publishes no wheel, and Patchwell never builds a package "
                "to learn its dependencies"
            )
            out[m] = Verdict("unchecked", part.pop(m), message=why, units=units)
        if not part:
            continue
        joint = checker.together(unit, {m[1]: v for m, v in part.items()})
        if not joint.ok and not (joint.refused or joint.unavailable or _not_found(joint.message)):
            known = len(checker.dropped.get(unit.key, ()))
            if checker.baseline(unit).ok and len(checker.dropped.get(unit.key, ())) > known:
                pending.append(part)  # again, without the sdist-only pins just found
                continue
        if joint.ok:
            note = checker.left_out(unit)
            ok = {
                m: Verdict("ok", v, pythons=checker.pythons, units=(unit.key,), message=note)
                for m, v in part.items()
            }
            out.update(ok)
        elif joint.refused or joint.unavailable or _not_found(joint.message):
            out.update(
                {
                    m: Verdict("unchecked", v, message=_why_unchecked(joint), units=units)
                    for m, v in part.items()
                }
            )
        elif not (base := checker.baseline(unit)).ok:
            why = _why_baseline(base)
            out.update(
                {m: Verdict("unchecked", v, message=why, units=units) for m, v in part.items()}
            )
        elif len(part) > 1:
            items = sorted(part.items())
            pending += [dict(items[: len(items) // 2]), dict(items[len(items) // 2 :])]
        else:
            ((member, target),) = part.items()
            security = member[0] == "vulnerable"
            out[member] = checker.one(
                unit,
                member[1],
                unit.pins()[member[1]],
                target,
                may_lower=not security,
                strict=joint,
            )
    return out


def _priority(f: Finding) -> tuple[int, str]:
    return (0 if f.rule == "vulnerable" else 1, str(f.data.get("package")))


def _merge(verdicts: Sequence[Verdict]) -> Verdict:
    """One verdict for a package in several units: the most limiting one wins."""
    order: dict[Status, int] = {"conflict": 0, "lowered": 1, "co-move": 2, "unchecked": 3, "ok": 4}
    worst = min(verdicts, key=lambda v: order[v.status])
    if worst.status == "lowered":
        lowest = min((v.target for v in verdicts if v.target), key=Version)
        worst = dataclasses.replace(worst, target=lowest)
    moves: dict[str, str] = {}
    for v in verdicts:
        moves.update(v.moves_with)
    units = tuple(u for v in verdicts for u in v.units)
    skipped = next((v for v in verdicts if v.status == "unchecked"), None)
    not_checked = ""
    if skipped is not None and worst.status != "unchecked":
        where = ", ".join(f"`{u}`" for u in skipped.units[:3])
        not_checked = f"{where}: {skipped.message}" if where else skipped.message
    spent = any(v.spent for v in verdicts)
    return dataclasses.replace(
        worst, moves_with=moves, units=units, not_checked=not_checked, spent=spent
    )


def _apply(finding: Finding, verdict: Verdict) -> Finding:
    data = dict(finding.data)
    data["install"] = verdict.as_json()
    message = finding.message
    if verdict.status == "lowered":
        data["target"] = verdict.target
        message += (
            f" Proposing {verdict.target}, the newest release that installs with the rest of "
            f"the requirements ({verdict.message})"
        )
    elif verdict.status == "conflict":
        data["target"] = None
        message += f" No newer release installs with the other requirements: {verdict.message}"
    elif verdict.status == "co-move":
        moved = ", ".join(f"{n} {v}" for n, v in sorted(verdict.moves_with.items()))
        message += f" It installs only together with {moved}, which move in the same PR."
    undecided = finding.undecided or verdict.spent
    return dataclasses.replace(finding, data=data, message=message, undecided=undecided)


def index_notes(parsed: ParseResult) -> list[str]:
    """The repository's own index settings, named (never their values) for PR bodies."""
    seen = []
    for path, line, setting in parsed.index_settings:
        where = f"`{path}` line {line}" if line else f"`{path}`"
        note = f"{where} sets `{setting}`"
        if note not in seen:
            seen.append(note)
    return seen


__all__ = [
    "Checker",
    "Unit",
    "Verdict",
    "check_findings",
    "index_notes",
    "install_units",
    "normalize",
    "requirement_line",
]
