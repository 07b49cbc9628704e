"""Publishing versus deploying: an image pushed to a registry is an artifact someone deploys.

A deployed app often builds its own image (``docker/build-push-action``) and then deploys
it (a later step, a platform manifest, Kubernetes files). A base-image project
(tiangolo/uwsgi-nginx-flask-docker) only publishes: its consumers write ``FROM`` it and
deploy their own apps. This module tells the steps apart and finds where a repository
shows that the image is its product. Plain string work, no regular expressions: every
input here is repository content.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fixers.contract import Snapshot, matches_any
from fixers.production.facts.model import Conventions, Fact, Source, read_text

# Docker Hub's own names for the default registry: `docker.io/library/python` is `python`.
# Source: https://docs.docker.com/reference/cli/docker/image/tag/#description
_DOCKER_HUB = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
_MAX_REFERENCE = 255  # Docker's limit on a repository name; longer is not a name
_METADATA_ACTION = "docker/metadata-action"


def image_repository(reference: str) -> str | None:
    """``ghcr.io/o/n:tag@sha256:...`` -> ``ghcr.io/o/n``; ``None`` when not a literal name."""
    ref = reference.strip().strip("\"'").lower().split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    if ":" in last:
        ref = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    for prefix in _DOCKER_HUB:
        ref = ref.removeprefix(prefix)
    ref = ref.removeprefix("library/")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789._-/:")
    if not ref or len(ref) > _MAX_REFERENCE or not set(ref) <= allowed or ref[0] in "._-/":
        return None  # an expression (`${{ env.IMAGE }}`) or a shell variable
    return ref


def _names(value: Any) -> list[str]:
    """Image repositories in a ``tags``/``images`` input: lines or commas, ``name=`` CSV."""
    if not isinstance(value, str):
        return []
    found: list[str] = []
    for line in value[:4096].splitlines():
        for item in line.split(","):
            item = item.strip().removeprefix("name=")
            if "=" in item:
                continue  # `enable=...`, `type=...`: metadata-action options, not names
            if (name := image_repository(item)) is not None and name not in found:
                found.append(name)
    return found


def _truthy(value: Any) -> bool:
    """``push: true`` or an expression that may be true (``${{ github.event_name == 'push' }}``)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and (value.strip().lower() == "true" or "${{" in value)


_SEPARATORS = frozenset({";", "&&", "||", "|", "&"})
_TAG_FLAGS = ("-t", "--tag")


def _script_lines(run: str) -> list[str]:
    """The commands of a ``run:`` script, a ``\\``-continued command joined into one line."""
    return run[:16384].replace("\\\n", " ").splitlines()


def _words(line: str) -> list[str]:
    return line.replace(";", " ; ").replace("&&", " && ").replace("||", " || ").split()


def _invocations(run: str, commands: Sequence[str]) -> Iterator[list[str]]:
    """The arguments of each call of one of ``commands`` in a script, up to its ``;``/``&&``."""
    for line in _script_lines(run):
        words = _words(line)
        for command in commands:
            want = command.split()
            for i in range(len(words) - len(want) + 1):
                if words[i : i + len(want)] == want:
                    args = words[i + len(want) :]
                    end = next((j for j, w in enumerate(args) if w in _SEPARATORS), len(args))
                    yield args[:end]


def _pushed_by_command(run: str, commands: Sequence[str]) -> list[str] | None:
    """Images a ``run:`` script pushes (``docker push ghcr.io/o/n:1``), ``None`` for none."""
    found: list[str] | None = None
    for args in _invocations(run, commands):
        found = found if found is not None else []
        rest = [w for w in args if not w.startswith("-")]
        if rest and (name := image_repository(rest[0])) is not None:
            found.append(name)
    return found


def _pushes(args: Sequence[str]) -> bool:
    """``--push``, or a registry output (``-o type=registry``, ``type=image,push=true``)."""
    for i, word in enumerate(args):
        if word == "--push":
            return True
        value = word.removeprefix("--output=").removeprefix("-o")
        if word in ("--output", "-o") and i + 1 < len(args):
            value = args[i + 1]
        elif value == word:
            continue
        options = value.strip("\"'").replace(" ", "").lower().split(",")
        if "type=registry" in options or ("type=image" in options and "push=true" in options):
            return True
    return False


def _tags(args: Sequence[str]) -> list[str]:
    """The image repositories named by ``-t``/``--tag`` (``[]`` when none is literal)."""
    found: list[str] = []
    for i, word in enumerate(args):
        value: str | None = None
        if word in _TAG_FLAGS and i + 1 < len(args):
            value = args[i + 1]
        elif word.startswith("--tag="):
            value = word.removeprefix("--tag=")
        elif word.startswith("-t") and not word.startswith("--") and len(word) > 2:
            value = word[2:]
        if value and (name := image_repository(value)) is not None and name not in found:
            found.append(name)
    return found


def _pushed_by_build(run: str, commands: Sequence[str]) -> list[str] | None:
    """Images a ``docker buildx build --push -t ghcr.io/o/n:1 .`` in a script pushes,
    ``None`` when no build in it pushes (a plain build is neither a deploy nor a publish)."""
    found: list[str] | None = None
    for args in _invocations(run, commands):
        if _pushes(args):
            found = found if found is not None else []
            found += [tag for tag in _tags(args) if tag not in found]
    return found


