"""Families of packages that must move together (data: ``fixers/data/dependency_families.toml``).

``boto3`` without its ``botocore``, ``upload-artifact@v4`` without ``download-artifact@v4``,
half of ``opentelemetry-*``: each breaks the build on its own, so the fixer puts every
outdated member of a family in one PR.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fixers.contract import matches_any

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "dependency_families.toml"


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    ecosystem: str  # "pypi" | "actions"
    members: tuple[str, ...]
    why: str
    source: str

    @property
    def key(self) -> str:
        return f"family-{self.name}"

    def has(self, name: str) -> bool:
        return matches_any(name.lower(), self.members)


@lru_cache(maxsize=1)
def load_families() -> tuple[Family, ...]:
    # lru_cache of an immutable result: the data file is read once per process.
    raw = tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))
    return tuple(
        Family(
            name=str(entry["name"]),
            ecosystem=str(entry["ecosystem"]),
            members=tuple(str(m).lower() for m in entry["members"]),
            why=str(entry.get("why", "")),
            source=str(entry.get("source", "")),
        )
        for entry in raw.get("family", [])
    )


def family_of(name: str, ecosystem: str) -> Family | None:
    """The family ``name`` belongs to, if any (first match in the data file)."""
    return next((f for f in load_families() if f.ecosystem == ecosystem and f.has(name)), None)
