"""Patches: minimal, format-preserving version edits grouped into few PRs.

Only the version bytes change (plus ``--hash`` values and the ``# vX.Y.Z``
comment of a SHA-pinned action, when those must follow). Every edited file is
parsed again and the edit is dropped, with a note, unless the parser now reads
exactly the intended version at exactly the edited places.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from packaging.version import InvalidVersion, Version

from fixers.contract import Context, Explanation, FileEdit, Finding, Patch, Severity, Snapshot
from fixers.dependencies.buckets import drift_buckets
from fixers.dependencies.conventions import Conventions, load_conventions
from fixers.dependencies.detect import targets_of
from fixers.dependencies.explain import Change, explain_action, explain_pypi
from fixers.dependencies.families import Family, family_of
from fixers.dependencies.gate import Locking, NoPr, annotate, memo_resolver, unverified
from fixers.dependencies.inventory import parse_snapshot
from fixers.dependencies.lockvulns import lock_only_patches
from fixers.dependencies.manifests import parse_pipfile, parse_pyproject, parse_setup_cfg
from fixers.dependencies.model import (
    SOURCE_PIPFILE,
    SOURCE_REQUIREMENTS,
    SOURCE_SETUP_CFG,
    SOURCE_WORKFLOW,
    Dependency,
    ParseResult,
    Span,
    decode_manifest,
    encode_manifest,
)
from fixers.dependencies.policy import Policy, policy_from_options
from fixers.dependencies.ranges import bound_span, lower_bound_of
from fixers.dependencies.requirements import parse_requirements_text
from fixers.dependencies.textedit import Replacement, apply, hash_replacement
from fixers.dependencies.workflows import is_sha, parse_workflow

FIXER = "dependencies"
#: Rules whose patches edit Python manifests (and so may imply locks and resolutions).
_LOCKED_RULES = ("outdated", "vulnerable", "vulnerable-range")
_PY_MARKER = re.compile(r"python_(full_)?version")
_REF_COMMENT = re.compile(r"#\s*v?\d[\w.+-]*")


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _key(prefix: str, name: str) -> str:
    return prefix + "-" + re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-")


# --------------------------------------------------------------------------- text edits


def reparse(path: str, text: str, source: str, conv: Conventions) -> list[Dependency]:
    if source == SOURCE_REQUIREMENTS:
        return parse_requirements_text(path, text, conv).dependencies
    if source == SOURCE_WORKFLOW:
        return parse_workflow(path, text).dependencies
    if source == SOURCE_SETUP_CFG:
        return parse_setup_cfg(path, text, conv).dependencies
    if source == SOURCE_PIPFILE:
        return parse_pipfile(path, text, conv).dependencies
    return parse_pyproject(path, text, conv).dependencies


# --------------------------------------------------------------------------- pypi plans


@dataclass(slots=True)
class Plan:
    """One package to move to ``target`` in one patch."""

    name: str
    target: str
    data: Mapping[str, Any]
    hashes: tuple[str, ...] = ()
    files: set[str] = field(default_factory=set)
    left_alone: list[str] = field(default_factory=list)
    hashes_updated: bool = False
    #: Files where the line pins ``--hash`` values and the index gave none for ``target``.
    hashless: set[str] = field(default_factory=set)
    old: str = ""


def _pypi_edits(
    snapshot: Snapshot, parsed: ParseResult, plans: Sequence[Plan], conv: Conventions
) -> tuple[FileEdit, ...]:
    per_file: dict[str, list[tuple[Dependency, Plan, int]]] = defaultdict(list)
    by_name = {p.name: p for p in plans}
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for d in sorted(parsed.dependencies, key=_order):
        # The n-th declaration of this name in this file: stable when an edit
        # shifts line numbers (a different count of ``--hash`` lines).
        ordinal = seen[(d.file, d.name)]
        seen[(d.file, d.name)] += 1
        plan = by_name.get(d.name)
        if plan is None or d.ecosystem != "pypi" or not d.managed or not d.pinned:
            continue
        current, target = _version(d.pinned), _version(plan.target)
        if current is None or target is None or current >= target:
            continue
        if d.markers and _PY_MARKER.search(d.markers):
            plan.left_alone.append(
                f"`{d.file}` line {d.line} (pinned for specific Python versions: `{d.markers}`)"
            )
            continue
        if d.span is None:
            plan.left_alone.append(f"`{d.file}` line {d.line} (cannot be edited in place)")
            continue
        per_file[d.file].append((d, plan, ordinal))
    edits = []
    for path, items in sorted(per_file.items()):
        edit = _edit_file(snapshot, path, items, conv)
        if edit is not None:
            edits.append(edit)
    return tuple(edits)


def _order(d: Dependency) -> tuple[str, int, str]:
    return (d.file, d.line, d.name)


def _edit_file(
    snapshot: Snapshot,
    path: str,
    items: Sequence[tuple[Dependency, Plan, int]],
    conv: Conventions,
) -> FileEdit | None:
    raw = snapshot.read(path)
    if raw is None:
        return None
    text, codec = decode_manifest(raw)
    reps: list[Replacement] = []
    for d, plan, _n in items:
        assert d.span is not None
        reps.append(Replacement(d.span.start, d.span.end, plan.target))
        if d.hashes:
            rep = hash_replacement(text, d.line, plan.hashes)
            if rep is None:
                plan.hashless.add(path)
            else:
                reps.append(rep)
                plan.hashes_updated = True
    try:
        new_text = apply(text, reps)
    except ValueError:
        for _d, plan, _n in items:
            plan.left_alone.append(f"`{path}` (overlapping edits)")
        return None
    if not _verified(path, new_text, items, conv):
        for d, plan, _n in items:
            plan.left_alone.append(f"`{path}` line {d.line} (edit did not re-parse as intended)")
        return None
    for d, plan, _n in items:
        plan.files.add(path)
        plan.old = plan.old or d.pinned or ""
    return FileEdit(path, "modify", encode_manifest(new_text, codec))


def _verified(
    path: str, new_text: str, items: Sequence[tuple[Dependency, Plan, int]], conv: Conventions
) -> bool:
    after: dict[str, list[Dependency]] = defaultdict(list)
    for d in sorted(reparse(path, new_text, items[0][0].source, conv), key=_order):
        after[d.name].append(d)
    return all(
        n < len(after[d.name]) and after[d.name][n].pinned == plan.target for d, plan, n in items
    )


def _plan(finding: Finding) -> Plan | None:
    data = finding.data
    target = data.get("target")
    if not target or data.get("ecosystem") != "pypi":
        return None
    hashes = tuple((data.get("to_release") or {}).get("hashes") or ())
    return Plan(name=str(data["package"]), target=str(target), data=data, hashes=hashes)


def _co_movers(finding: Finding, taken: set[str]) -> list[Plan]:
    """Plans for the packages the resolver found must move with ``finding``'s package."""
    moves = (finding.data.get("install") or {}).get("with") or {}
    out = []
    for name, version in sorted(moves.items()):
        if name in taken:
            continue
        taken.add(name)
        data = {
            "ecosystem": "pypi",
            "package": name,
            "moved_with": finding.data.get("package"),
            "update_type": None,
        }
        out.append(Plan(name=name, target=str(version), data=data))
    return out


