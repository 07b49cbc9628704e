"""Import names to distributions (``fixers/data/module_distributions.toml``).

``ModuleNotFoundError: No module named 'yaml'`` is fixed by declaring ``PyYAML``, not
``yaml``: the table says which distribution provides an import, only where exactly one
does. A module in no table, or in ``[ambiguous]``, is never fixed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fixers.contract import Snapshot

__all__ = ["ModuleTable", "default_modules", "is_own_module", "load_modules"]


@dataclass(frozen=True)
class ModuleTable:
    modules: Mapping[str, str]  # import name -> distribution
    ambiguous: Mapping[str, str]  # import name -> why
    identity: frozenset[str]
    reviewed: str

    def distribution(self, module: str) -> str | None:
        if module in self.ambiguous:
            return None
        if module in self.modules:
            return self.modules[module]
        return module if module in self.identity else None

    def why_not(self, module: str) -> str:
        if module in self.ambiguous:
            return f"`{module}` is ambiguous: {self.ambiguous[module]}"
        return f"`{module}` is not in the module table: which distribution provides it is a guess"


def load_modules(data: bytes | None = None) -> ModuleTable:
    if data is None:
        data = resources.files("fixers.data").joinpath("module_distributions.toml").read_bytes()
    raw = tomllib.loads(data.decode())
    modules = {}
    for name, entry in (raw.get("modules") or {}).items():
        if not isinstance(entry, Mapping) or not (
            entry.get("distribution") and entry.get("source")
        ):
            raise ValueError(f"module {name}: distribution and source are required")
        modules[str(name)] = str(entry["distribution"])
    ambiguous = {str(k): str(v) for k, v in (raw.get("ambiguous") or {}).items()}
    overlap = set(modules) & set(ambiguous)
    if overlap:
        raise ValueError(f"both mapped and ambiguous: {sorted(overlap)}")
    identity = frozenset(str(n) for n in (raw.get("identity") or {}).get("names") or ())
    reviewed = str((raw.get("meta") or {}).get("reviewed", ""))
    return ModuleTable(modules, ambiguous, identity, reviewed)


@cache
def default_modules() -> ModuleTable:
    return load_modules()


def is_own_module(snapshot: Snapshot, module: str) -> bool:
    """Does the repository itself provide ``module`` (a package dir or a ``.py`` file at the
    top, under ``src/``, or next to a top-level directory's ``__init__.py``)?"""
    for path in snapshot.all_paths:
        parts = path.split("/")
        if parts[0] in ("src", "lib") and len(parts) > 1:
            parts = parts[1:]
        if parts[0] == module and len(parts) > 1 and path.endswith(".py"):
            return True
        if len(parts) == 1 and parts[0] == f"{module}.py":
            return True
        # app/yaml.py, imported as `yaml` by a script run from inside app/
        if len(parts) == 2 and parts[1] == f"{module}.py":
            return True
    return False
