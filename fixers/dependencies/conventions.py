"""Loads the data-file conventions (``fixers/data/dependencies.json``) once per call site.

Kept as a frozen dataclass handed around explicitly rather than a module global,
so tests can pass their own conventions.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fixers.contract import matches_any

DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "dependencies.json"


@dataclass(frozen=True, slots=True)
class Conventions:
    development_group_names: frozenset[str]
    development_file_patterns: tuple[str, ...]
    not_pip_input_files: tuple[str, ...]
    deployment_markers: tuple[str, ...]
    changelog_labels: tuple[str, ...]
    source_labels: tuple[str, ...]

    def is_development_group(self, group: str | None) -> bool:
        return group is not None and group.lower() in self.development_group_names

    def is_development_file(self, path: str) -> bool:
        base = posixpath.basename(path).lower()
        return matches_any(base, self.development_file_patterns) or matches_any(
            path.lower(), self.development_file_patterns
        )

    def is_pip_input(self, path: str) -> bool:
        return not matches_any(posixpath.basename(path), self.not_pip_input_files)


@lru_cache(maxsize=1)
def load_conventions() -> Conventions:
    # lru_cache on an immutable result: read the file once, never mutated.
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    labels = raw["release_note_url_labels"]
    return Conventions(
        development_group_names=frozenset(n.lower() for n in raw["development_group_names"]),
        development_file_patterns=tuple(raw["development_file_patterns"]),
        not_pip_input_files=tuple(raw["not_pip_input_files"]),
        deployment_markers=tuple(raw["deployment_markers"]),
        changelog_labels=tuple(labels["changelog"]),
        source_labels=tuple(labels["source"]),
    )
