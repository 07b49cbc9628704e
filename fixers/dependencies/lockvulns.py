"""Vulnerable packages that only a lock file pins (transitive, or direct under a range).

Detection audits every locked ``name==version`` the manifests do not pin themselves.
The fix is a **lock-only** PR: ``uv lock --upgrade-package name==fixed`` moves just that
package (the manifests stay as they are). When the direct dependencies do not allow the
fixed release, nothing is proposed and the finding says which direct dependency holds it
back and what uv said. Poetry, PDM and Pipenv locks get the finding and the command.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from fixers.contract import FileEdit, Finding, Patch, Severity, Snapshot
from fixers.dependencies.conventions import Conventions
from fixers.dependencies.explain import Change, explain_pypi
from fixers.dependencies.locks import LOCK_NAMES, Lock, parse_lock
from fixers.dependencies.model import Dependency, decode_manifest
from fixers.dependencies.pythons import PythonTargets
from fixers.dependencies.releases import candidates
from fixers.dependencies.resolution import LockRequest, Resolver
from fixers.dependencies.sources import Advisory, Project

MANIFEST_OF = {
    "uv.lock": "pyproject.toml",
    "poetry.lock": "pyproject.toml",
    "pdm.lock": "pyproject.toml",
    "Pipfile.lock": "Pipfile",
}
COMMANDS = {
    "uv": "uv lock --upgrade-package {name}=={version}",
    "poetry": "poetry update --lock {name}",
    "pdm": "pdm update --no-sync {name}",
    "pipenv": "pipenv upgrade {name}",
}


@dataclass(frozen=True, slots=True)
class LockedPin:
    lock: Lock
    name: str
    version: str
    direct: bool
    via: tuple[str, ...]  # the direct dependencies it comes through


def snapshot_locks(snapshot: Snapshot, ignored: Callable[[str], bool]) -> list[Lock]:
    out = []
    for path in snapshot.paths():
        if posixpath.basename(path) in LOCK_NAMES and not ignored(path):
            raw = snapshot.read(path)
            if raw is not None:
                out.append(parse_lock(path, decode_manifest(raw)[0]))
    return out


def locked_pins(locks: Sequence[Lock], deps: Sequence[Dependency]) -> list[LockedPin]:
    """Locked versions the manifests beside each lock do not pin themselves."""
    out = []
    for lock in locks:
        folder = posixpath.dirname(lock.path)
        beside = [d for d in deps if posixpath.dirname(d.file) == folder and d.ecosystem == "pypi"]
        pinned = {d.name for d in beside if d.pinned}
        declared = {d.name for d in beside}
        roots = set(lock.roots)
        direct = {n for r in roots for n in lock.packages[r].requires} | declared
        for name, pkg in sorted(lock.packages.items()):
            if name in roots or name in pinned or not pkg.version:
                continue
            via = () if name in direct else tuple(lock.chain(name, direct))
            out.append(LockedPin(lock, name, pkg.version, name in direct, via))
    return out


def locked_findings(
    pins: Sequence[LockedPin],
    advisories: Mapping[str, Sequence[Advisory]],
    projects: Mapping[str, Project | None],
    targets: PythonTargets,
    make: Callable[..., Finding],
    advisory_json: Callable[[Advisory], dict[str, Any]],
) -> list[Finding]:
    """One ``vulnerable`` finding per vulnerable locked pin (``make`` is detect's builder)."""
    out = []
    for pin in pins:
        found = {a.id: a for a in advisories.get(f"{pin.name}=={pin.version}", ())}
        if not found:
            continue
        project = projects.get(pin.name)
        target = None
        if project is not None:
            target = next(
                (
                    r.version
                    for r in candidates(project, Version(pin.version), targets)
                    if not any(a.affects(r.version) for a in found.values())
                ),
                None,
            )
        ids = sorted(found)
        how = (
            "a direct dependency"
            if pin.direct
            else (
                f"required through {', '.join(pin.via[:5])}"
                if pin.via
                else "a transitive dependency"
            )
        )
        fix = (
            f"; {target} fixes them (a lock-only update)"
            if target
            else "; no fixed release is known"
        )
        if target and pin.lock.tool != "uv":
            command = COMMANDS[pin.lock.tool].format(name=pin.name, version=target)
            fix += f". Patchwell does not run {pin.lock.tool}: run `{command}`"
        out.append(
            make(
                "vulnerable",
                Severity.VULNERABILITY,
                f"{pin.name}=={pin.version}, locked in {pin.lock.path} ({how}), has {len(ids)} "
                f"known vulnerabilit{'y' if len(ids) == 1 else 'ies'} ({', '.join(ids[:8])}){fix}.",
                (pin.lock.path, pin.name, pin.version, *ids),
                path=pin.lock.path,
                title=f"{pin.name} {pin.version} (locked) is vulnerable",
                data={
                    "ecosystem": "pypi",
                    "package": pin.name,
                    "from": pin.version,
                    "target": target,
                    "security": True,
                    "lock": pin.lock.path,
                    "tool": pin.lock.tool,
                    "direct": pin.direct,
                    "via": list(pin.via),
                    "advisories": [advisory_json(found[i]) for i in ids],
                    "urls": dict(project.project_urls) if project else {},
                },
            )
        )
    return out


def try_lock(
    snapshot: Snapshot, lock_path: str, name: str, version: str, resolver: Resolver
) -> tuple[bytes | None, str]:
    """The uv.lock with only ``name`` moved to ``version``, checked; or (None, why)."""
    manifest = posixpath.join(posixpath.dirname(lock_path), "pyproject.toml")
    project, lock = snapshot.read(manifest), snapshot.read(lock_path)
    if project is None or lock is None:
        return None, f"`{manifest}` is not in the repository"
    files = (("pyproject.toml", project), ("uv.lock", lock))
    result = resolver.lock(LockRequest(files=files, upgrade=(f"{name}=={version}",)))
    produced = result.outputs.get("uv.lock")
    if not result.ok or produced is None:
        return None, result.refused or _last(result.message)
    moved = parse_lock(lock_path, produced.decode("utf-8", errors="replace")).packages.get(name)
    if moved is None or moved.version != version:
        return None, f"uv did not lock {name} {version}"
    check = resolver.lock(
        LockRequest(files=(("pyproject.toml", project), ("uv.lock", produced)), check=True)
    )
    if not check.ok:
        return None, "the updated lock failed `uv lock --check`"
    return produced, ""


def _last(message: str) -> str:
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    text = " ".join(ln.removeprefix("cause: ") for ln in lines if not ln.startswith("hint:"))
    return text[:500] or "no output"


def blocked(finding: Finding, why: str) -> Finding:
    """The finding, saying which direct dependency must move for the fix to install."""
    data = dict(finding.data)
    via = data.get("via") or []
    who = f"{', '.join(via[:5])} must move first" if via else "the direct requirements must change"
    data["blocked"] = why
    message = (
        finding.message.rstrip(".")
        + ". The fixed release does not install with the current direct dependencies "
        + f"({who}): {why}"
    )
    return dataclasses.replace(finding, data=data, message=message)


def lock_patch(finding: Finding, edit: bytes, explanation: Any) -> Patch:
    data = finding.data
    lock_path = str(data["lock"])
    folder = posixpath.dirname(lock_path)
    key = "lock-" + "-".join(p for p in (folder.replace("/", "-"), str(data["package"])) if p)
    n = len(data.get("advisories") or [])
    return Patch(
        fixer="dependencies",
        key=key.lower(),
        title=f"Fix {n} vulnerabilit{'y' if n == 1 else 'ies'} in {data['package']} "
        f"({lock_path} only): {data['from']} → {data['target']}",
        edits=(FileEdit(lock_path, "modify", edit),),
        explanation=explanation,
        severity=Severity.VULNERABILITY,
        fingerprints=(finding.fingerprint,),
        labels=("dependencies", "security"),
        bypass_limit=True,
    )


def command_for(finding: Finding) -> str:
    tool = str(finding.data.get("tool") or "uv")
    return COMMANDS.get(tool, COMMANDS["uv"]).format(
        name=finding.data.get("package"), version=finding.data.get("target")
    )


def lock_only_patches(
    snapshot: Snapshot, findings: Sequence[Finding], conv: Conventions, resolver: Resolver | None
) -> list[Patch]:
    """Lock-only security PRs for vulnerable packages only a uv.lock pins."""
    out = []
    for f in findings:
        data = f.data
        if f.rule != "vulnerable" or not data.get("lock") or not data.get("target"):
            continue
        if data.get("blocked") or data.get("tool") != "uv" or resolver is None:
            continue
        produced, _why = try_lock(
            snapshot, str(data["lock"]), str(data["package"]), str(data["target"]), resolver
        )
        if produced is None:
            continue
        change = Change(
            package=str(data["package"]),
            old=str(data["from"]),
            new=str(data["target"]),
            data=data,
            files=(str(data["lock"]),),
        )
        explanation = explain_pypi([change], conv, security=True)
        via = ", ".join(data.get("via") or []) or "a direct dependency"
        note = (
            f"\n\n#### Lock only\n\n`{data['package']}` is not pinned in any manifest: it is "
            f"installed through {via}. Only `{data['lock']}` changes, written by `uv lock "
            f"--upgrade-package {data['package']}=={data['target']}` (checked with `uv lock "
            "--check`); no other locked package moves."
        )
        explanation = dataclasses.replace(explanation, changes=explanation.changes + note)
        out.append(lock_patch(f, produced, explanation))
    return out
