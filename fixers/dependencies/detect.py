"""Detection: parse issues, drift, yanked pins, inconsistent pins, unbounded
dependencies, vulnerabilities and outdated/mutable GitHub Actions.

Everything a patch will need (targets, hashes, release dates, advisories,
project URLs) is put in each finding's ``data`` so ``fix`` stays a pure
function of the snapshot and the findings.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from fixers.contract import Context, Finding, Severity, Snapshot, fingerprint
from fixers.dependencies.actions_detect import action_findings
from fixers.dependencies.conventions import Conventions, load_conventions
from fixers.dependencies.holds import Hold, holds_for
from fixers.dependencies.installable import Checker, check_findings
from fixers.dependencies.inventory import parse_snapshot
from fixers.dependencies.locks import compiled_header
from fixers.dependencies.lockvulns import (
    blocked,
    locked_findings,
    locked_pins,
    snapshot_locks,
    try_lock,
)
from fixers.dependencies.model import (
    SOURCE_REQUIREMENTS,
    Dependency,
    InstallOptions,
    ParseIssue,
    ParseResult,
    decode_manifest,
)
from fixers.dependencies.policy import Policy, policy_from_options, update_type
from fixers.dependencies.pythons import PythonTargets, python_targets
from fixers.dependencies.ranges import range_findings, ranged_deps
from fixers.dependencies.releases import (
    candidates,
    has_wheel,
    min_python,
)
from fixers.dependencies.resolution import Resolver
from fixers.dependencies.sources import (
    ActionsCatalog,
    Advisory,
    AdvisoryService,
    PackageIndex,
    Project,
    Release,
    SourceUnavailable,
)
from fixers.dependencies.unbounded import deploys_itself, unbounded_findings

FIXER = "dependencies"
MAX_WORKERS = 8  # index/OSV requests in flight; small to stay polite to the index
_ISSUE_SEVERITY = {
    "parse-error": Severity.BROKEN_BUILD,
    "include-cycle": Severity.BROKEN_BUILD,
    "missing-include": Severity.BROKEN_BUILD,
    "remote-include": Severity.HYGIENE,
}
_SEMVER_TAG = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


@dataclass(frozen=True)
class Env:
    """What detection reads besides the snapshot."""

    index: PackageIndex | None
    advisories: AdvisoryService | None
    actions: ActionsCatalog | None
    now: datetime
    policy: Policy
    conventions: Conventions
    resolver: Resolver | None = None
    #: The repository's ignore list: production facts are memoised per visible files.
    ignored: Callable[[str], bool] | None = None


def env_from_context(ctx: Context) -> Env:
    services = ctx.services
    return Env(
        index=services.index,  # type: ignore[arg-type]
        advisories=services.advisories,  # type: ignore[arg-type]
        actions=getattr(services, "actions", None),
        now=services.clock(),
        policy=policy_from_options(ctx.options),
        conventions=load_conventions(),
        resolver=getattr(services, "resolver", None),  # type: ignore[arg-type]
        ignored=ctx.ignored,
    )


def _finding(
    rule: str,
    severity: Severity,
    message: str,
    key: Sequence[str],
    *,
    path: str | None = None,
    line: int | None = None,
    title: str | None = None,
    data: Mapping[str, Any] | None = None,
    incomplete: bool = False,
) -> Finding:
    return Finding(
        fixer=FIXER,
        incomplete=incomplete,
        rule=rule,
        severity=severity,
        message=message,
        fingerprint=fingerprint(FIXER, rule, *key),
        path=path,
        line=line,
        title=title,
        data=dict(data or {}),
    )


def detect(snapshot: Snapshot, ctx: Context) -> list[Finding]:
    env = env_from_context(ctx)
    parsed = parse_snapshot(snapshot, env.conventions, ctx.ignored)
    targets = targets_of(snapshot, parsed, ctx.ignored)
    findings = detect_parsed(snapshot, parsed, env, targets)
    ranges = _ranges(snapshot, parsed, env, targets)
    # A raised bound updates the lock beside it in the same PR: no second, lock-only PR.
    raised = {
        (posixpath.dirname(str(f.path)), f.data["package"]) for f in ranges if f.data.get("target")
    }
    locked = [
        f
        for f in _locked(snapshot, parsed, env, targets, ctx.ignored)
        if (posixpath.dirname(str(f.path)), f.data.get("package")) not in raised
    ]
    return findings + ranges + locked


def _ranges(
    snapshot: Snapshot, parsed: ParseResult, env: Env, targets: PythonTargets
) -> list[Finding]:
    """Declared ranges whose lower bound is vulnerable (see :mod:`fixers.dependencies.ranges`)."""
    pinned = {d.name for d in parsed.dependencies if d.pinned}
    ranged = [r for r in ranged_deps(parsed.dependencies) if r.dep.name not in pinned]
    if not ranged or env.advisories is None:
        return []
    pairs = sorted({f"{r.dep.name}=={r.lower}" for r in ranged})
    advisories = {
        k: v
        for k, v in _advisories(env.advisories, pairs).items()
        if v and not isinstance(v, Exception)
    }
    names = sorted({k.split("==", 1)[0] for k in advisories})
    projects: dict[str, Any] = {}
    if env.index is not None and names:
        projects = _parallel(env.index.project, names, getattr(env.index, "peek", None))
    projects = {n: p for n, p in projects.items() if isinstance(p, Project)}
    return range_findings(
        ranged,
        advisories,
        projects,
        targets,
        env.policy.range_strategy,
        deploys_itself(snapshot, env.conventions, env.ignored),
        _finding,
        _advisory_json,
    )


def _locked(
    snapshot: Snapshot,
    parsed: ParseResult,
    env: Env,
    targets: PythonTargets,
    ignored: Callable[[str], bool],
) -> list[Finding]:
    """Vulnerable packages only a lock file pins (see :mod:`fixers.dependencies.lockvulns`)."""
    pins = locked_pins(snapshot_locks(snapshot, ignored), parsed.dependencies)
    if not pins or env.advisories is None:
        return []
    advisories = _advisories(env.advisories, sorted({f"{p.name}=={p.version}" for p in pins}))
    failed = sorted(k for k, v in advisories.items() if isinstance(v, Exception))
    out: list[Finding] = []
    if failed:
        out.append(
            _finding(
                "advisories-unavailable",
                Severity.HYGIENE,
                f"The vulnerability database could not be queried for {len(failed)} locked "
                f"pin(s) ({', '.join(failed[:10])}). Their status is UNKNOWN, not clean.",
                ("advisories", "locks"),
                title="vulnerability database unavailable (lock files)",
                incomplete=True,
                data={"pins": failed},
            )
        )
    found = {k: v for k, v in advisories.items() if v and not isinstance(v, Exception)}
    names = sorted({k.split("==", 1)[0] for k in found})
    projects: dict[str, Any] = {}
    if env.index is not None and names:
        index = env.index
        projects = _parallel(index.project, names, getattr(index, "peek", None))
    projects = {n: p for n, p in projects.items() if isinstance(p, Project)}
    for f in locked_findings(pins, found, projects, targets, _finding, _advisory_json):
        if env.resolver is not None and f.data.get("tool") == "uv" and f.data.get("target"):
            produced, why = try_lock(
                snapshot,
                str(f.data["lock"]),
                str(f.data["package"]),
                str(f.data["target"]),
                env.resolver,
            )
            if produced is None:
                f = blocked(f, why)
        out.append(f)
    return out


def targets_of(
    snapshot: Snapshot, parsed: ParseResult, ignored: Callable[[str], bool] = lambda _p: False
) -> PythonTargets:
    """The deploy/CI Pythons of a parsed snapshot (see :mod:`fixers.dependencies.pythons`)."""

    def read(path: str) -> str | None:
        raw = snapshot.read(path)
        return None if raw is None else decode_manifest(raw)[0]

    templated = {path for path, _reason in parsed.skipped}
    return python_targets(
        snapshot, parsed.requires_python, read, lambda p: p in templated or ignored(p)
    )


def detect_parsed(
    snapshot: Snapshot, parsed: ParseResult, env: Env, targets: PythonTargets | None = None
) -> list[Finding]:
    if targets is None:
        targets = PythonTargets(deploy=min_python(parsed.requires_python))
    findings = [_issue_finding(i) for i in parsed.issues]
    findings += [
        _finding("config", Severity.HYGIENE, f"dependencies options: {p}", (p,))
        for p in env.policy.problems
    ]
    pypi = [d for d in parsed.dependencies if d.ecosystem == "pypi" and d.managed and d.name]
    findings += _inconsistent_pins(pypi)
    deployed = deploys_itself(snapshot, env.conventions, env.ignored)
    findings += unbounded_findings(snapshot, pypi, deployed, _finding)
    windows = upload_windows(snapshot, parsed, env.now)
    versions = _pypi_versions(pypi, targets, parsed.install_options, env, windows)
    if env.resolver is not None:
        versions = check_findings(versions, parsed, Checker(env.resolver, targets), env.policy)
    findings += versions
    actions = [d for d in parsed.dependencies if d.ecosystem == "actions" and d.managed]
    findings += action_findings(actions, env.actions, env.policy, _finding)
    return findings


def _issue_finding(issue: ParseIssue) -> Finding:
    return _finding(
        issue.rule,
        _ISSUE_SEVERITY.get(issue.rule, Severity.HYGIENE),
        issue.message,
        (issue.file, str(issue.line), issue.message),
        path=issue.file,
        line=issue.line,
        title=f"{issue.file}: {issue.rule.replace('-', ' ')}",
    )


# --------------------------------------------------------------------------- offline checks


def _inconsistent_pins(deps: Sequence[Dependency]) -> list[Finding]:
    """The same package pinned to different versions in two files (markers aside)."""
    pins: dict[str, dict[str, list[Dependency]]] = defaultdict(lambda: defaultdict(list))
    for d in deps:
        if d.pinned and not d.markers:
            pins[d.name][d.pinned].append(d)
    out = []
    for name, versions in sorted(pins.items()):
        files = {d.file for ds in versions.values() for d in ds}
        if len(versions) < 2 or len(files) < 2:
            continue
        where = "; ".join(
            f"{v} in {', '.join(sorted({f'{d.file}:{d.line}' for d in ds}))}"
            for v, ds in sorted(versions.items())
        )
        first = min((d for ds in versions.values() for d in ds), key=lambda d: (d.file, d.line))
        out.append(
            _finding(
                "inconsistent-pins",
                Severity.DRIFT,
                f"{name} is pinned to different versions: {where}",
                (name,),
                path=first.file,
                line=first.line,
                title=f"{name} pinned to {len(versions)} different versions",
                data={"package": name, "versions": sorted(versions)},
            )
        )
    return out


# --------------------------------------------------------------------------- index + advisories


def _version(text: str | None) -> Version | None:
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _parallel(
    func: Callable[[str], Any],
    keys: Iterable[str],
    peek: Callable[[str], tuple[bool, Any]] | None = None,
) -> dict[str, Any]:
    """``func`` over ``keys`` on a few threads; a source failure becomes the value.

    Answers the client already holds (``peek``) are taken directly: starting
    threads for a warm cache would cost more than the lookups themselves.
    """

    def safe(key: str) -> Any:
        try:
            return func(key)
        except SourceUnavailable as exc:
            return exc

    done: dict[str, Any] = {}
    todo = []
    for key in dict.fromkeys(keys):
        fresh, value = peek(key) if peek is not None else (False, None)
        if fresh:
            done[key] = value
        else:
            todo.append(key)
    if len(todo) <= 1:
        return done | {k: safe(k) for k in todo}
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(todo))) as pool:
        return done | dict(zip(todo, pool.map(safe, todo), strict=True))


@dataclass(frozen=True, slots=True)
class Selection:
    """What narrows the releases proposable for one package: the Pythons it must
    install on, pip's binary options where it is declared, and inline holds."""

    targets: PythonTargets
    options: InstallOptions = field(default_factory=InstallOptions)
    holds: tuple[Hold, ...] = ()
    name: str = ""
    #: Releases must predate this (a compiled file's ``--uploaded-prior-to``), and why.
    uploaded_before: tuple[datetime, str] | None = None

    @property
    def needs_wheel(self) -> bool:
        return self.options.needs_wheel(self.name)

    def candidates(self, project: Project, current: Version) -> list[Release]:
        return candidates(
            project,
            current,
            self.targets,
            needs_wheel=self.needs_wheel,
            holds=[h for h in self.holds if h.kind == "cap"],
        )

    @property
    def ignore_hold(self) -> Hold | None:
        return next((h for h in self.holds if h.kind == "ignore"), None)

    def caps_text(self) -> str:
        caps = [h for h in self.holds if h.kind == "cap"]
        return "; ".join(h.describe() for h in caps)