def _change(plan: Plan) -> Change:
    return Change(
        package=plan.name,
        old=plan.old or str(plan.data.get("from")),
        new=plan.target,
        data=plan.data,
        files=tuple(sorted(plan.files)),
        hashes_updated=plan.hashes_updated,
        left_alone=tuple(plan.left_alone),
    )


# --------------------------------------------------------------------------- entry point


def fix(snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
    return list(_planned(snapshot, findings, ctx)[0])


def explain_withheld(
    snapshot: Snapshot, findings: Sequence[Finding], ctx: Context
) -> list[Finding]:
    """``findings`` with those whose patch would be withheld saying why (see ``gate``)."""
    if not any(f.rule in _LOCKED_RULES and f.data.get("target") for f in findings):
        return list(findings)  # only actions (or nothing) to patch: no lock, no resolver
    patches, withheld = _planned(snapshot, findings, ctx)
    opened = {fp for p in patches for fp in p.fingerprints}
    return annotate(findings, {fp: w for fp, w in withheld.items() if fp not in opened})


def _planned(
    snapshot: Snapshot, findings: Sequence[Finding], ctx: Context
) -> tuple[list[Patch], dict[str, NoPr]]:
    """:func:`plan_patches`, once per snapshot, context and findings: ``detect`` plans
    to say why a patch is withheld, and ``fix`` then gets the very same findings (their
    ``no_pr`` notes aside, which planning never reads)."""
    memo = getattr(snapshot, "memo", None)
    if memo is None:
        return plan_patches(snapshot, findings, ctx)
    key = ("dependencies", "plan", _findings_key(findings))
    # The context is kept with the plan and compared by identity: another context (other
    # options) on the same snapshot plans afresh.
    plans: list[tuple[Context, tuple[list[Patch], dict[str, NoPr]]]] = memo(key, list)
    for seen, planned in plans:
        if seen is ctx:
            return planned
    planned = plan_patches(snapshot, findings, ctx)
    plans.append((ctx, planned))
    return planned


def _findings_key(findings: Sequence[Finding]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (
            f.fingerprint,
            json.dumps(
                {k: v for k, v in f.data.items() if k != "no_pr"}, sort_keys=True, default=str
            ),
        )
        for f in findings
        if f.fixer == FIXER
    )


def plan_patches(
    snapshot: Snapshot, findings: Sequence[Finding], ctx: Context
) -> tuple[list[Patch], dict[str, NoPr]]:
    """The patches to open, and per fingerprint why a patch was withheld."""
    policy = policy_from_options(ctx.options)
    conv = load_conventions()
    parsed = parse_snapshot(snapshot, conv, ctx.ignored)
    mine = [f for f in findings if f.fixer == FIXER]
    locking = Locking(
        memo_resolver(snapshot, getattr(ctx.services, "resolver", None)),
        targets_of(snapshot, parsed, ctx.ignored),
        ctx.services.clock(),
    )
    patches = _security_patches(snapshot, parsed, mine, policy, conv, locking)
    # A withheld security fix still keeps drift of the same package out (it is the
    # same change, and it was not verified).
    secured = {p.key for p in patches} | {
        _key("pip", str(f.data.get("package")))
        for f in mine
        if f.rule == "vulnerable" and f.fingerprint in locking.withheld
    }
    patches += _drift_patches(snapshot, parsed, mine, policy, conv, secured, locking)
    patches += lock_only_patches(snapshot, mine, conv, locking.resolver)
    patches += _range_patches(snapshot, parsed, mine, conv, locking)
    patches += _action_patches(snapshot, parsed, mine, conv)
    return patches, dict(locking.withheld)


def _changes(plans: Sequence[Plan]) -> dict[str, str]:
    return {p.name: p.target for p in plans if p.files}


def _hashless(plans: Sequence[Plan]) -> list[tuple[str, str, str]]:
    """(file, package, version) of hash-pinned lines left with their old hashes."""
    return [(path, p.name, p.target) for p in plans for path in sorted(p.hashless)]


def _related(findings: Sequence[Finding], name: str, rules: Sequence[str]) -> list[str]:
    return [f.fingerprint for f in findings if f.rule in rules and f.data.get("package") == name]


def _security_patches(
    snapshot: Snapshot,
    parsed: ParseResult,
    findings: Sequence[Finding],
    policy: Policy,
    conv: Conventions,
    locking: Locking,
) -> list[Patch]:
    out = []
    for f in findings:
        if f.rule != "vulnerable" or (plan := _plan(f)) is None:
            continue
        if policy.ignored_entirely(plan.name):
            continue
        fingerprints = (
            f.fingerprint,
            *_related(findings, plan.name, ("yanked-pin", "inconsistent-pins")),
            *[
                o.fingerprint
                for o in findings
                if o.rule == "outdated"
                and o.data.get("package") == plan.name
                and o.data.get("latest") == plan.target
            ],
        )
        if (why := unverified(snapshot, f, locking.resolver)) is not None:
            locking.withhold(fingerprints, why)
            continue
        plans = [plan, *_co_movers(f, {plan.name})]
        edits = _pypi_edits(snapshot, parsed, plans, conv)
        if not edits:
            continue
        n = len(f.data.get("advisories") or [])
        change = _change(plan)
        changes = [change, *(_change(p) for p in plans[1:] if p.files)]
        done = locking.finish(
            snapshot,
            parsed,
            edits,
            _changes(plans),
            explain_pypi(changes, conv, security=True),
            hashless=_hashless(plans),
        )
        if isinstance(done, NoPr):
            locking.withhold(fingerprints, done)
            continue
        out.append(
            Patch(
                fixer=FIXER,
                key=_key("pip", plan.name),  # same key as drift: the PR is updated, not doubled
                title=f"Fix {n} vulnerabilit{'y' if n == 1 else 'ies'} in {plan.name}: "
                f"{change.old} → {plan.target}",
                edits=done[0],
                explanation=done[1],
                severity=Severity.VULNERABILITY,
                fingerprints=fingerprints,
                labels=("dependencies", "security"),
                bypass_limit=True,
            )
        )
    return out


def _drift_patches(
    snapshot: Snapshot,
    parsed: ParseResult,
    findings: Sequence[Finding],
    policy: Policy,
    conv: Conventions,
    secured: set[str],
    locking: Locking,
) -> list[Patch]:
    items: list[tuple[Plan, Finding]] = []
    for f in findings:
        if f.rule != "outdated" or (plan := _plan(f)) is None:
            continue
        if _key("pip", plan.name) in secured:
            continue
        items.append((plan, f))
    keys = drift_buckets([(p.name, f) for p, f in items], policy)
    buckets: dict[str, tuple[str | None, Family | None, list[tuple[Plan, Finding]]]] = {}
    for plan, f in items:
        key, group_name, family = keys[plan.name]
        buckets.setdefault(key, (group_name, family, []))[2].append((plan, f))
    out = []
    for key, (group_name, family, whole) in sorted(buckets.items()):
        # A change the resolver could not check stays out of the PR (report-only,
        # saying why); the rest of its group still goes ahead.
        bucket = []
        for plan, f in whole:
            if (why := unverified(snapshot, f, locking.resolver)) is not None:
                locking.withhold([f.fingerprint], why)
            else:
                bucket.append((plan, f))
        plans = [p for p, _f in bucket]
        taken = {p.name for p in plans}
        plans += [c for _p, f in bucket for c in _co_movers(f, taken)]
        edits = _pypi_edits(snapshot, parsed, plans, conv)
        done = [(p, f) for p, f in bucket if p.files]
        if not edits or not done:
            continue
        changes = [_change(p) for p, _f in done]
        changes += [_change(p) for p in plans[len(bucket) :] if p.files]
        fps = [f.fingerprint for _p, f in done]
        for p, _f in done:
            fps += _related(findings, p.name, ("yanked-pin", "inconsistent-pins"))
        if group_name is None and len(changes) > 1:
            c = changes[0]
            others = ", ".join(o.package for o in changes[1:])
            title = f"Bump {c.package} from {c.old} to {c.new} (with {others})"
        elif group_name is None:
            c = changes[0]
            title = f"Bump {c.package} from {c.old} to {c.new}"
        else:
            n = len(changes)
            title = f"Update the {group_name} group ({n} package{'s' if n > 1 else ''})"
        yanked = any(f.rule == "yanked-pin" for f in findings if f.fingerprint in fps)
        explanation = explain_pypi(changes, conv, security=False)
        if family is not None:
            explanation = _with_family_note(explanation, family)
        done_locks = locking.finish(
            snapshot, parsed, edits, _changes(plans), explanation, hashless=_hashless(plans)
        )
        if isinstance(done_locks, NoPr):
            locking.withhold(fps, done_locks)
            continue
        out.append(
            Patch(
                fixer=FIXER,
                key=key,
                title=title,
                edits=done_locks[0],
                explanation=done_locks[1],
                severity=Severity.BROKEN_BUILD if yanked else Severity.DRIFT,
                fingerprints=tuple(dict.fromkeys(fps)),
                labels=("dependencies",),
            )
        )
    return out


def _with_family_note(explanation: Explanation, family: Family) -> Explanation:
    note = f"These packages move together: {family.why}"
    if family.source:
        note += f" ([source]({family.source}))"
    return replace(explanation, why=explanation.why + "\n\n" + note)


def _range_patches(
    snapshot: Snapshot,
    parsed: ParseResult,
    findings: Sequence[Finding],
    conv: Conventions,
    locking: Locking,
) -> list[Patch]:
    """Raise vulnerable lower bounds (``range-strategy: increase-if-necessary``)."""
    out = []
    for f in findings:
        data = f.data
        if f.rule != "vulnerable-range" or not data.get("target") or not data.get("lines"):
            continue
        name, old, new = str(data["package"]), str(data["from"]), str(data["target"])
        wanted = {tuple(x) for x in data["lines"]}
        plan = Plan(name=name, target=new, data=data, old=old)
        edits = []
        for path in sorted({p for p, _l in wanted}):
            raw = snapshot.read(path)
            deps = [d for d in parsed.dependencies if d.file == path and (d.file, d.line) in wanted]
            if raw is None or not deps:
                continue
            text, codec = decode_manifest(raw)
            reps = []
            for d in deps:
                low = lower_bound_of(d)
                span = bound_span(text, d, low.lower) if low else None
                if span is not None:
                    reps.append(Replacement(span.start, span.end, new))
            if not reps:
                continue
            new_text = apply(text, reps)
            after = [
                lower_bound_of(d)
                for d in reparse(path, new_text, deps[0].source, conv)
                if d.name == name
            ]
            if all(a is not None and a.lower == new for a in after) and after:
                edits.append(FileEdit(path, "modify", encode_manifest(new_text, codec)))
                plan.files.add(path)
        if not edits:
            continue
        change = _change(plan)
        explanation = explain_pypi([change], conv, security=True)
        note = (
            f"\n\nThe declared range's lower bound moves from {old} to {new}, so no install "
            "can pick a vulnerable release; its upper bound, if any, is kept "
            "(`range-strategy: increase-if-necessary`)."
        )
        explanation = replace(explanation, changes=explanation.changes + note)
        done = locking.finish(snapshot, parsed, tuple(edits), _changes([plan]), explanation)
        if isinstance(done, NoPr):
            locking.withhold([f.fingerprint], done)
            continue
        all_edits, explanation = done
        n = len(data.get("advisories") or [])
        out.append(
            Patch(
                fixer=FIXER,
                key=_key("range", name),
                title=f"Raise {name}'s lower bound to {new} ({n} "
                f"vulnerabilit{'y' if n == 1 else 'ies'} in {old})",
                edits=all_edits,
                explanation=explanation,
                severity=Severity.VULNERABILITY,
                fingerprints=(f.fingerprint,),
                labels=("dependencies", "security"),
                bypass_limit=True,
            )
        )
    return out


# --------------------------------------------------------------------------- actions


def _action_patches(
    snapshot: Snapshot, parsed: ParseResult, findings: Sequence[Finding], conv: Conventions
) -> list[Patch]:
    by_action: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.rule in ("action-outdated-major", "action-mutable-tag"):
            by_action[str(f.data.get("package"))].append(f)
    # Families (upload-artifact + download-artifact) share one patch when both move.
    bundles: dict[str, list[str]] = defaultdict(list)
    for action in sorted(by_action):
        family = family_of(action, "actions")
        bundles[family.key if family else action].append(action)
    out = []
    for bundle, actions in sorted(bundles.items()):
        if len(actions) > 1:
            patch = _family_action_patch(snapshot, parsed, bundle, actions, by_action)
        else:
            patch = _action_patch(snapshot, parsed, actions[0], by_action[actions[0]], conv)
        if patch is not None:
            out.append(patch)
    return out


def _new_ref(d: Dependency, data: Mapping[str, Any], major: bool) -> tuple[str, str | None] | None:
    """(new ref, tag for the ``# vX.Y.Z`` comment or None)."""
    tags = {t: s for t, s in data.get("tags") or []}
    want_sha = data.get("pin") == "sha" or is_sha(d.pinned or "")
    if major:
        tag = str(data.get("target_tag") or "")
        if not tag:
            return None
        if not want_sha:
            latest_major = tag.lstrip("v").split(".")[0]
            short = (data.get("major_tags") or {}).get(latest_major)
            # keep the user's style: ``v3`` becomes ``v4``, ``v3.1.0`` the newest full tag
            if short and re.fullmatch(r"v?\d+", d.pinned or ""):
                return short, None
            return tag, None
        sha = tags.get(tag) or data.get("target_sha")
        return (str(sha), tag) if sha else None
    # not outdated, only mutable: pin the very same version to its commit
    ref = d.pinned or ""
    if is_sha(ref) or ref not in tags:
        return None  # a branch or unknown tag: no version to pin to; say so instead
    sha = tags[ref]
    same = [t for t, s in tags.items() if s == sha]
    comment = max(same, key=lambda t: (t.count("."), t))
    return sha, comment


@dataclass(slots=True)
class _ActionEdit:
    """The ref replacements one action needs, per file, and what they change."""

    per_file: dict[str, list[tuple[Dependency, str, str | None]]]
    major: bool


def _action_edits(parsed: ParseResult, action: str, fs: Sequence[Finding]) -> _ActionEdit:
    data = fs[0].data
    major_lines = {
        tuple(x) for f in fs if f.rule == "action-outdated-major" for x in f.data["lines"]
    }
    targets = {tuple(x) for f in fs for x in f.data.get("lines") or []}
    per_file: dict[str, list[tuple[Dependency, str, str | None]]] = defaultdict(list)
    for d in parsed.dependencies:
        if d.ecosystem != "actions" or d.name != action or (d.file, d.line) not in targets:
            continue
        new = _new_ref(d, data, (d.file, d.line) in major_lines)
        if new is not None and d.span is not None and new[0] != d.pinned:
            per_file[d.file].append((d, *new))
    return _ActionEdit(dict(per_file), bool(major_lines))


def _major_of(ref: str | None) -> int | None:
    m = re.match(r"v?(\d+)", ref or "")
    return int(m.group(1)) if m else None


def _crosses_artifact_v4(items: Sequence[tuple[Dependency, str, str | None]]) -> bool:
    """Does this edit move ``upload-artifact`` from v1-v3 to v4 or later?"""
    for d, ref, comment in items:
        if d.name != "actions/upload-artifact":
            continue
        old, new = _major_of(d.ref_comment or d.pinned), _major_of(comment or ref)
        if old is not None and new is not None and old < 4 <= new:
            return True
    return False


def _unique_artifact_names(path: str, text: str) -> tuple[str, tuple[str, ...]]:
    """v4 refuses two uploads of one name in a run: matrix jobs' names made unique (the
    workflow fixers' edit), or the text unchanged."""
    from fixers.production.workflow_edits import unique_artifact_names
    from fixers.production.workflows import WorkflowError, load_workflow

    try:
        edit = unique_artifact_names(load_workflow(path, text.encode("utf-8")))
    except (WorkflowError, ValueError):
        return text, ()
    return (edit.text, edit.changes) if edit is not None else (text, ())


def _apply_action_edits(
    snapshot: Snapshot,
    per_file: Mapping[str, list[tuple[Dependency, str, str | None]]],
    notes: list[str] | None = None,
) -> tuple[list[FileEdit], set[str], set[tuple[str, str | None]]]:
    """Apply every file's ref replacements; a file whose edit does not re-parse as intended
    is left out. ``notes`` collects edits made beside the refs (artifact names for v4)."""
    edits, old_refs, new_refs = [], set(), set()
    for path, items in sorted(per_file.items()):
        raw = snapshot.read(path)
        if raw is None:
            continue
        text, codec = decode_manifest(raw)
        reps = []
        for d, ref, comment in items:
            assert d.span is not None
            reps.append(Replacement(d.span.start, d.span.end, ref))
            reps += _comment_edit(text, d.span, comment)
        new_text = apply(text, reps)
        after = {(x.name, x.line): x.pinned for x in parse_workflow(path, new_text).dependencies}
        if all(after.get((d.name, d.line)) == ref for d, ref, _c in items):
            if _crosses_artifact_v4(items) and codec == "utf-8":
                renamed, changes = _unique_artifact_names(path, new_text)
                refs = {(x.name, x.pinned) for x in parse_workflow(path, renamed).dependencies}
                if changes and all((d.name, ref) in refs for d, ref, _c in items):
                    new_text = renamed
                    if notes is not None:
                        notes += [f"`{path}`: {c}" for c in changes]
            edits.append(FileEdit(path, "modify", encode_manifest(new_text, codec)))
            for d, ref, comment in items:
                old_refs.add(d.ref_comment or d.pinned or "")
                new_refs.add((ref, comment))
    return edits, old_refs, new_refs


def _action_patch(
    snapshot: Snapshot, parsed: ParseResult, action: str, fs: Sequence[Finding], conv: Conventions
) -> Patch | None:
    planned = _action_edits(parsed, action, fs)
    notes: list[str] = []
    edits, old_refs, new_refs = _apply_action_edits(snapshot, planned.per_file, notes)
    if not edits:
        return None
    ref, tag = sorted(new_refs)[-1]
    major = planned.major
    explanation = explain_action(
        action,
        sorted(old_refs),
        ref,
        tag,
        [e.path for e in edits],
        major=major,
        sha=tag is not None,
    )
    explanation = _with_artifact_notes(explanation, notes)
    return Patch(
        fixer=FIXER,
        key=_key("action", action.replace("/", "-")),
        title=f"Update {action} to {tag or ref}" if major else f"Pin {action} to a commit SHA",
        edits=tuple(edits),
        explanation=explanation,
        severity=Severity.DRIFT if major else Severity.HYGIENE,
        fingerprints=tuple(f.fingerprint for f in fs),
        labels=("dependencies", "github-actions"),
    )


def _family_action_patch(
    snapshot: Snapshot,
    parsed: ParseResult,
    key: str,
    actions: Sequence[str],
    by_action: Mapping[str, Sequence[Finding]],
) -> Patch | None:
    """One patch for every action of a family (edits to a shared file are merged)."""
    family = family_of(actions[0], "actions")
    assert family is not None
    merged: dict[str, list[tuple[Dependency, str, str | None]]] = defaultdict(list)
    majors = False
    for action in actions:
        planned = _action_edits(parsed, action, by_action[action])
        majors = majors or planned.major
        for path, items in planned.per_file.items():
            merged[path] += items
    notes: list[str] = []
    edits, old_refs, new_refs = _apply_action_edits(snapshot, merged, notes)
    if not edits:
        return None
    targets = sorted({tag or ref for ref, tag in new_refs})
    explanation = explain_action(
        " and ".join(actions),
        sorted(old_refs),
        ", ".join(targets),
        None,
        [e.path for e in edits],
        major=majors,
        sha=any(tag is not None for _r, tag in new_refs),
    )
    explanation = _with_artifact_notes(_with_family_note(explanation, family), notes)
    return Patch(
        fixer=FIXER,
        key=key,
        title=f"Update {' and '.join(actions)} to {targets[-1]}"
        if majors
        else f"Pin {' and '.join(actions)} to commit SHAs",
        edits=tuple(edits),
        explanation=explanation,
        severity=Severity.DRIFT if majors else Severity.HYGIENE,
        fingerprints=tuple(f.fingerprint for a in actions for f in by_action[a]),
        labels=("dependencies", "github-actions"),
    )


def _with_artifact_notes(explanation: Explanation, notes: Sequence[str]) -> Explanation:
    if not notes:
        return explanation
    text = (
        "`upload-artifact` v4 refuses a second upload with the same name in one run, so each "
        "matrix job now names its own artifact and downloads collect them:\n"
        + "\n".join(f"- {n}" for n in notes)
    )
    return replace(explanation, changes=explanation.changes + "\n\n" + text)


def _comment_edit(text: str, span: Span, tag: str | None) -> list[Replacement]:
    """Set or drop the ``# vX.Y.Z`` comment after a ref on its line."""
    eol = text.find("\n", span.end)
    eol = len(text) if eol < 0 else eol
    rest = text[span.end : eol]
    m = _REF_COMMENT.search(rest)
    if tag is None:
        if m is None:
            return []
        # the ref is a tag again: a stale version comment would lie
        start = span.end + len(rest[: m.start()].rstrip(" \t"))
        return [Replacement(start, span.end + m.end(), "")]
    if m is not None:
        return [Replacement(span.end + m.start(), span.end + m.end(), f"# {tag}")]
    return [Replacement(span.end, span.end, f" # {tag}")]