def published_images(step: dict[str, Any], conv: Conventions) -> list[str] | None:
    """The image repositories a workflow step pushes (``[]`` when they are not literal),
    ``None`` when the step pushes nothing (a ``build-push-action`` without ``push``)."""
    uses, run, with_ = step.get("uses"), step.get("run"), step.get("with")
    inputs = with_ if isinstance(with_, dict) else {}
    if isinstance(uses, str) and uses.lower().startswith(conv.publish_actions):
        outputs = str(inputs.get("outputs", ""))
        if _truthy(inputs.get("push")) or "push=true" in outputs or "type=registry" in outputs:
            return _names(inputs.get("tags"))
        return None
    if isinstance(run, str):
        pushed = _pushed_by_command(run, conv.publish_commands)
        built = _pushed_by_build(run, conv.publish_build_commands)
        if pushed is None and built is None:
            return None
        images = list(pushed or [])
        return images + [name for name in built or [] if name not in images]
    return None


def metadata_images(steps: Iterable[Any]) -> list[str]:
    """Images named to ``docker/metadata-action`` in a job: the names its tags carry."""
    found: list[str] = []
    for step in steps:
        if isinstance(step, dict) and str(step.get("uses", "")).lower().startswith(
            _METADATA_ACTION
        ):
            inputs = step.get("with")
            found += _names(inputs.get("images")) if isinstance(inputs, dict) else []
    return found


def only_publishes(steps: Sequence[Any], conv: Conventions) -> bool:
    """A job that pushes an image and does nothing after it but describe, sign or tag it.

    Such a job is named ``deploy`` in base-image projects; a job that deploys after the
    push (an SSH step, ``curl "$DEPLOY_HOOK"``, any other command) is a deploy.
    """
    last = max(
        (i for i, s in enumerate(steps) if isinstance(s, dict) and published_images(s, conv)),
        default=None,
    )
    if last is None:
        return False
    return all(_publish_helper(step, conv) for step in steps[last + 1 :])


def _publish_helper(step: Any, conv: Conventions) -> bool:
    if not isinstance(step, dict):
        return True
    uses, run = step.get("uses"), step.get("run")
    if isinstance(uses, str):
        return uses.lower().startswith(conv.publish_helper_actions)
    if not isinstance(run, str):
        return True
    lines = [ln.strip() for ln in run.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return all(
        any(ln == c or ln.startswith(c + " ") for c in conv.publish_helper_commands) for ln in lines
    )


# --------------------------------------------------------------------------- the product


def _versioned(label: str, runtimes: Sequence[str]) -> bool:
    """``python3.12``, ``3.11``, ``node20``, ``php-8``: a variant named by a version."""
    low = label.lower()
    if any(
        low[i - 1].isdigit() and low[i + 1].isdigit()
        for i in range(1, len(low) - 1)
        if low[i] == "."
    ):
        return True
    return any(low.startswith(rt) and low[len(rt) :].lstrip("-_").isdigit() for rt in runtimes)


def _variant(path: str, runtimes: Sequence[str]) -> str | None:
    """The versioned variant a Dockerfile builds (its stem, suffix or folder), if any."""
    parts = path.split("/")
    name, low = parts[-1], parts[-1].lower()
    if low == "dockerfile":
        label = parts[-2] if len(parts) > 1 else ""
    elif low.startswith("dockerfile."):
        label = name[len("dockerfile.") :]
    elif low.endswith(".dockerfile"):
        label = name[: -len(".dockerfile")]
    else:
        return None
    return label if label and _versioned(label, runtimes) else None


def _readme_from(snapshot: Snapshot, conv: Conventions, pushed: set[str]) -> Source | None:
    """A README line ``FROM <an image this repository pushes>``: consumers build on it."""
    for readme in conv.readmes:
        text = read_text(snapshot, readme)
        for number, line in enumerate((text or "").splitlines(), start=1):
            words = line.strip().lstrip("`>$ ").split()
            if not words or words[0].upper() != "FROM":
                continue
            image = next((w for w in words[1:] if not w.startswith("--")), "")
            if image_repository(image) in pushed:
                return Source(readme, number)
    return None


def image_product(
    snapshot: Snapshot, paths: Sequence[str], publishes: Sequence[Fact], conv: Conventions
) -> Source | None:
    """Where the repository shows the image it publishes is its product, or ``None``."""
    pushed = {f.value for f in publishes if f.value}
    if pushed and (source := _readme_from(snapshot, conv, pushed)) is not None:
        return source
    variants: dict[str, str] = {}
    for path in paths:
        if (label := _variant(path, conv.variant_runtimes)) is not None:
            variants.setdefault(label.lower(), path)
    if len(variants) >= 2:
        return Source(sorted(variants.values())[0])
    return None


def infrastructure(paths: Sequence[str], conv: Conventions) -> Fact | None:
    """A file showing the repository deploys itself: Kubernetes, Terraform, a production
    compose file (``docker-compose.prod.yml``, ``compose.deploy.yml``)..."""
    words = set(conv.production_words)
    for path in paths:
        if matches_any(path, conv.infrastructure):
            return Fact(f"infrastructure `{path}`", Source(path))
        name = path.rsplit("/", 1)[-1].lower()
        stem, dot, ext = name.rpartition(".")
        compose = dot and ext in ("yml", "yaml") and stem.startswith(("compose", "docker-compose"))
        if compose and words & set(stem.replace("_", ".").replace("-", ".").split(".")):
            return Fact(f"production compose file `{path}`", Source(path))
    return None