def selection_for(
    name: str,
    deps: Sequence[Dependency],
    targets: PythonTargets,
    options: Mapping[str, InstallOptions],
    windows: Mapping[str, tuple[datetime, str]] | None = None,
    ranged: Sequence[Dependency] = (),
) -> Selection:
    opts = InstallOptions()
    if any(d.source == SOURCE_REQUIREMENTS for d in deps):
        # pip applies a requirements file's options to the whole install, includes too.
        for o in options.values():
            opts = opts.merged(o)
    found = [windows[d.file] for d in deps if windows and d.file in windows]
    window = min(found, key=lambda w: w[0]) if found else None
    holds = (*holds_for(deps), *_range_holds(ranged))
    return Selection(targets, opts, holds, name, window)


def _range_holds(ranged: Sequence[Dependency]) -> list[Hold]:
    """The same package declared with a range elsewhere bounds what its pins may move
    to: `django-crispy-forms<2` in a pip-compile `.in` file caps the pin in the compiled
    `.txt` (found on readthedocs.org: 2.7 was proposed, and the re-compile failed)."""
    out = []
    for d in ranged:
        try:
            SpecifierSet(d.specifier)
        except InvalidSpecifier:
            continue
        name = d.raw_name or d.name
        out.append(Hold("cap", f"{d.file}:{d.line}", f"{name}{d.specifier}", d.specifier))
    return out


