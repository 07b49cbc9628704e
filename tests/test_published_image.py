"""Issue 14: a repository whose product is a published image gets no PROD.md.

tiangolo/uwsgi-nginx-flask-docker publishes base images (``docker/build-push-action``);
its Flask app is the image's demo and its consumers deploy their own apps, so there is
no production to write a contract for. A deployed app that also builds and pushes its own
image, then deploys it, must still get its contract.
"""

from __future__ import annotations

import pytest

from fixers.contract import Context, MemorySnapshot
from fixers.production.facts import extract_facts
from fixers.production.facts.artifacts import image_repository
from fixers.production.prod_contract import FIXER
from tests.fixtures.production.repos import load_repo

CTX = Context()


def _rules(snap: MemorySnapshot) -> list[str]:
    return [f.rule for f in FIXER.detect(snap, CTX)]


def _contract(snap: MemorySnapshot) -> str:
    (patch,) = FIXER.fix(snap, FIXER.detect(snap, CTX), CTX)
    (edit,) = patch.edits
    return edit.content.decode("utf-8")


def test_a_base_image_project_gets_no_contract():
    snap = load_repo("baseimage")
    facts = extract_facts(snap)
    # It does look like it deploys (a Flask app, a job named `deploy`)...
    assert facts.deploys and facts.frameworks
    # ...but its one push is a publish, and nothing deploys it here.
    assert [(f.value, str(f.source)) for f in facts.publishes] == [
        ("acme/flask-gunicorn", ".github/workflows/release.yml:24")
    ]
    assert facts.own_deploys == ()
    assert str(facts.published_artifact) == "README.md:11"  # FROM acme/flask-gunicorn:py3.13
    assert _rules(snap) == []
    assert FIXER.fix(snap, [], CTX) == []


def test_a_build_without_push_is_neither_a_deploy_nor_a_publish():
    facts = extract_facts(load_repo("baseimage"))
    test = next(w for w in facts.workflows if w.path.endswith("test.yml"))
    assert test.deploys is None and test.publishes is None
    assert "test.yml" not in " ".join(f.value for f in facts.deploy_markers)


def test_versioned_dockerfiles_show_the_product_when_the_readme_does_not():
    snap = load_repo("baseimage", **{"README.md": b"# flask-gunicorn\n\nSee the docs.\n"})
    facts = extract_facts(snap)
    assert str(facts.published_artifact) == "images/python3.12.dockerfile"
    assert _rules(snap) == []


def test_a_pushed_service_with_no_sign_of_being_a_product_keeps_its_contract():
    # An app that pushes its image for a GitOps repository elsewhere to deploy: no README
    # `FROM` it, one Dockerfile. Its production is real; the contract stays.
    base = load_repo(
        "baseimage",
        **{"README.md": b"# shop\n\nOur shop.\n", "Dockerfile": b"FROM python:3.13\n"},
    )
    snap = MemorySnapshot(
        {p: base.read(p) or b"" for p in base.paths() if not p.endswith(".dockerfile")}
    )
    assert extract_facts(snap).published_artifact is None
    assert _rules(snap) == ["contract-missing"]


DEPLOY_AFTER_PUSH = {
    "a Procfile": {"Procfile": b"web: gunicorn main:app\n"},
    "fly.toml": {"fly.toml": b'app = "flask-gunicorn"\n'},
    "Kubernetes manifests": {"k8s/deployment.yaml": b"kind: Deployment\n"},
    "Terraform": {"infra/main.tf": b'resource "aws_ecs_service" "web" {}\n'},
    "a production compose file": {"docker-compose.prod.yml": b"services: {}\n"},
    "a workflow rolling a cluster to the image": {
        ".github/workflows/rollout.yml": b"on: {workflow_run: {workflows: [Release]}}\njobs:\n"
        b"  rollout:\n    runs-on: ubuntu-24.04\n    steps:\n"
        b"      - run: kubectl set image deployment/web web=acme/flask-gunicorn:py3.13\n"
    },
    "a compose production profile": {
        "compose.yaml": b"services:\n  web:\n    image: acme/web\n    profiles: [production]\n"
    },
}


@pytest.mark.parametrize("files", DEPLOY_AFTER_PUSH.values(), ids=DEPLOY_AFTER_PUSH.keys())
def test_a_pushed_image_the_repository_deploys_itself_keeps_its_contract(files):
    snap = load_repo("baseimage", **files)
    facts = extract_facts(snap)
    assert facts.own_deploys and facts.published_artifact is None
    assert _rules(snap) == ["contract-missing"]


def _release_with(extra_step: str) -> bytes:
    text = load_repo("baseimage").read(".github/workflows/release.yml").decode()
    return (text + extra_step).encode()


