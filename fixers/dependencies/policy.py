"""The fixer's options (``fixers.dependencies`` in ``.github/patchwell.yml``) as typed rules.

Defaults aim at less noise than Dependabot/Renovate: a 3-day release cooldown,
and patch/minor updates of development dependencies grouped in one PR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from fixers.contract import matches_any

UpdateType = Literal["major", "minor", "patch"]
UPDATE_TYPES: tuple[UpdateType, ...] = ("major", "minor", "patch")
DEFAULT_COOLDOWN_DAYS = 3.0


def update_type(current: Version, target: Version) -> UpdateType:
    a, b = (*current.release, 0, 0, 0)[:3], (*target.release, 0, 0, 0)[:3]
    if a[0] != b[0]:
        return "major"
    if a[1] != b[1]:
        return "minor"
    return "patch"


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value if isinstance(v, str | int | float))
    return ()


def _name_matches(name: str, patterns: Sequence[str]) -> bool:
    lowered = [p.lower() for p in patterns]
    return matches_any(name.lower(), lowered) or matches_any(
        name.lower().replace("-", "_"), lowered
    )


@dataclass(frozen=True, slots=True)
class GroupRule:
    name: str
    patterns: tuple[str, ...] = ()
    update_types: frozenset[str] = frozenset()
    dependency_type: str | None = None  # "development" | "production"

    @property
    def key(self) -> str:
        return "group-" + "".join(
            c if c.isalnum() or c in "-_." else "-" for c in self.name.lower()
        )

    def matches(self, name: str, kind: UpdateType, development: bool) -> bool:
        if self.patterns and not _name_matches(name, self.patterns):
            return False
        if self.update_types and kind not in self.update_types:
            return False
        if self.dependency_type == "development" and not development:
            return False
        return not (self.dependency_type == "production" and development)


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    name: str
    versions: tuple[SpecifierSet, ...] = ()
    update_types: frozenset[str] = frozenset()

    def ignores(self, name: str, candidate: Version, kind: UpdateType) -> bool:
        if not _name_matches(name, (self.name,)):
            return False
        if self.versions and not any(candidate in s for s in self.versions):
            return False
        return not (self.update_types and kind not in self.update_types)


DEFAULT_GROUPS = (
    GroupRule(
        name="dev-dependencies",
        update_types=frozenset({"patch", "minor"}),
        dependency_type="development",
    ),
)
#: More outdated (non-security) pins than this and, unless ``groups`` is configured,
#: the patch/minor updates of runtime dependencies share one PR too, and so do the
#: major updates once there are more than this many of them: a 270-pin ``pip freeze``
#: then gives two or three PRs, not 236. Security updates always stay separate.
HANDFUL = 5
MANY_GROUPS = (
    *DEFAULT_GROUPS,
    GroupRule(
        name="python-dependencies",
        update_types=frozenset({"patch", "minor"}),
        dependency_type="production",
    ),
)
MAJOR_GROUP = GroupRule(name="major-updates", update_types=frozenset({"major"}))
RangeStrategy = Literal["increase-if-necessary", "bump", "lock-only"]
RANGE_STRATEGIES: tuple[RangeStrategy, ...] = ("increase-if-necessary", "bump", "lock-only")


@dataclass(frozen=True, slots=True)
class Policy:
    cooldown_days: float = DEFAULT_COOLDOWN_DAYS
    groups: tuple[GroupRule, ...] = DEFAULT_GROUPS
    ignore: tuple[IgnoreRule, ...] = ()
    actions_pin: str = "tag"
    problems: tuple[str, ...] = field(default=())
    groups_configured: bool = False
    range_strategy: RangeStrategy = "increase-if-necessary"

    def groups_for(self, outdated: int, majors: int = 0) -> tuple[GroupRule, ...]:
        """The groups in force for a repository with ``outdated`` non-security updates,
        ``majors`` of them major."""
        if self.groups_configured or outdated <= HANDFUL:
            return self.groups
        return (*MANY_GROUPS, MAJOR_GROUP) if majors > HANDFUL else MANY_GROUPS

    def ignored(self, name: str, candidate: Version, kind: UpdateType) -> bool:
        return any(rule.ignores(name, candidate, kind) for rule in self.ignore)

    def ignored_entirely(self, name: str) -> bool:
        return any(
            _name_matches(name, (r.name,)) and not r.versions and not r.update_types
            for r in self.ignore
        )

    def group_for(
        self,
        name: str,
        kind: UpdateType,
        development: bool,
        groups: tuple[GroupRule, ...] | None = None,
    ) -> GroupRule | None:
        rules = self.groups if groups is None else groups
        return next((g for g in rules if g.matches(name, kind, development)), None)


def policy_from_options(options: Mapping[str, Any]) -> Policy:
    """Read options leniently: a bad entry is skipped and named in ``problems``."""
    problems: list[str] = []
    cooldown = options.get("cooldown-days", DEFAULT_COOLDOWN_DAYS)
    if not isinstance(cooldown, int | float) or isinstance(cooldown, bool) or cooldown < 0:
        problems.append("cooldown-days must be a non-negative number; using 3")
        cooldown = DEFAULT_COOLDOWN_DAYS
    groups = DEFAULT_GROUPS
    if "groups" in options:
        groups = tuple(_groups(options.get("groups"), problems))
    ignore = tuple(_ignores(options.get("ignore"), problems))
    actions = options.get("actions") or {}
    pin = actions.get("pin", "tag") if isinstance(actions, Mapping) else "tag"
    if pin not in ("tag", "sha"):
        problems.append("actions.pin must be tag or sha; using tag")
        pin = "tag"
    strategy = options.get("range-strategy", "increase-if-necessary")
    if strategy not in RANGE_STRATEGIES:
        problems.append(
            f"range-strategy must be one of {', '.join(RANGE_STRATEGIES)}; "
            "using increase-if-necessary"
        )
        strategy = "increase-if-necessary"
    return Policy(
        float(cooldown),
        groups,
        ignore,
        pin,
        tuple(problems),
        groups_configured="groups" in options,
        range_strategy=strategy,
    )


def _groups(raw: Any, problems: list[str]) -> list[GroupRule]:
    out: list[GroupRule] = []
    for entry in raw if isinstance(raw, list | tuple) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problems.append("a group needs a name; skipped")
            continue
        kinds = frozenset(k for k in _strings(entry.get("update-types")) if k in UPDATE_TYPES)
        dep_type = entry.get("dependency-type")
        out.append(
            GroupRule(
                name=entry["name"],
                patterns=_strings(entry.get("patterns")),
                update_types=kinds,
                dependency_type=dep_type if dep_type in ("development", "production") else None,
            )
        )
    return out


def _ignores(raw: Any, problems: list[str]) -> list[IgnoreRule]:
    out: list[IgnoreRule] = []
    for entry in raw if isinstance(raw, list | tuple) else []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            problems.append("an ignore rule needs a name; skipped")
            continue
        specs: list[SpecifierSet] = []
        for text in _strings(entry.get("versions")):
            try:
                specs.append(SpecifierSet(text))
            except InvalidSpecifier:
                problems.append(f"ignore {entry['name'][:40]}: bad version range skipped")
        kinds = frozenset(k for k in _strings(entry.get("update-types")) if k in UPDATE_TYPES)
        out.append(IgnoreRule(entry["name"], tuple(specs), kinds))
    return out
