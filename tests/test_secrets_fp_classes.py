"""False-positive classes the held-out corpora and real repositories pointed at (issue 15,
fourth pass). Every value here is our own, random and built at run time; each class has a
control that must still be reported.
"""

from __future__ import annotations

import random
import string

import pytest

from fixers.contract import Context, MemorySnapshot, Severity
from fixers.secrets import SecretsFixer
from fixers.secrets.engine import Scanner

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
FIXER = SecretsFixer()


def _rand(alphabet: str, n: int, seed: int = 11) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _rules(path: str, text: str) -> list[str]:
    return sorted(h.rule.id for h in Scanner().scan(path, text.encode()))


def _b64url(n: int, seed: int) -> str:
    return _rand(string.ascii_letters + string.digits + "-_", n, seed)


# -- a name that labels its value a stand-in -----------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        'nonMatchingToken := "{v}"',
        'fakeApiKey = "{v}"',
        'INVALID_TOKEN = "{v}"',
        'wrong_password = "{v}"',
        'const dummySecret = "{v}";',
    ],
)
def test_a_name_that_labels_its_value_fake_is_not_a_secret(line: str) -> None:
    assert _rules("app.go", line.format(v=_rand(ALNUM, 20)) + "\n") == []


@pytest.mark.parametrize("name", ["INVALIDATION_TOKEN", "mockingbird_api_key", "badge_token"])
def test_a_fake_word_inside_another_word_is_not_a_label(name: str) -> None:
    text = f'{name} = "{_rand(ALNUM, 24)}"\n'
    assert _rules("app.py", text) == ["generic-secret-assignment"]


# -- a token that runs on into a mask --------------------------------------------------------


def test_a_token_whose_tail_is_masked_is_not_reported() -> None:
    ids = "-".join(_rand("123456789", 12, seed) for seed in (1, 2, 3))
    masked = f'"user_token": "xoxp-{ids}-{"#" * 20}"\n'
    assert _rules("settings.json", masked) == []
    full = f'"user_token": "xoxp-{ids}-{_rand(HEX, 32)}"\n'
    assert _rules("settings.json", full) == ["slack-token"]


def test_an_id_before_masked_secret_text_is_not_reported() -> None:
    # `<id>==:<secret>` with the secret masked: the id alone is not the credential.
    ident = _rand(ALNUM, 22, 5) + "=="
    assert _rules(".env.local", f"TOKEN={ident}:{'x' * 32}\n") == []
    assert _rules(".env.local", f"TOKEN={ident}:{_rand(ALNUM, 32, 6)}\n") != []


def test_a_slack_token_with_typed_short_ids_is_not_the_slack_format() -> None:
    typed = f"xoxp-1234-5678-9012-{_rand(HEX, 32)}"
    assert "slack-token" not in _rules("notes.txt", f"see {typed}\n")
    real = "xoxp-" + "-".join(_rand("123456789", 11, s) for s in (4, 5, 6)) + "-" + _rand(HEX, 32)
    assert _rules("notes.txt", f"see {real}\n") == ["slack-token"]


# -- stand-in shapes -------------------------------------------------------------------------


def test_a_jwt_signed_with_a_word_is_a_stand_in() -> None:
    head, body = "eyJ" + _b64url(20, 1), "eyJ" + _b64url(30, 2)
    assert _rules(".env.local", f"API_TOKEN={head}.{body}.signature\n") == []
    real = f"API_TOKEN={head}.{body}.{_b64url(43, 3)}\n"
    assert _rules(".env.local", real) != []


def test_an_xml_qualified_type_name_is_not_a_token() -> None:
    text = 'token: "ns48213:ShipmentCarrierCodeContentType"\n'
    assert _rules("schema.yaml", text) == []


def test_a_masked_provider_token_as_fallback_is_not_an_insecure_default() -> None:
    masked = 'HF = os.environ.get("HF_AUTH_TOKEN", "hf_' + "x" * 34 + '")\n'
    assert _rules("app.py", masked) == []
    # A signing key's fallback is a key the app would sign with, masked-looking or not.
    weak = 'SECRET_KEY = os.environ.get("SECRET_KEY", "' + "x" * 12 + '")\n'
    assert _rules("app.py", weak) == ["fallback-secret-python"]


def test_metasyntactic_userinfo_in_a_url_is_not_a_password() -> None:
    for userinfo in ("foo:bar", "user:pass", "foo:baz"):
        assert _rules("urls.json", f'"input": "redis://{userinfo}@cache:6379/0"\n') == []
    real = f'"input": "redis://app:{_rand(ALNUM, 16)}@cache:6379/0"\n'
    assert _rules("urls.json", real) == ["database-url-password"]


