"""Which releases may be proposed: Python-compatible (each release's Requires-Python
against the deploy and CI Pythons), not yanked, inside inline holds, with a wheel when
asked. Public helpers for other fixers (``nearest_release``: "the newest release that
installs on the deploy Python", for pinning a new or repaired requirement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from fixers.dependencies.holds import Hold
from fixers.dependencies.pythons import PythonTargets, lower_bound
from fixers.dependencies.sources import Project, Release


def _version(text: str | None) -> Version | None:
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def min_python(requires: Mapping[str, str]) -> Version | None:
    """The oldest Python ``requires-python`` admits (pyproject first)."""
    ordered = sorted(requires.items(), key=lambda kv: (not kv[0].endswith("pyproject.toml"), kv[0]))
    for _path, text in ordered:
        found = lower_bound(text)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=4096)
def _python_ok(requires_python: str, python: Version) -> bool:
    # Pure and called per release per scan: a bounded cache of a pure function.
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return True  # an index typo must not hide every release
    return spec.contains(python, prereleases=True) or spec.contains(
        Version(f"{python}.99"), prereleases=True
    )


Pythons = Version | Sequence[Version] | PythonTargets | None


def _pythons(pythons: Pythons) -> tuple[Version, ...]:
    if pythons is None:
        return ()
    if isinstance(pythons, Version):
        return (pythons,)
    if isinstance(pythons, PythonTargets):
        return pythons.checked
    return tuple(pythons)


def python_ok(release: Release, pythons: Pythons) -> bool:
    """``release`` declares it installs on every one of ``pythons`` (its Requires-Python)."""
    if not release.requires_python:
        return True
    return all(_python_ok(release.requires_python, v) for v in _pythons(pythons))


def has_wheel(release: Release) -> bool:
    return any(f.filename.endswith(".whl") for f in release.files)


def candidates(
    project: Project,
    current: Version,
    pythons: Pythons = None,
    *,
    needs_wheel: bool = False,
    holds: Sequence[Hold] = (),
) -> list[Release]:
    """Releases newer than ``current`` we may propose, oldest first: not yanked, installable
    on every one of ``pythons`` (each release's own Requires-Python), inside every inline
    hold, with a wheel when ``--only-binary`` asks for one, pre-releases only when
    already on one."""
    out = []
    for v, release in project.ordered or _ordered_releases(project):
        if v <= current or release.yanked:
            continue
        if v.is_prerelease and not current.is_prerelease:
            continue
        if needs_wheel and release.files and not has_wheel(release):
            continue
        if holds and not all(h.allows(v) for h in holds):
            continue
        if python_ok(release, pythons):
            out.append(release)
    return out


def nearest_release(
    project: Project, pythons: Pythons, *, at_most: Version | None = None
) -> Release | None:
    """The newest non-yanked final release installable on ``pythons`` (not above
    ``at_most``): what to pin a new or repaired requirement to."""
    best = None
    for v, release in project.ordered or _ordered_releases(project):
        if release.yanked or v.is_prerelease or (at_most is not None and v > at_most):
            continue
        if python_ok(release, pythons):
            best = release
    return best


def _ordered_releases(project: Project) -> tuple[tuple[Version, Release], ...]:
    return tuple(
        sorted(
            ((v, r) for r in project.releases.values() if (v := _version(r.version)) is not None),
            key=lambda p: p[0],
        )
    )