def upload_windows(
    snapshot: Snapshot, parsed: ParseResult, now: datetime
) -> dict[str, tuple[datetime, str]]:
    """Files whose compile command limits releases by upload time (pip-tools'
    ``--uploaded-prior-to=P14D``, uv's ``--exclude-newer``): the compiled file and its
    inputs -> (the cutoff, the option as written). A project that waits two weeks for
    every release gets no proposal younger than that (found on readthedocs.org)."""
    out: dict[str, tuple[datetime, str]] = {}
    for path in sorted({d.file for d in parsed.dependencies if d.source == SOURCE_REQUIREMENTS}):
        raw = snapshot.read(path)
        compiled = compiled_header(path, decode_manifest(raw)[0]) if raw is not None else None
        cutoff = compiled.upload_cutoff(now) if compiled is not None else None
        if compiled is None or cutoff is None:
            continue
        window = (cutoff, f"`{path}` is compiled with `{compiled.uploaded_prior_to}`")
        for where in (path, *compiled.inputs):
            if where not in out or out[where][0] > cutoff:
                out[where] = window
    return out


def _pypi_versions(
    deps: Sequence[Dependency],
    targets: PythonTargets,
    options: Mapping[str, InstallOptions],
    env: Env,
    windows: Mapping[str, tuple[datetime, str]] | None = None,
) -> list[Finding]:
    pinned: dict[str, list[Dependency]] = defaultdict(list)
    ranged: dict[str, list[Dependency]] = defaultdict(list)
    for d in deps:
        if d.pinned and _version(d.pinned) is not None:
            pinned[d.name].append(d)
        elif not d.pinned and d.specifier and d.source == SOURCE_REQUIREMENTS:
            ranged[d.name].append(d)
    if not pinned:
        return []
    out: list[Finding] = []
    projects: dict[str, Project | Exception | None] = {}
    if env.index is not None:
        index = env.index
        projects = _parallel(index.project, sorted(pinned), getattr(index, "peek", None))
        failed = sorted(n for n, p in projects.items() if isinstance(p, Exception))
        if failed:
            reason = str(projects[failed[0]])
            out.append(
                _finding(
                    "index-unavailable",
                    Severity.HYGIENE,
                    f"The package index could not be read for {len(failed)} package(s) "
                    f"({', '.join(failed[:10])}): {reason}. Their drift was not checked.",
                    ("index",),
                    title="package index unavailable",
                    incomplete=True,
                    data={"packages": failed},
                )
            )
    advisories: dict[str, Sequence[Advisory] | Exception] = {}
    if env.advisories is not None:
        service = env.advisories
        pairs = sorted({f"{n}=={d.pinned}" for n, ds in pinned.items() for d in ds})
        advisories = _advisories(service, pairs)
        failed_adv = sorted(k for k, v in advisories.items() if isinstance(v, Exception))
        if failed_adv:
            out.append(
                _finding(
                    "advisories-unavailable",
                    Severity.HYGIENE,
                    f"The vulnerability database could not be queried for {len(failed_adv)} "
                    f"pin(s) ({', '.join(failed_adv[:10])}): {advisories[failed_adv[0]]}. "
                    "Their vulnerability status is UNKNOWN, not clean.",
                    ("advisories",),
                    title="vulnerability database unavailable",
                    incomplete=True,
                    data={"pins": failed_adv},
                )
            )
    for name, ds in sorted(pinned.items()):
        project = projects.get(name)
        project = project if isinstance(project, Project) else None
        found = {
            d.pinned: advisories.get(f"{name}=={d.pinned}")
            for d in ds
            if not isinstance(advisories.get(f"{name}=={d.pinned}"), Exception | None)
        }
        selection = selection_for(name, ds, targets, options, windows, ranged.get(name, ()))
        out += _package_findings(name, ds, project, found, selection, env)  # type: ignore[arg-type]
    return out