def test_the_next_attribute_of_a_tag_is_not_a_typed_assignment() -> None:
    jsx = '<Link as={RouterLink} to="/recover-password" color="blue.500">\n'
    assert _rules("login.tsx", jsx) == []
    value = _rand(ALNUM, 14, 8)
    go = f'var password string = "{value}"\n'
    assert _rules("main.go", go) == ["generic-password-assignment"]


# -- files a test names ----------------------------------------------------------------------


def _detect(files: dict[str, str]) -> dict[str, Severity]:
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    return {f.path or "": f.severity for f in FIXER.detect(snap, Context())}


def test_a_data_file_a_test_names_by_path_is_a_fixture() -> None:
    url = f"postgres://app:{_rand(ALNUM, 18, 9)}@db:5432/app\n"
    found = _detect(
        {
            "samples/urls.yaml": f"url: {url}",
            "tests/test_urls.py": 'DATA = open("samples/urls.yaml").read()\n',
            "tests/unit/test_local.py": 'DATA = (HERE / "data/local.toml").read_text()\n',
            "tests/unit/data/local.toml": f'url = "{url.strip()}"\n',
            "config/urls.yaml": f"url: {url}",
        }
    )
    assert found["samples/urls.yaml"] == Severity.HYGIENE
    assert found["tests/unit/data/local.toml"] == Severity.HYGIENE
    assert found["config/urls.yaml"] == Severity.LEAKED_SECRET


def test_a_bare_file_name_or_source_code_a_test_names_is_not_a_fixture() -> None:
    secret = f'API_TOKEN = "{_rand(ALNUM, 24, 10)}"\n'
    found = _detect(
        {
            "config/settings.yaml": f"api_token: {_rand(ALNUM, 24, 10)}\n",
            "app/settings.py": secret,
            "tests/test_settings.py": ('load("settings.yaml")\nmock.patch("app/settings.py")\n'),
        }
    )
    assert found["config/settings.yaml"] == Severity.LEAKED_SECRET
    assert found["app/settings.py"] == Severity.LEAKED_SECRET


def test_basic_credentials_of_stand_in_words_are_an_example_header() -> None:
    import base64

    def header(userinfo: str) -> str:
        encoded = base64.b64encode(userinfo.encode()).decode()
        return f'headers = {{"Authorization": "Basic {encoded}"}}\n'

    for userinfo in ("username:password", "foo:bar", "user:pass"):
        assert _rules("client.py", header(userinfo)) == []
    assert _rules("client.py", header(f"deploy:{_rand(ALNUM, 18, 12)}")) == ["authorization-header"]


def test_a_django_apps_tests_module_is_test_code() -> None:
    # `manage.py startapp` writes `<app>/tests.py`: its users and passwords are fixtures.
    line = f'User.objects.create_user(username="u1", password="{_rand(ALNUM, 14, 13)}")\n'
    found = _detect({"blog/tests.py": line, "blog/views.py": line})
    assert found == {"blog/tests.py": Severity.HYGIENE, "blog/views.py": Severity.LEAKED_SECRET}


def test_stripes_documented_sample_key_is_a_published_example() -> None:
    # The API reference's sample test key, split so no scanner takes this file for a leak.
    sample = "sk_" + "test_" + "BQokikJOvB" + "iI2HlWgH4olfQ2"
    assert _rules(".env.example", f"STRIPE_SKEY={sample}\n") == []
    assert _rules(".env.example", f"STRIPE_SKEY=sk_test_{_rand(ALNUM, 24, 14)}\n") == [
        "stripe-secret-key"
    ]


def test_a_docs_source_tree_is_documentation() -> None:
    # FastAPI keeps its tutorials' runnable code under docs_src/.
    line = f'SECRET_KEY = "{_rand(HEX, 64, 15)}"\n'
    found = _detect({"docs_src/security/tutorial004.py": line, "app/core/config.py": line})
    assert found["docs_src/security/tutorial004.py"] == Severity.HYGIENE
    assert found["app/core/config.py"] == Severity.LEAKED_SECRET


def test_hex_speak_is_a_stand_in() -> None:
    assert _rules("http.py", '"""Send `Authorization: Bearer deadbeef12346`."""\n') == []


@pytest.mark.parametrize(
    ("line", "severity"),
    [
        ('POSTHOG_API_KEY = "phc_{v}"', Severity.HYGIENE),
        ('STRIPE_SECRET_KEY = "sk_live_{v}"', Severity.LEAKED_SECRET),
    ],
)
def test_publishable_keys_are_reported_low(line: str, severity: Severity) -> None:
    found = FIXER.detect(
        MemorySnapshot({"app/analytics.py": line.format(v=_rand(ALNUM, 43, 16)).encode()}),
        Context(),
    )
    assert [f.severity for f in found] == [severity]
    assert found[0].data.get("report_only", False) is (severity == Severity.HYGIENE)
