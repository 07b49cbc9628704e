"""Poetry's own command line, with the two changes Patchwell's sandbox needs.

Run as a script by :mod:`fixers.dependencies.toolrunner` (``python -I poetry_shim.py
INDEX_BASE poetry-arguments...``) in a scratch directory holding only
``pyproject.toml`` and ``poetry.lock``; it imports nothing of Patchwell's.

1. **No builds.** Poetry learns a package's dependencies from the index, a wheel's
   metadata or an sdist's ``PKG-INFO``, and when those say nothing it *builds* the
   sdist in an isolated environment (``get_pep517_metadata``): a package's own code
   would run. Here every build entry point raises instead, so such a package makes the
   lock fail with a reason and nothing is executed.
2. **Only the operator's index.** Poetry's PyPI repository has ``https://pypi.org/``
   built in; it is pointed at the operator's base URL (the host serving
   ``/simple/<name>/`` and ``/pypi/<name>/<version>/json``). Adding the operator's
   index as a Poetry source instead would write its URL into every lock entry.
   Repository sources, path/git/URL dependencies and plugins are refused before this
   script starts (``toolrunner.validate_poetry``).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

REFUSAL = "building a package is disabled in Patchwell's sandbox"


def _no_build(*_args: Any, **_kwargs: Any) -> NoReturn:
    from poetry.utils.isolated_build import IsolatedBuildBackendError

    raise IsolatedBuildBackendError(REFUSAL)


def _no_metadata_build(path: Any) -> NoReturn:
    from poetry.inspection.info import PackageInfoError

    raise PackageInfoError(path, REFUSAL)


def _patch(base: str) -> None:
    from poetry.inspection import info
    from poetry.installation import chef
    from poetry.repositories import pypi_repository
    from poetry.utils import isolated_build

    original = pypi_repository.PyPiRepository.__init__

    def init(self: Any, url: str = base, **kwargs: Any) -> None:
        original(self, base, **kwargs)  # whatever the caller asked: the operator's index

    pypi_repository.PyPiRepository.__init__ = init  # type: ignore[method-assign]
    info.get_pep517_metadata = _no_metadata_build  # type: ignore[assignment]
    for module in (info, chef, isolated_build):
        module.isolated_builder = _no_build  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: poetry_shim.py INDEX_BASE ARGS...", file=sys.stderr)
        return 2
    base = argv[0].rstrip("/") + "/"
    _patch(base)
    from poetry.console.application import main as poetry_main

    sys.argv = ["poetry", *argv[1:]]
    return int(poetry_main() or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
