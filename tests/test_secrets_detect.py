"""The secrets fixer's detect(): push lines, accept-list, ignores, pairing, dotenv, fingerprints."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from fixers.contract import Context, Finding, MemorySnapshot, Severity, fingerprint
from fixers.registry import all_fixers
from fixers.secrets import SecretsFixer
from fixers.secrets.samples import Sample, sample

FIXER = SecretsFixer()


def s(rule: str, seed: int = 1) -> Sample:
    return sample(rule, random.Random(seed))


def detect(files: dict[str, str], ctx: Context | None = None, **snap: object) -> list[Finding]:
    snapshot = MemorySnapshot({p: t.encode() for p, t in files.items()}, **snap)  # type: ignore[arg-type]
    return FIXER.detect(snapshot, ctx or Context())


def test_registered_with_contract_shape() -> None:
    assert any(f.name == "secrets" for f in all_fixers())
    assert FIXER.scope == "file"
    assert "**/*" in FIXER.patterns


def test_finding_fields() -> None:
    st = s("stripe-secret-key")
    (f,) = detect({"app/pay.py": f"import stripe\n\n{st.text}\n"})
    assert (f.fixer, f.rule, f.severity) == ("secrets", "stripe-secret-key", Severity.LEAKED_SECRET)
    assert (f.path, f.line) == ("app/pay.py", 3)
    assert "sk_l****" in f.message and "dashboard.stripe.com" in f.message
    assert "environment variable STRIPE_API_KEY" in f.message
    value_hash = hashlib.sha256(st.secret.encode()).hexdigest()
    assert f.fingerprint == fingerprint("stripe-secret-key", "app/pay.py", value_hash)
    assert f.data["accept_fingerprint"] == fingerprint("stripe-secret-key", value_hash)
    json.dumps(dict(f.data))  # the engine stores it: JSON-serialisable


def test_same_secret_same_fingerprint_across_commits_and_lines() -> None:
    st = s("github-pat-classic")
    a = detect({"a.py": f"{st.text}\n"}, commit="1" * 40)
    b = detect({"a.py": f"# moved\n\n\n{st.text}\n"}, commit="2" * 40)
    assert a[0].fingerprint == b[0].fingerprint and a[0].line != b[0].line


def test_repeated_secret_in_a_file_is_one_finding() -> None:
    st = s("npm-access-token")
    (f,) = detect({"ci.py": f"{st.text}\nOTHER = '{st.token}'\n"})
    assert f.data["occurrences"] == 2


def test_push_scan_reports_only_added_lines() -> None:
    old, new = s("stripe-secret-key", 1), s("slack-token", 2)
    files = {"app.py": f"{old.text}\n{new.text}\n", "other.py": f"{s('npm-access-token').text}\n"}
    found = detect(files, added_lines={"app.py": [2]}, changed=["app.py"])
    assert [(f.rule, f.line) for f in found] == [("slack-token", 2)]
    assert detect(files, added_lines={}, changed=[]) == []
    full = detect(files)
    assert {f.rule for f in full} == {"stripe-secret-key", "slack-token", "npm-access-token"}


def test_push_scan_multiline_key_counts_any_added_line() -> None:
    pk = s("private-key")
    text = f"x = 1\n{pk.token}\n"
    found = detect({"k.txt": text}, added_lines={"k.txt": [4]})
    assert [f.rule for f in found] == ["private-key"]


def test_accepted_by_accept_fingerprint_and_by_finding_fingerprint() -> None:
    a, b = s("stripe-secret-key", 1), s("sendgrid-api-key", 2)
    files = {"x.py": f"{a.text}\n{b.text}\n"}
    first = detect(files)
    by_rule = {f.rule: f for f in first}
    accept_a = by_rule["stripe-secret-key"].data["accept_fingerprint"]
    accept_b = by_rule["sendgrid-api-key"].fingerprint
    ctx = Context(options={"accepted": [accept_a]})
    assert [f.rule for f in detect(files, ctx)] == ["sendgrid-api-key"]
    ctx = Context(options={"accepted": [accept_a, accept_b]})
    assert detect(files, ctx) == []
    # The accept id holds across paths: the same value elsewhere is accepted too.
    ctx = Context(options={"accepted": [accept_a]})
    assert detect({"moved/y.py": f"{a.text}\n"}, ctx) == []


def test_paths_ignore_and_repo_ignores() -> None:
    st = s("stripe-secret-key")
    files = {"tests/fixtures/keys.py": st.text, "docs/setup.md": st.text, "app.py": st.text}
    ctx = Context(options={"paths-ignore": ["tests/fixtures/**"]}, ignore_paths=("docs/**",))
    assert [f.path for f in detect(files, ctx)] == ["app.py"]


def test_aws_key_id_and_secret_pair_into_one_finding() -> None:
    kid, sec = s("aws-access-key-id", 3), s("aws-secret-access-key", 4)
    (f,) = detect({"deploy.py": f"{kid.text}\n\n{sec.text}\n"})
    assert f.rule == "aws-access-key-id"
    assert (f.line, f.end_line) == (1, 3)
    assert f.data["paired"]["rule"] == "aws-secret-access-key"
    assert len(f.data["covers"]) == 2
    assert "AKIA****" in f.message
    # Apart, each is its own finding.
    apart = detect({"a.py": kid.text, "b.py": sec.text})
    assert sorted(f.rule for f in apart) == ["aws-access-key-id", "aws-secret-access-key"]


def test_two_aws_pairs_pair_nearest() -> None:
    k1, s1, k2, s2 = (
        s(r, i) for i, r in enumerate(["aws-access-key-id", "aws-secret-access-key"] * 2)
    )
    text = f"{k1.text}\n{s1.text}\n\n\n\n{k2.text}\n{s2.text}\n"
    found = detect({"x.py": text})
    assert [(f.line, f.end_line) for f in found] == [(1, 2), (6, 7)]


def test_pair_accepted_through_either_half() -> None:
    kid, sec = s("aws-access-key-id", 3), s("aws-secret-access-key", 4)
    files = {"deploy.py": f"{kid.text}\n{sec.text}\n"}
    (f,) = detect(files)
    ctx = Context(options={"accepted": [f.data["paired"]["accept_fingerprint"]]})
    assert detect(files, ctx) == []


@pytest.mark.parametrize("path", [".env", "config/.env", ".env.production", "prod.env"])
def test_committed_dotenv_is_a_finding(path: str) -> None:
    rng = random.Random(3)
    value = "".join(rng.choice("abcdefghkmnpqrstuvwxyz23456789") for _ in range(20))
    found = detect({path: f"DEBUG=1\nAPI_URL=https://api.internal\nSESSION_SECRET={value}\n"})
    found = [f for f in found if f.rule == "dotenv-committed"]
    assert len(found) == 1
    assert found[0].data["names"] == ["DEBUG", "API_URL", "SESSION_SECRET"]


@pytest.mark.parametrize("path", [".env.example", ".env.sample", ".env.template", "x/.env.dist"])
def test_env_examples_are_not_findings(path: str) -> None:
    assert detect({path: "DEBUG=\nAPI_KEY=\nPASSWORD=changeme\n"}) == []


def test_empty_dotenv_is_not_a_finding() -> None:
    assert detect({".env": "# fill me\nAPI_KEY=\n"}) == []


def test_dotenv_with_a_token_reports_both() -> None:
    st = s("stripe-secret-key")
    found = detect({".env": f"STRIPE_KEY={st.token}\n"})
    assert sorted(f.rule for f in found) == ["dotenv-committed", "stripe-secret-key"]


def test_options_tolerate_odd_shapes() -> None:
    st = s("stripe-secret-key")
    ctx = Context(options={"accepted": None, "paths-ignore": "vendorish/**"})
    assert [f.path for f in detect({"vendorish/a.py": st.text, "b.py": st.text}, ctx)] == ["b.py"]
    for odd in ({"accepted": 5, "paths-ignore": {"a": 1}}, {"accepted": [None, {}]}):
        assert [f.path for f in detect({"b.py": st.text}, Context(options=odd))] == ["b.py"]


def test_unreadable_and_binary_files_are_skipped() -> None:
    st = s("stripe-secret-key")
    snap = MemorySnapshot(
        {"a.bin": b"\x00" + st.text.encode(), "b.py": st.text.encode()}, all_paths=["c.py"]
    )
    assert [f.path for f in FIXER.detect(snap, Context())] == ["b.py"]


def test_options_from_the_real_repo_config_loader() -> None:
    from fixers.repo_config import load_repo_config

    a, b = s("stripe-secret-key", 1), s("npm-access-token", 2)
    files = {"app.py": f"{a.text}\n", "tests/fixtures/npm.py": f"{b.text}\n"}
    (accept,) = [f.data["accept_fingerprint"] for f in detect(files) if f.path == "app.py"]
    text = (
        "fixers:\n  secrets:\n    mode: report\n"
        f"    accepted: ['{accept}']\n    paths-ignore: ['tests/fixtures/**']\n"
    )
    config, problems = load_repo_config(text, known_fixers=["secrets"])
    assert problems == []
    ctx = Context(options=config.options_for("secrets"), mode="report")
    assert detect(files, ctx) == []
