"""Imported once by the scan forkserver (:mod:`fixers.isolation`): every fixer, warmed.

Importing the fixers and their first run (the secrets engine compiles its pattern database,
tables are loaded and cached) cost seconds; done here, in the forkserver, every scan process
forked from it starts warm. Importing this module anywhere else only costs that time once.
"""

from __future__ import annotations

from fixers.contract import MemorySnapshot, Services
from fixers.repo_config import RepoConfig
from fixers.runner import run_fixers

_WARM_FILES = {
    "app.py": b"import os\nprint(os.environ.get('PORT'))\n",
    "requirements.txt": b"requests==2.31.0\n",
    "pyproject.toml": b'[project]\nname = "warm"\nversion = "0"\n',
    ".github/workflows/ci.yml": b"on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n",
    ".env.example": b"PORT=8000\n",
}


def _warm() -> None:
    # Offline services: nothing here may reach the network from the forkserver.
    run_fixers(MemorySnapshot(_WARM_FILES), RepoConfig(), Services())


_warm()
