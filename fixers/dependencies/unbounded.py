"""``unbounded``: runtime dependencies with no pin or upper bound, in an app that deploys.

Report-only. Two questions decide whether a requirements file is "what a deploy
installs": does the repository deploy at all, and is the file runtime, not tooling.

* Deploys: a deployment marker (``fixers/data/dependencies.json``) is present *and* the
  production facts (:func:`fixers.production.facts.extract_facts`, memoised on the
  snapshot, so shared with the production fixers) do not call the repository a
  library, a project generator or a published image. A library's ``docker-compose.yml``
  that starts a test database is a marker, yet nothing of the library is deployed: its
  users install it through the package metadata, with their own pins
  (jazzband/django-model-utils, issue 14).
* Runtime: development files (``requirements-dev.txt``, ``-test``, ``-docs``, ``-mypy``,
  ``docs/requirements.txt``; ``development_file_patterns``) and pip-tools inputs are
  skipped, not reworded: a tool that floats breaks a CI run, never production, and a
  pin nag on it would be noise a maintainer turns off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from fixers.contract import Finding, Severity, Snapshot, matches_any
from fixers.dependencies.conventions import Conventions
from fixers.dependencies.model import Dependency
from fixers.production.facts import extract_facts

LOCK_FILES = ("poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "pylock.toml")


def has_deployment_marker(snapshot: Snapshot, conv: Conventions) -> bool:
    return any(matches_any(p, conv.deployment_markers) for p in snapshot.all_paths)


def deploys_itself(
    snapshot: Snapshot, conv: Conventions, ignored: Callable[[str], bool] | None
) -> bool:
    """A deployment marker, in a repository whose own facts do not make it a non-app."""
    if not has_deployment_marker(snapshot, conv):
        return False
    facts = extract_facts(snapshot, ignored)
    not_an_app = (
        facts.library
        or facts.template_generator is not None
        or facts.published_artifact is not None
    )
    return not not_an_app


def unbounded_findings(
    snapshot: Snapshot,
    deps: Sequence[Dependency],
    deployed: bool,
    make: Callable[..., Finding],
) -> list[Finding]:
    """One report-only finding per runtime requirements file with unbounded entries."""
    if not deployed:
        return []
    locked = {p.rsplit("/", 1)[-1] for p in snapshot.all_paths} & set(LOCK_FILES)
    by_file: dict[str, list[Dependency]] = defaultdict(list)
    for d in deps:
        if d.development or d.group or d.file.endswith(".in"):
            continue  # tooling files; pip-tools inputs are meant to be loose (the output pins)
        if locked and not d.file.endswith(".txt"):
            continue  # a lock file pins what pyproject/Pipfile leave open
        if d.pinned is None and not any(s.operator in ("<", "<=", "~=") for s in _specs(d)):
            by_file[d.file].append(d)
    out = []
    for path, ds in sorted(by_file.items()):
        names = sorted({d.name for d in ds})
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        out.append(
            make(
                "unbounded",
                Severity.HYGIENE,
                f"{path}: {len(names)} runtime dependencies have no pin or upper bound "
                f"({shown}); a deploy can pick up a new major version without a review. "
                "Pin them (e.g. with pip-compile or a lock file).",
                (path,),
                path=path,
                line=ds[0].line,
                title=f"{path}: unbounded runtime dependencies",
                data={"packages": names, "report_only": True},
            )
        )
    return out


def _specs(d: Dependency) -> list[Any]:
    try:
        return list(SpecifierSet(d.specifier))
    except InvalidSpecifier:
        return []
