"""Production-config fixers: the boring parts a fast-built app ships without.

One module per fixer: ``prod_contract`` (PROD.md), ``env_names`` (.env hygiene),
``workflow_permissions``, ``ci_tests``, ``runtime_drift``, ``migrations``,
``runtime_defaults``.
"""
