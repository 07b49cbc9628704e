"""The ``dependencies`` fixer: drifted and vulnerable Python dependencies and
GitHub Actions, fixed with minimal, format-preserving edits in few PRs.

``FIXER`` is the object the registry lists. Public helpers:
:func:`fixers.dependencies.inventory.extract` / ``render`` (``patchwell deps``)
and :func:`fixers.dependencies.sources.sources_from_env` (index + OSV clients).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fixers.contract import Context, Finding, Patch, Snapshot
from fixers.dependencies import detect as _detect
from fixers.dependencies import fix as _fix
from fixers.dependencies.inventory import PATTERNS


@dataclass(frozen=True)
class DependenciesFixer:
    name: str = "dependencies"
    patterns: tuple[str, ...] = PATTERNS
    # Findings span files (includes, the same package in two manifests, requires-python).
    scope: Literal["file", "repo"] = "repo"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        # A patch that could not be verified is withheld in fix(); its findings must say
        # why there is no PR, so the same planning runs here (tool runs are memoised
        # on the snapshot, so the sandbox runs each lock once per scan).
        return _fix.explain_withheld(snapshot, _detect.detect(snapshot, ctx), ctx)

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return _fix.fix(snapshot, findings, ctx)


FIXER = DependenciesFixer()

__all__ = ["FIXER", "DependenciesFixer"]