def _advisories(service: AdvisoryService, pairs: Sequence[str]) -> dict[str, Any]:
    """Advisories per ``name==version``; a failure becomes the value for each pin."""
    prefetch = getattr(service, "prefetch", None)
    if prefetch is not None:
        try:  # one batched pip-audit run; the per-pin lookups below then hit the memo
            prefetch([tuple(k.split("==", 1)) for k in pairs])
        except SourceUnavailable as exc:
            return dict.fromkeys(pairs, exc)  # do not hammer a service that is down
    peek = getattr(service, "peek", None)
    return _parallel(
        lambda k: service.advisories(*k.split("==", 1)),
        pairs,
        (lambda k: peek(*k.split("==", 1))) if peek is not None else None,
    )


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _release_data(project: Project | None, version: str | None) -> dict[str, Any]:
    release = project.releases.get(version) if (project and version) else None
    return {
        "released": _iso(release.upload_time) if release else None,
        "requires_python": release.requires_python if release else None,
        "hashes": list(release.hashes) if release else [],
    }


def _package_findings(
    name: str,
    deps: Sequence[Dependency],
    project: Project | None,
    advisories: Mapping[str, Sequence[Advisory]],
    selection: Selection,
    env: Env,
) -> list[Finding]:
    out: list[Finding] = []
    lowest = min((d.pinned for d in deps if d.pinned), key=lambda v: Version(v))
    first = min((d for d in deps if d.pinned == lowest), key=lambda d: (d.file, d.line))
    current = Version(lowest)
    development = all(d.development for d in deps)
    base = {
        "ecosystem": "pypi",
        "package": name,
        "from": lowest,
        "froms": sorted({d.pinned for d in deps if d.pinned}, key=Version),
        "development": development,
        "urls": dict(project.project_urls) if project else {},
        "from_release": _release_data(project, lowest),
        "python": [str(v) for v in selection.targets.checked],
    }
    if selection.holds:
        base["holds"] = [
            {"kind": h.kind, "spec": h.spec, "where": h.where, "comment": h.comment}
            for h in selection.holds
        ]
    if project is not None:
        # One finding per yanked version (its fingerprint), at its first place.
        for version in base["froms"]:
            rel = project.releases.get(version)
            if rel is not None and rel.yanked:
                where = min(
                    (d for d in deps if d.pinned == version), key=lambda d: (d.file, d.line)
                )
                out.append(_yanked(name, where, rel))
    vulns = [a for v in base["froms"] for a in advisories.get(v, ())]
    if vulns:
        out.append(_vulnerable(name, first, base, vulns, project, current, selection))
    ignored = env.policy.ignored_entirely(name) or selection.ignore_hold is not None
    if project is not None and not ignored:
        drift = _outdated(name, first, base, project, current, selection, env)
        if drift is not None:
            out.append(drift)
    return out


