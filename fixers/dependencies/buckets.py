"""Which PR each proposed update goes in: groups, families, and packages that only
install together. Shared by detection (which resolves each PR's changes before it
exists) and the fix (which builds the PRs), so both see the same PRs."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from fixers.contract import Finding
from fixers.dependencies.families import Family, family_of
from fixers.dependencies.policy import Policy

Bucket = tuple[str, str | None, Family | None]  # (patch key, group name, family)


def package_key(name: str) -> str:
    """The patch key of one package's own PR (stable: a newer release updates the PR)."""
    return "pip-" + re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-")


def drift_buckets(items: Sequence[tuple[str, Finding]], policy: Policy) -> dict[str, Bucket]:
    """Per package name, the bucket of its drift update."""
    return joined(items, bucket_keys(items, policy))


def bucket_keys(items: Sequence[tuple[str, Finding]], policy: Policy) -> dict[str, Bucket]:
    """Per package: (patch key, group name, family) for its drift update.

    A group (configured, or the defaults: development patch/minor, and runtime
    patch/minor too once more than a handful are outdated) takes its matches. A family
    (``boto3``/``botocore``...) whose outdated members would not all land in one group
    gets a PR of its own, so its members are never split across PRs.
    """
    majors = sum(1 for _n, f in items if (f.data.get("update_type") or "major") == "major")
    groups = policy.groups_for(len(items), majors)
    chosen: dict[str, Bucket] = {}
    for name, f in items:
        group = policy.group_for(
            name,
            f.data.get("update_type") or "major",
            bool(f.data.get("development")),
            groups,
        )
        chosen[name] = (group.key, group.name, None) if group else (package_key(name), None, None)
    by_family: dict[str, list[str]] = defaultdict(list)
    families: dict[str, Family] = {}
    for name in chosen:
        family = family_of(name, "pypi")
        if family is not None:
            by_family[family.name].append(name)
            families[family.name] = family
    for fname, names in by_family.items():
        if len(names) < 2 or len({chosen[n][0] for n in names}) == 1:
            continue
        family = families[fname]
        for n in names:
            chosen[n] = (family.key, f"{family.name} family", family)
    return chosen


def joined(
    items: Sequence[tuple[str, Finding]],
    keys: dict[str, Bucket],
) -> dict[str, Bucket]:
    """Packages that only install together (the resolver's ``with``) share one bucket:
    Flask's PR and Werkzeug's PR would each need the other, so there is one PR."""
    parent = {n: n for n, _f in items}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for name, f in items:
        for other in (f.data.get("install") or {}).get("with") or {}:
            if other in parent:
                a, b = sorted((root(name), root(other)), key=lambda n: keys[n][0])
                parent[b] = a
    return {n: keys[root(n)] for n in parent}
