"""Issue 15 point 3: a repository's secrets PRs (and the env-names PR that shares their
files) merge in any order without a conflict.

Every patch is computed against the same base, as the PRs are; merging them one after
another is replayed with git's own three-way file merge (``git merge-file``), so a PR that
would conflict on GitHub conflicts here too.
"""

from __future__ import annotations

import itertools
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from fixers.contract import MemorySnapshot, Patch, Services
from fixers.repo_config import RepoConfig
from fixers.runner import run_fixers
from fixers.secrets.samples import sample

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git merge-file")


def _merge3(ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """git's merge of one file; ``None`` on a conflict."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, name) for name in ("ours", "base", "theirs")]
        for path, data in zip(paths, (ours, base, theirs), strict=True):
            path.write_bytes(data)
        done = subprocess.run(
            ["git", "merge-file", "-p", *map(str, paths)], capture_output=True, check=False
        )
    return done.stdout if done.returncode == 0 else None


def _merge_all(base: dict[str, bytes], patches: list[Patch]) -> dict[str, bytes] | str:
    """Merge ``patches`` (each made against ``base``) in order; the conflict, if any."""
    tree = dict(base)
    for patch in patches:
        for edit in patch.edits:
            was, now = base.get(edit.path), tree.get(edit.path)
            new = None if edit.action == "delete" else edit.content
            if now == was:  # untouched since the base: the PR's version wins outright
                if new is None:
                    tree.pop(edit.path, None)
                else:
                    tree[edit.path] = new
                continue
            if new is None or now is None:
                return f"{patch.title}: {edit.path} deleted on one side, changed on the other"
            merged = _merge3(now, was or b"", new)
            if merged is None:
                return f"{patch.title}: conflict in {edit.path}"
            tree[edit.path] = merged
    return tree


def _repository() -> dict[str, bytes]:
    stripe, token = sample("stripe-secret-key", _rng(1)), sample("github-pat-classic", _rng(2))
    password = sample("generic-password-assignment", _rng(3))
    files = {
        "app/payments.py": f"import os\n\n{stripe.text}\nDEBUG = os.environ['DEBUG']\n",
        "app/db.py": f"import os\n\nHOST = os.getenv('DB_HOST')\n{password.text}\n",
        "deploy/ci.yml": f"env:\n  token: {token.token}\n",
        ".env": f"STRIPE_API_KEY={stripe.token}\nPORT=8000\n",
        "backend/.env": f"GITHUB_TOKEN={token.token}\nDEBUG=1\n",
        ".gitignore": "__pycache__/\n",
        "docker-compose.yml": "services:\n  web:\n    build: .\n    env_file: .env\n",
        "Procfile": "web: gunicorn app.wsgi\n",
        "requirements.txt": "gunicorn==23.0.0\n",
    }
    return {k: v.encode() for k, v in files.items()}


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.mark.parametrize("example", [None, b"# Example\nPORT=\n"], ids=["new", "existing"])
def test_secrets_and_env_example_prs_merge_in_every_order(example: bytes | None) -> None:
    """Found by this test: with an `.env.example` already there, the secrets PR untracking
    `.env` appended the file's names to it and the env-names PR appended the code's names:
    two insertions at the end of one file, a conflict whichever merged second."""
    base = _repository()
    if example is not None:
        base[".env.example"] = example
    result = run_fixers(MemorySnapshot(base), RepoConfig(), Services(), fixers=None)
    shared = {".gitignore", ".env.example", "backend/.env.example", "PROD.md"}
    patches = [
        p.patch
        for p in result.patches
        if p.patch.fixer == "secrets" or {e.path for e in p.patch.edits} & shared
    ]
    assert len([p for p in patches if p.fixer == "secrets"]) >= 4  # 3 files, the env files

    # PRs that share no file commute; every order of those that share one is replayed.
    def files(p: Patch) -> set[str]:
        return {e.path for e in p.edits}

    sharing = [p for p in patches if any(files(p) & files(q) for q in patches if q is not p)]
    alone = [p for p in patches if p not in sharing]
    if example is not None:
        assert {p.fixer for p in sharing} == {"secrets", "env-names"}
    results = set()
    for order in itertools.permutations(sharing):
        merged = _merge_all(base, [*order, *alone])
        assert not isinstance(merged, str), merged
        results.add(tuple(sorted(merged.items())))
    assert len(results) == 1  # and every order ends in the same tree
    (tree,) = results
    final = dict(tree)[".env.example"].decode()
    for name in ("STRIPE_API_KEY=", "DB_HOST="):  # the .env's names and the code's
        assert name in final or example is None
