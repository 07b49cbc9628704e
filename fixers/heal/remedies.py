"""From a diagnosis to the patch that heals it, made by the fixer that owns the file.

* actions turned off or on a retired runtime, pip-audit advisories, retired runners:
  the owning fixer's own detect + fix (``dependencies``, ``runtime-drift``) on the
  failing commit, keeping only its findings about what failed. The patch is that
  fixer's patch with its branch key, so a pending PR of that fixer is updated rather
  than doubled;
* everything the owning fixers do not propose on their own (a missing distribution, a
  pin to a release that does not exist, ``::set-output``, a Python the image lacks, a
  job on the externally-managed system Python, duplicate artifact names): the owning
  fixer's public edit functions (:mod:`fixers.dependencies.add`,
  :mod:`fixers.production.workflow_edits`) on a ``patchwell/heal/<cause>`` branch.

A remedy that cannot be made safely returns no patch and says why (``reason``): that is
recorded, never posted. Only the ``report`` remedy (pip's ResolutionImpossible) has
something to tell without a change.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from packaging.version import InvalidVersion, Version

from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    Patch,
    Services,
    Severity,
    Snapshot,
    fingerprint,
)
from fixers.heal.modules import ModuleTable, default_modules, is_own_module
from fixers.heal.signatures import Diagnosis
from fixers.repo_config import RepoConfig

__all__ = ["HEAL_FIXER", "HealInput", "Remedy", "remedy"]

HEAL_FIXER = "heal"
_PIP_AUDIT_ROW = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s+(?P<version>\S+)\s+(?P<id>(?:PYSEC|GHSA|CVE|OSV)-\S+)"
    r"(?:\s+(?P<fix>[0-9][^\s,]*))?"
)
_REQ_INSTALL = re.compile(r"(?:-r|--requirement)[ =]+(?P<path>[^\s;&|]+)")


@dataclass(frozen=True)
class HealInput:
    """What a remedy works from: the failing commit and the job that failed."""

    snapshot: Snapshot
    config: RepoConfig
    services: Services
    workflow_path: str | None = None
    job_name: str | None = None
    today: date = field(default_factory=date.today)
    modules: ModuleTable | None = None


@dataclass(frozen=True)
class Remedy:
    diagnosis: Diagnosis
    patches: tuple[Patch, ...] = ()
    report: str | None = None
    reason: str | None = None
    #: per patch: the fixer whose code made it
    owner: str = ""

    @property
    def heals(self) -> bool:
        return bool(self.patches)


def _nothing(d: Diagnosis, reason: str) -> Remedy:
    return Remedy(d, reason=reason)


def _ctx(inp: HealInput, fixer: str, services: Services | None = None) -> Context | None:
    if inp.config.mode_for(fixer) != "fix":
        return None  # the project turned that fixer off or to report-only: no PR from us
    return inp.config.context_for(fixer, services or inp.services)


def _heal_patch(
    d: Diagnosis, key: str, title: str, edits: Sequence[FileEdit], changes: str, verify: str
) -> Patch:
    return Patch(
        fixer=HEAL_FIXER,
        key=key,
        title=title,
        edits=tuple(edits),
        explanation=Explanation(
            found=d.title[:1].upper() + d.title[1:] + ".",
            why=f"{d.signature.why}\n\nSource: {d.signature.source}",
            changes=changes,
            verify=verify,
            rollback="Revert this pull request's commit; nothing else depends on it.",
        ),
        severity=Severity.BROKEN_BUILD,
        fingerprints=(fingerprint(HEAL_FIXER, d.cause_key, key),),
        labels=("ci",),
        bypass_limit=True,  # a broken build waits for nothing
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-")[:60] or "fix"


def _workflow_paths(inp: HealInput) -> list[str]:
    paths = [p for p in inp.snapshot.paths() if p.startswith(".github/workflows/")]
    if inp.workflow_path in paths:
        return [inp.workflow_path, *[p for p in paths if p != inp.workflow_path]]
    return paths


def _load(inp: HealInput, path: str):
    from fixers.production.workflows import WorkflowError, load_workflow

    data = inp.snapshot.read(path)
    if data is None:
        return None
    try:
        return load_workflow(path, data)
    except (WorkflowError, ValueError):
        return None


def _failing_workflow(inp: HealInput):
    return _load(inp, inp.workflow_path) if inp.workflow_path else None


# --------------------------------------------------------------------------- owner fixers


def _owner_patches(
    inp: HealInput,
    fixer_name: str,
    keep: Callable[[Finding], bool],
    services: Services | None = None,
) -> tuple[list[Patch], list[Finding], str | None]:
    """Run the owning fixer on the failing commit; its patches for the findings ``keep``
    selects. (patches, findings kept, reason when none)."""
    from fixers.registry import all_fixers

    fixer = next((f for f in all_fixers() if f.name == fixer_name), None)
    ctx = _ctx(inp, fixer_name, services)
    if fixer is None or ctx is None:
        return [], [], f"the {fixer_name} fixer is not set to fix in this repository"
    findings = [f for f in fixer.detect(inp.snapshot, ctx) if keep(f)]
    if not findings:
        return [], [], f"the {fixer_name} fixer finds nothing to change for this failure"
    patches = fixer.fix(inp.snapshot, findings, ctx)
    wanted = {f.fingerprint for f in findings}
    patches = [p for p in patches if wanted & set(p.fingerprints)]
    if not patches:
        return [], findings, f"the {fixer_name} fixer has no safe edit for this failure"
    return patches, findings, None


def _action_names(d: Diagnosis) -> set[str]:
    if "action" in d.groups:
        names = {d.groups["action"]}
    else:
        names = {
            a.strip().split("@")[0]
            for a in d.groups.get("actions", "").split(",")
            if "/" in a and "@" in a
        }
    from fixers.dependencies.families import family_of

    for name in list(names):
        family = family_of(name, "actions")
        if family is not None:
            names |= {m for m in family.members if "*" not in m}
    return names


def _action_major(d: Diagnosis, inp: HealInput) -> Remedy:
    names = _action_names(d)
    if not names:
        return _nothing(d, "no action named in the message")
    services = replace(inp.services, index=None, advisories=None)  # tags are all it needs
    patches, _f, reason = _owner_patches(
        inp,
        "dependencies",
        lambda f: f.rule == "action-outdated-major" and f.data.get("package") in names,
        services,
    )
    if reason:
        return _nothing(d, reason)
    return Remedy(d, tuple(patches), owner="dependencies")


def runner_label_of(image: str) -> str:
    """The workflow label of an image as the runner names it: "Ubuntu 20.04" -> "ubuntu-20.04",
    "Windows Server 2019" -> "windows-2019", "macOS-13" -> "macos-13"."""
    words = image.lower().replace("-", " ").split()
    return "-".join(w for w in words if w != "server")


def _runner_label(d: Diagnosis, inp: HealInput) -> Remedy:
    label = runner_label_of(d.groups.get("image", ""))
    patches, _f, reason = _owner_patches(
        inp,
        "runtime-drift",
        lambda f: f.rule == "retired-runner" and f.data.get("label") == label,
    )
    if reason:
        return _nothing(d, reason)
    return Remedy(d, tuple(patches), owner="runtime-drift")


def pip_audit_rows(lines: Sequence[str]) -> list[tuple[str, str, str, str | None]]:
    """(name, version, advisory id, fix version) rows of pip-audit's table."""
    rows = []
    for line in lines:
        m = _PIP_AUDIT_ROW.match(line.strip())
        if m and m.group("name").lower() != "name":
            rows.append((m.group("name"), m.group("version"), m.group("id"), m.group("fix")))
    return rows


