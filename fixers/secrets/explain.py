"""The pull-request text for a leaked-secret fix. It names values by mask only."""

from __future__ import annotations

from collections.abc import Sequence

from fixers.contract import Explanation, Finding
from fixers.secrets.rules import RuleSet

PURGE_HISTORY = """\
If this repository is public (or ever was, or has forks), also purge the value from history
after rotating -- rotation is what protects you; purging only limits further copies:

1. `git filter-repo --replace-text <(echo 'THE-OLD-VALUE==>REMOVED')` on a fresh clone
   (or BFG Repo-Cleaner's `--replace-text`), then force-push every branch and tag.
2. Ask collaborators to re-clone, and GitHub Support to purge cached views and pull-request refs
   (https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/removing-sensitive-data-from-a-repository).
3. Forks keep their own copy: only rotation makes the leaked value worthless.
"""


def _revocation_lines(findings: Sequence[Finding], ruleset: RuleSet) -> list[str]:
    lines: list[str] = []
    for provider in sorted({str(f.data.get("provider", "")) for f in findings}):
        rev = ruleset.revocations.get(provider)
        if rev is not None:
            line = f"- **{rev.name}**: revoke or rotate at {rev.revoke}"
            lines.append(line + (f" ([how]({rev.docs}))" if rev.docs else ""))
    return lines


def preface(findings: Sequence[Finding], ruleset: RuleSet) -> str:
    revoke = _revocation_lines(findings, ruleset)
    where = (
        "\n\nWhere to revoke:\n\n" + "\n".join(revoke)
        if revoke
        else "\n\nRevoke it wherever it was issued (the provider is not known to Patchwell)."
    )
    return (
        "> [!CAUTION]\n"
        "> **Rotate this credential now.** The value is still in this repository's git history, "
        "and merging this pull request does not remove it from there: anyone who could read "
        "the repository may already have it."
        f"{where}\n\n{PURGE_HISTORY}"
    )


def found_text(findings: Sequence[Finding]) -> str:
    rows = []
    for f in findings:
        shown = f": `{f.data['masked']}`" if f.data.get("masked") else ""
        accept = f.data.get("accept_fingerprint", "")
        rows.append(
            f"- `{f.rule}` in `{f.path}` line {f.line}{shown} "
            f"(fingerprint `{f.fingerprint}`, accept-list id `{accept}`)"
        )
    return (
        "Patchwell found committed credentials (values masked):\n\n"
        + "\n".join(rows)
        + "\n\nIf one of these is not a secret, accept it in `.github/patchwell.yml` under "
        "`fixers: secrets: accepted:` with its accept-list id, or mark the line "
        "`patchwell:allow`."
    )


WHY = (
    "A credential in the source is readable by everyone who can read the repository, its "
    "forks, clones, CI logs and caches, for as long as the history exists. Keeping it in the "
    "environment means the code can be shared without the keys to production."
)


def changes_text(path: str, how: str, names: Sequence[str], deleted: bool) -> str:
    listed = ", ".join(f"`{n}`" for n in names)
    if deleted:
        first = (
            f"- Deletes `{path}` from the tree: the file itself is the credential. Keep your local "
            "copy outside git."
        )
    elif how == "removed":
        first = (
            f"- Removes the value from `{path}`. JSON and TOML cannot read the environment, so "
            f"the value is now empty: load it in code from {listed} (for example "
            '`os.environ["NAME"]` or `process.env.NAME`) and overlay it on this file\'s settings.'
        )
    else:
        first = f"- Replaces the literal in `{path}` with `{how.replace('NAME', names[0])}`"
        first += f" (variables: {listed})." if len(names) > 1 else "."
        if how.startswith("${{"):
            first += f" Add {listed} as repository secret(s) under Settings > Secrets."
        elif how.startswith("${"):
            first += (
                " Docker Compose and most config loaders expand `${NAME}`; if yours does not, "
                "expand it when loading the file."
            )
    lines = [
        first,
        f"- Touches no other file, so this PR merges in any order with Patchwell's others. "
        f"Patchwell's env-names check lists {listed} in `.env.example` once the code reads "
        "them; set them wherever this code runs.",
    ]
    if deleted:
        lines.append(
            "- Keep the file out of git from now on: add its path to `.gitignore` "
            "(or keep it outside the repository)."
        )
    return "\n".join(lines)


def explanation(
    findings: Sequence[Finding],
    ruleset: RuleSet,
    *,
    path: str,
    how: str,
    names: Sequence[str],
    deleted: bool,
) -> Explanation:
    listed = ", ".join(f"`{n}`" for n in names)
    return Explanation(
        preface=preface(findings, ruleset),
        found=found_text(findings),
        why=WHY,
        changes=changes_text(path, how, names, deleted),
        verify=(
            f"1. Rotate the credential, then set {listed} to the **new** value in every "
            "environment that runs this code (local `.env`, CI secrets, the host's config).\n"
            "2. Run the app or its tests: a missing variable now fails loudly at start-up.\n"
            "3. Patchwell's next scan of this branch reports no secret in this file."
        ),
        rollback=(
            "Revert this pull request. Do not put the old value back: it is compromised "
            "whether or not this change is merged."
        ),
    )
