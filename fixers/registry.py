"""Every fixer Patchwell runs, in one explicit list.

Adding a fixer: write a module exposing a :class:`fixers.contract.Fixer` and
add the import here. The order is the order findings are reported in.
"""

from __future__ import annotations

from fixers.contract import Fixer


def all_fixers() -> list[Fixer]:
    from fixers.secrets import SecretsFixer

    fixers: list[Fixer] = []
    fixers.append(SecretsFixer())
    from fixers.production import env_names, migrations, prod_contract, runtime_defaults

    fixers += [prod_contract.FIXER, env_names.FIXER, migrations.FIXER, runtime_defaults.FIXER]
    from fixers.production import ci_tests, runtime_drift, workflow_permissions

    fixers += [
        workflow_permissions.WorkflowPermissionsFixer(),
        ci_tests.CiTestsFixer(),
        runtime_drift.RuntimeDriftFixer(),
    ]
    from fixers.dependencies import FIXER as dependencies_fixer

    fixers.append(dependencies_fixer)
    return fixers


def fixer_names() -> list[str]:
    return [f.name for f in all_fixers()]