def _security_bump(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.dependencies.model import normalize

    rows = pip_audit_rows(d.context)
    names = {normalize(r[0]) for r in rows}
    if not names:
        return _nothing(d, "pip-audit's table was not in the log")
    patches, _f, reason = _owner_patches(
        inp, "dependencies", lambda f: f.rule == "vulnerable" and f.data.get("package") in names
    )
    if patches:
        return Remedy(d, tuple(patches), owner="dependencies")
    # The advisory database Patchwell reads does not know it yet: pip-audit's own fix
    # version, checked against the index, pinned by the dependency fixer's edit code.
    out = []
    for name, version, advisory, fix in rows:
        if not fix:
            continue
        patch = _pin_to(d, inp, name, version, fix, f"pip-audit: {advisory}")
        if patch is not None:
            out.append(patch)
    if not out:
        return _nothing(d, reason or "no fix version to move to")
    return Remedy(d, tuple(out), owner="dependencies")


# --------------------------------------------------------------------------- pins


def _deploy_pythons(inp: HealInput):
    from fixers.dependencies.detect import targets_of
    from fixers.dependencies.inventory import parse_snapshot

    parsed = parse_snapshot(inp.snapshot)
    return parsed, targets_of(inp.snapshot, parsed)


def _pin_to(
    d: Diagnosis, inp: HealInput, name: str, current: str, target: str, why: str
) -> Patch | None:
    """``name`` pinned from ``current`` to ``target`` by the dependency fixer's version edit."""
    from fixers.dependencies import fix as deps_fix
    from fixers.dependencies.model import normalize

    ctx = _ctx(inp, "dependencies")
    if ctx is None:
        return None
    norm = normalize(name)
    finding = Finding(
        fixer="dependencies",
        rule="outdated",
        severity=Severity.BROKEN_BUILD,
        message=why,
        fingerprint=fingerprint(HEAL_FIXER, d.cause_key, norm),
        data={
            "package": norm,
            "ecosystem": "pypi",
            "from": current,
            "target": target,
            "latest": target,
        },
    )
    # Downgrades are edits too: the fixer only moves pins up, so bypass its ordering by
    # handing it the exact plan through its own version-edit code.
    parsed, _t = _deploy_pythons(inp)
    plan = deps_fix.Plan(name=norm, target=target, data=finding.data)
    edits = _pin_edits(inp.snapshot, parsed, plan, current)
    if not edits:
        return None
    return _heal_patch(
        d,
        f"pin-{_slug(norm)}",
        f"Fix CI: pin {name} to {target} ({current} cannot be installed)"
        if d.signature.remedy == "nearest-release"
        else f"Fix CI: {name} {current} → {target} ({why})",
        edits,
        f"Pins `{name}` to `{target}` in {', '.join(f'`{e.path}`' for e in edits)} "
        "(only the version bytes change).",
        f"Run `pip install` with the edited file on the deploy Python: `{name}=={target}` "
        "installs. This PR's own CI run is the check; Patchwell marks the PR when it passes.",
    )


def _pin_edits(snapshot: Snapshot, parsed, plan, current: str) -> list[FileEdit]:
    """The dependency fixer's in-place version edit, for a pin equal to ``current``."""
    from fixers.dependencies.conventions import load_conventions
    from fixers.dependencies.fix import Replacement, apply, reparse
    from fixers.dependencies.model import decode_manifest, encode_manifest

    conv = load_conventions()
    per_file: dict[str, list] = {}
    for dep in parsed.dependencies:
        if dep.name == plan.name and dep.pinned == current and dep.span is not None:
            per_file.setdefault(dep.file, []).append(dep)
    edits = []
    for path, deps in sorted(per_file.items()):
        raw = snapshot.read(path)
        if raw is None:
            continue
        text, codec = decode_manifest(raw)
        new_text = apply(text, [Replacement(x.span.start, x.span.end, plan.target) for x in deps])
        after = [x for x in reparse(path, new_text, deps[0].source, conv) if x.name == plan.name]
        if sum(1 for x in after if x.pinned == plan.target) != len(deps):
            continue
        edits.append(FileEdit(path, "modify", encode_manifest(new_text, codec)))
    return edits


def _nearest_release(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.dependencies.model import normalize
    from fixers.dependencies.releases import candidates, nearest_release

    name, broken = d.groups.get("name", ""), d.groups.get("version", "")
    if inp.services.index is None:
        return _nothing(d, "no package index to check releases against")
    project = inp.services.index.project(normalize(name))
    if project is None:
        return _nothing(d, f"{name} is not on the package index")
    _parsed, targets = _deploy_pythons(inp)
    try:
        ceiling = Version(broken)
    except InvalidVersion:
        return _nothing(d, f"{broken!r} is not a version")
    release = nearest_release(project, targets, at_most=ceiling)
    if release is None:
        later = candidates(project, ceiling, targets)
        release = later[0] if later else None
    if release is None or release.version == broken:
        return _nothing(d, f"no release of {name} installs on {targets.describe()}")
    patch = _pin_to(d, inp, name, broken, release.version, "no such release")
    if patch is None:
        return _nothing(d, f"no editable pin {name}=={broken} in the manifests")
    return Remedy(d, (patch,), owner="dependencies")


# --------------------------------------------------------------------------- distributions


def _installed_files(inp: HealInput) -> list[str]:
    """Requirement files the failing workflow installs (``pip install -r X``), in order."""
    wf = _failing_workflow(inp)
    if wf is None:
        return []
    out = []
    for job in wf.jobs:
        for step in job.steps:
            for m in _REQ_INSTALL.finditer(step.run or ""):
                path = m.group("path").strip("'\"")
                if job.working_directory:
                    path = f"{job.working_directory.rstrip('/')}/{path}"
                out.append(path.removeprefix("./"))
    return out


def _add_distribution(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.dependencies.add import add_requirement, declared
    from fixers.dependencies.model import normalize
    from fixers.dependencies.releases import nearest_release

    module = d.groups.get("module", "")
    table = inp.modules or default_modules()
    if d.signature.id != "distutils-removed":
        if module in sys.stdlib_module_names:
            return _nothing(d, f"`{module}` is in the standard library")
        if is_own_module(inp.snapshot, module):
            return _nothing(d, f"`{module}` is the project's own module (a path problem)")
    distribution = table.distribution(module)
    if distribution is None:
        return _nothing(d, table.why_not(module))
    if declared(inp.snapshot, distribution):
        return _nothing(d, f"{distribution} is declared already: it is not installed in that job")
    if inp.services.index is None:
        return _nothing(d, "no package index to find the current release")
    project = inp.services.index.project(normalize(distribution))
    if project is None:
        return _nothing(d, f"{distribution} is not on the package index")
    _parsed, targets = _deploy_pythons(inp)
    release = nearest_release(project, targets)
    if release is None:
        return _nothing(d, f"no release of {distribution} installs on {targets.describe()}")
    ctx = _ctx(inp, "dependencies")
    if ctx is None:
        return _nothing(d, "the dependencies fixer is not set to fix in this repository")
    added = add_requirement(
        inp.snapshot,
        distribution,
        release.version,
        prefer=_installed_files(inp),
        hashes=release.hashes,
    )
    if added is None:
        return _nothing(d, "no manifest Patchwell can add a line to")
    patch = _heal_patch(
        d,
        f"add-{_slug(normalize(distribution))}",
        f"Fix CI: declare {distribution} (`import {module}` fails)",
        [added.edit],
        f"Adds `{added.line}` to `{added.path}`: `{distribution}` is the distribution that "
        f"provides `import {module}`; {release.version} is the index's current release for "
        f"{targets.describe()}.",
        f"`pip install -r {added.path}` then `python -c 'import {module}'` succeeds. This PR's "
        "own CI run is the check; Patchwell marks the PR when it passes.",
    )
    return Remedy(d, (patch,), owner="dependencies")


# --------------------------------------------------------------------------- workflows


def _workflow_commands(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.production.workflow_edits import replace_workflow_commands

    if _ctx(inp, "workflow-permissions") is None and _ctx(inp, "ci-tests") is None:
        return _nothing(d, "the workflow fixers are off in this repository")
    edits, changes = [], []
    for path in _workflow_paths(inp):
        raw = inp.snapshot.read(path)
        if raw is None:
            continue
        edit = replace_workflow_commands(path, raw.decode("utf-8", "replace"))
        if edit is not None:
            edits.append(FileEdit(path, "modify", edit.text.encode("utf-8")))
            changes += [f"`{path}`: {c}" for c in edit.changes]
    if not edits:
        return _nothing(d, "no `echo ::set-output` line Patchwell can rewrite exactly")
    patch = _heal_patch(
        d,
        "workflow-commands",
        "Fix CI: write step outputs to $GITHUB_OUTPUT instead of ::set-output",
        edits,
        "\n".join(f"- {c}" for c in changes),
        "The next run shows no `set-output` deprecation warning and later steps read the "
        "same outputs. This PR's own CI run is the check.",
    )
    return Remedy(d, (patch,), owner="workflows")


def _target_python(inp: HealInput, missing: str) -> str | None:
    """The Python to ask for instead: the deploy Python when it is supported, else the
    oldest supported one (end-of-life data: ``fixers/data/python_eol.toml``)."""
    from fixers.production.runtime_drift import load_runtime_tables, minor_of

    tables = load_runtime_tables()
    supported = tables.supported(inp.today)
    _parsed, targets = _deploy_pythons(inp)
    deploy = minor_of(str(targets.deploy)) if targets.deploy is not None else None
    if deploy in supported and deploy != minor_of(missing):
        return deploy
    later = [m for m in supported if (minor_of(missing) or "0") < m or not minor_of(missing)]
    return later[0] if later else (supported[0] if supported else None)


def _python_version(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.production.workflow_edits import find_job, set_python_version

    if _ctx(inp, "runtime-drift") is None:
        return _nothing(d, "the runtime-drift fixer is not set to fix in this repository")
    missing = d.groups.get("version", "")
    wf = _failing_workflow(inp)
    job = find_job(wf, inp.job_name) if wf is not None else None
    if wf is None or job is None:
        return _nothing(d, "the failing job is not in a workflow Patchwell can read")
    target = _target_python(inp, missing)
    if target is None:
        return _nothing(d, "no supported Python to move to")
    edit = set_python_version(wf, job, missing, target)
    if edit is None:
        return _nothing(d, f"no `python-version: {missing}` Patchwell can change in job {job.id}")
    patch = _heal_patch(
        d,
        f"python-{_slug(wf.path.rsplit('/', 1)[-1])}-{_slug(job.id)}",
        f"Fix CI: Python {missing} is not on the runner image; use {target}",
        [FileEdit(wf.path, "modify", edit.text.encode("utf-8"))],
        "\n".join(f"- `{wf.path}`: {c}" for c in edit.changes)
        + f"\n\nPython {target} is the project's deploy Python or, when that is unknown or "
        "unsupported, the oldest Python still supported upstream.",
        f"The `{job.id}` job's setup step installs Python {target}. This PR's own CI run is "
        "the check.",
    )
    return Remedy(d, (patch,), owner="runtime-drift")


def _setup_python(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.production.ci_tests import load_action_pins
    from fixers.production.workflow_edits import add_setup_python, find_job

    if _ctx(inp, "ci-tests") is None:
        return _nothing(d, "the ci-tests fixer is not set to fix in this repository")
    wf = _failing_workflow(inp)
    job = find_job(wf, inp.job_name) if wf is not None else None
    if wf is None or job is None:
        return _nothing(d, "the failing job is not in a workflow Patchwell can read")
    target = _target_python(inp, "")
    pin = load_action_pins().get("actions/setup-python")
    if target is None or pin is None:
        return _nothing(d, "no Python or setup-python release to write")
    edit = add_setup_python(wf, job, target, pin.uses())
    if edit is None:
        return _nothing(d, f"no step running pip found in job {job.id}")
    patch = _heal_patch(
        d,
        f"setup-python-{_slug(wf.path.rsplit('/', 1)[-1])}-{_slug(job.id)}",
        f"Fix CI: give job {job.id} its own Python (pip refused the system Python)",
        [FileEdit(wf.path, "modify", edit.text.encode("utf-8"))],
        "\n".join(f"- `{wf.path}`: {c}" for c in edit.changes)
        + f"\n\n`{pin.uses()}` is pinned from `fixers/data/action_pins.toml`.",
        "pip installs into the setup-python interpreter, which is not externally managed. "
        "This PR's own CI run is the check.",
    )
    return Remedy(d, (patch,), owner="ci-tests")


def _artifact_names(d: Diagnosis, inp: HealInput) -> Remedy:
    from fixers.production.workflow_edits import unique_artifact_names

    if _ctx(inp, "dependencies") is None:
        return _nothing(d, "the dependencies fixer is not set to fix in this repository")
    edits, changes = [], []
    for path in _workflow_paths(inp):
        wf = _load(inp, path)
        edit = unique_artifact_names(wf) if wf is not None else None
        if edit is not None:
            edits.append(FileEdit(path, "modify", edit.text.encode("utf-8")))
            changes += [f"`{path}`: {c}" for c in edit.changes]
    if not edits:
        return _nothing(d, "no matrix upload with a fixed artifact name")
    patch = _heal_patch(
        d,
        "artifact-names",
        "Fix CI: one artifact name per matrix job (upload-artifact v4)",
        edits,
        "\n".join(f"- {c}" for c in changes),
        "Every matrix job uploads its own artifact and the download step collects them all. "
        "This PR's own CI run is the check.",
    )
    return Remedy(d, (patch,), owner="dependencies")


def _report(d: Diagnosis, inp: HealInput) -> Remedy:
    conflict = [
        line
        for line in d.context
        if line.startswith(("ERROR: Cannot install", "    The user requested", "    "))
        and ("depends on" in line or "requested" in line or "Cannot install" in line)
    ]
    text = "\n".join(conflict[:20]) or d.line
    return Remedy(d, report=text)


_REMEDIES: dict[str, Callable[[Diagnosis, HealInput], Remedy]] = {
    "action-major": _action_major,
    "artifact-unique-name": _artifact_names,
    "workflow-commands": _workflow_commands,
    "python-version": _python_version,
    "setup-python": _setup_python,
    "add-distribution": _add_distribution,
    "nearest-release": _nearest_release,
    "security-bump": _security_bump,
    "runner-label": _runner_label,
    "report": _report,
}


def remedy(d: Diagnosis, inp: HealInput) -> Remedy:
    """The remedy for one diagnosis (pure; may call the injected index/advisory services)."""
    try:
        return _REMEDIES[d.signature.remedy](d, inp)
    except Exception as exc:  # a remedy bug must cost this diagnosis, not the worker
        return _nothing(d, f"remedy failed: {type(exc).__name__}")