def _yanked(name: str, d: Dependency, rel: Release) -> Finding:
    why = f" (reason given: {rel.yanked_reason[:120]})" if rel.yanked_reason else ""
    return _finding(
        "yanked-pin",
        Severity.BROKEN_BUILD,
        f"{d.file}:{d.line} pins {name}=={d.pinned}, a release its maintainers yanked{why}. "
        "Installers skip yanked releases unless pinned exactly; move off it.",
        (name, d.pinned or ""),
        path=d.file,
        line=d.line,
        title=f"{name} {d.pinned} was yanked",
        data={"package": name, "version": d.pinned},
    )


def _advisory_json(a: Advisory) -> dict[str, Any]:
    return {
        "id": a.id,
        "aliases": list(a.aliases),
        "summary": a.summary,
        "severity": a.severity,
        "fixed": list(a.fixed_versions),
    }


def _vulnerable(
    name: str,
    first: Dependency,
    base: Mapping[str, Any],
    vulns: Sequence[Advisory],
    project: Project | None,
    current: Version,
    selection: Selection,
) -> Finding:
    unique = {a.id: a for a in vulns}
    target = None
    fix_note = "; no fixed release is known yet"
    if project is not None:
        # The smallest upgrade that no known advisory affects: least change to review.
        def fixed(releases: Sequence[Release]) -> str | None:
            return next(
                (
                    r.version
                    for r in releases
                    if not any(a.affects(r.version) for a in unique.values())
                ),
                None,
            )

        target = fixed(selection.candidates(project, current))
        unheld = fixed(candidates(project, current, selection.targets)) if target is None else None
        if target is not None:
            fix_note = f"; {target} fixes all of them"
        elif unheld is not None and selection.holds:
            hold = selection.ignore_hold or next(iter(selection.holds))
            fix_note = (
                f"; {unheld} fixes them, but {hold.describe()} holds {name} back, so no "
                "update is proposed: lift the hold to take the fix"
            )
        elif unheld is not None:
            fix_note = f"; {unheld} fixes them but has no wheel (`--only-binary`)"
        if selection.ignore_hold is not None and target is not None:
            target = None
            fix_note = (
                f"; the fixed release is not proposed: {selection.ignore_hold.describe()} "
                f"says to leave {name} alone"
            )
    ids = sorted(unique)
    data = {
        **base,
        "security": True,
        "target": target,
        "update_type": update_type(current, Version(target)) if target else None,
        "advisories": [_advisory_json(unique[i]) for i in ids],
        "to_release": _release_data(project, target),
    }
    return _finding(
        "vulnerable",
        Severity.VULNERABILITY,
        f"{name}=={base['from']} has {len(ids)} known "
        f"vulnerabilit{'y' if len(ids) == 1 else 'ies'} ({', '.join(ids[:8])}){fix_note}.",
        (name, str(base["from"]), *ids),
        path=first.file,
        line=first.line,
        title=f"{name} {base['from']} is vulnerable",
        data=data,
    )


