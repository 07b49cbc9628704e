"""Every fixer Patchwell runs, in one explicit list.

Adding a fixer: write a module exposing a :class:`fixers.contract.Fixer`, add a loader
below and its name to ``_LOADERS``. The order is the order findings are reported in.

Each fixer is imported only when it is asked for: ``patchwell scan --only secrets``
imports the secrets fixer alone, not the dependency fixer's package-index clients (about
half a second of imports), and its names are known without importing any fixer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fixers.contract import Fixer


def _secrets() -> Fixer:
    from fixers.secrets import SecretsFixer

    return SecretsFixer()


def _prod_contract() -> Fixer:
    from fixers.production import prod_contract

    return prod_contract.FIXER


def _env_names() -> Fixer:
    from fixers.production import env_names

    return env_names.FIXER


def _migrations() -> Fixer:
    from fixers.production import migrations

    return migrations.FIXER


def _runtime_defaults() -> Fixer:
    from fixers.production import runtime_defaults

    return runtime_defaults.FIXER


def _workflow_permissions() -> Fixer:
    from fixers.production import workflow_permissions

    return workflow_permissions.WorkflowPermissionsFixer()


def _ci_tests() -> Fixer:
    from fixers.production import ci_tests

    return ci_tests.CiTestsFixer()


def _runtime_drift() -> Fixer:
    from fixers.production import runtime_drift

    return runtime_drift.RuntimeDriftFixer()


def _dependencies() -> Fixer:
    from fixers.dependencies import FIXER

    return FIXER


#: (name, loader) in report order. A loader's fixer has that name (tests hold them to it).
_LOADERS: tuple[tuple[str, Callable[[], Fixer]], ...] = (
    ("secrets", _secrets),
    ("prod-contract", _prod_contract),
    ("env-names", _env_names),
    ("migrations", _migrations),
    ("runtime-defaults", _runtime_defaults),
    ("workflow-permissions", _workflow_permissions),
    ("ci-tests", _ci_tests),
    ("runtime-drift", _runtime_drift),
    ("dependencies", _dependencies),
)


def all_fixers() -> list[Fixer]:
    return [load() for _name, load in _LOADERS]


def fixer_names() -> list[str]:
    """Every registered fixer's name, in order, without importing any fixer."""
    return [name for name, _load in _LOADERS]


def fixers_named(names: Iterable[str]) -> list[Fixer]:
    """The registered fixers called ``names``, in registry order, importing only those.
    A name that is not registered is left out (the caller reports it)."""
    wanted = set(names)
    return [load() for name, load in _LOADERS if name in wanted]