@pytest.mark.parametrize(
    "step",
    [
        # a deploy hook after the push, in the same job named `deploy`
        '      - run: curl -fsS -X POST "$HOOK"\n        env:\n'
        "          HOOK: ${{ secrets.DEPLOY_HOOK }}\n",
        # a deploy action after it
        "      - uses: appleboy/ssh-action@v1\n        with:\n          script: ./redeploy.sh\n",
        # a known deploy command
        "      - run: flyctl deploy --image acme/flask-gunicorn:py3.13\n",
    ],
    ids=["hook", "ssh", "flyctl"],
)
def test_a_deploy_job_that_deploys_after_the_push_keeps_its_contract(step):
    snap = load_repo("baseimage", **{".github/workflows/release.yml": _release_with(step)})
    release = next(w for w in extract_facts(snap).workflows if w.path.endswith("release.yml"))
    assert release.deploys is not None and release.publishes is not None
    assert _rules(snap) == ["contract-missing"]


def test_an_app_that_pushes_then_rolls_out_its_image_gets_its_contract():
    snap = load_repo("imageapp")
    facts = extract_facts(snap)
    # The README extends the image (`FROM ghcr.io/acme/shop`), as a product's would,
    # but the rollout job deploys it (Azure/k8s-deploy: action names are case-blind).
    assert [f.value for f in facts.publishes] == ["ghcr.io/acme/shop"]  # from metadata-action
    assert [f.value for f in facts.own_deploys] == ["deploy workflow `.github/workflows/ship.yml`"]
    assert facts.published_artifact is None
    assert _rules(snap) == ["contract-missing"]
    text = _contract(snap)
    assert (
        "- `Ship` (`.github/workflows/ship.yml`), on `push`; "
        "deploys — `.github/workflows/ship.yml:39`; "
        "publishes an image — `.github/workflows/ship.yml:25`"
    ) in text
    assert "- `SECRET_KEY` — required — read in `shop/app.py:8`" in text


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("acme/flask-gunicorn:py3.13", "acme/flask-gunicorn"),
        ("docker.io/library/python:3.13@sha256:abc", "python"),
        ("GHCR.io/Acme/Shop:1.0", "ghcr.io/acme/shop"),
        ("localhost:5000/shop", "localhost:5000/shop"),
        ("${{ env.IMAGE }}:latest", None),
        ("$IMAGE", None),
        ("", None),
    ],
)
def test_image_repository_names(reference, repository):
    assert image_repository(reference) == repository


BUILDX_PUSH = (
    "      - name: Build and push\n"
    "        run: |\n"
    "          docker buildx build \\\n"
    "            --platform linux/amd64,linux/arm64 \\\n"
    '            --push -t "acme/flask-gunicorn:py${{ matrix.python }}" \\\n'
    "            -f images/python${{ matrix.python }}.dockerfile images/\n"
)


def _release_built_by(step: str) -> bytes:
    text = load_repo("baseimage").read(".github/workflows/release.yml").decode()
    head, _, tail = text.partition("      - name: Build and push\n")
    return (head + step + tail[tail.index("      - uses: peter-evans") :]).encode()


def test_a_base_image_pushed_by_buildx_in_a_script_gets_no_contract():
    snap = load_repo(
        "baseimage", **{".github/workflows/release.yml": _release_built_by(BUILDX_PUSH)}
    )
    facts = extract_facts(snap)
    assert [(f.value, str(f.source)) for f in facts.publishes] == [
        ("acme/flask-gunicorn", ".github/workflows/release.yml:24")
    ]
    assert facts.own_deploys == ()
    assert _rules(snap) == []


@pytest.mark.parametrize(
    ("script", "images"),
    [
        ("docker buildx build --push -t ghcr.io/acme/shop:1 .", ["ghcr.io/acme/shop"]),
        ("docker build --tag=acme/shop:2 --push .", ["acme/shop"]),
        ("docker buildx build -o type=registry -tacme/shop .", ["acme/shop"]),
        ("docker buildx build --output=type=image,push=true -t acme/shop .", ["acme/shop"]),
        ('docker buildx build --push -t "$IMAGE" .', []),  # pushes, but not a literal name
        ("docker buildx build \\\n  --push \\\n  -t acme/shop .", ["acme/shop"]),
        ("docker build -t acme/shop . && docker push acme/shop", ["acme/shop"]),
        # builds that push nothing: the image stays on the runner
        ("docker buildx build --load -t acme/shop .", None),
        ("docker build -t acme/shop . && echo --push", None),
        ("docker buildx build -o type=docker -t acme/shop .", None),
        ("echo docker buildx build", None),
    ],
)
def test_which_build_scripts_publish(script, images):
    from fixers.production.facts.artifacts import published_images
    from fixers.production.facts.model import conventions

    assert published_images({"run": script}, conventions()) == images