def _outdated(
    name: str,
    first: Dependency,
    base: Mapping[str, Any],
    project: Project,
    current: Version,
    selection: Selection,
    env: Env,
) -> Finding | None:
    newer = selection.candidates(project, current)
    if not newer:
        return None
    latest = newer[-1]
    cutoff = env.now - timedelta(days=env.policy.cooldown_days)
    window = selection.uploaded_before
    if window is not None and window[0] < cutoff:
        cutoff = window[0]
    allowed = [
        r
        for r in newer
        if not env.policy.ignored(
            name, Version(r.version), update_type(current, Version(r.version))
        )
    ]
    settled = [r for r in allowed if r.upload_time is None or r.upload_time <= cutoff]
    if selection.options.prefer_binary and any(has_wheel(r) for r in settled):
        # pip's --prefer-binary: an older release with a wheel beats a newer sdist-only one
        settled = [r for r in settled if has_wheel(r)]
    target = settled[-1] if settled else None
    held = ""
    if window is not None and window[0] == cutoff and allowed and target != allowed[-1]:
        held = f" {window[1][:200]}: only releases uploaded before {cutoff:%Y-%m-%d} are proposed."
        if target is None:
            held += " None is newer than the pin yet."
    elif target is None and allowed:
        ready = allowed[0].upload_time + timedelta(days=env.policy.cooldown_days)  # type: ignore[operator]
        held = (
            f" Waiting for the {env.policy.cooldown_days:g}-day cooldown (until {ready:%Y-%m-%d})."
        )
    elif target is None:
        held = " Every newer release is ignored by the configuration."
    elif target.version != latest.version:
        held = f" Proposing {target.version}: newer releases are in cooldown or ignored."
    if selection.caps_text():
        held += f" Held inside {selection.caps_text()}."
    kind = update_type(current, Version(latest.version))
    data = {
        **base,
        "latest": latest.version,
        "target": target.version if target else None,
        "update_type": update_type(current, Version(target.version)) if target else None,
        "to_release": _release_data(project, target.version if target else None),
        "behind": len(newer),
    }
    return _finding(
        "outdated",
        Severity.DRIFT,
        f"{name} is pinned to {base['from']}; {latest.version} is the newest release that "
        f"installs on {selection.targets.describe()} ({kind} update, {len(newer)} release(s) "
        f"behind).{held}",
        (name,),
        path=first.file,
        line=first.line,
        title=f"{name} {base['from']} -> {latest.version}",
        data=data,
    )
