"""Secret rules: true and false positives per rule, on both engines, and the rule data.

Samples are built from each provider's documented format at run time
(``fixers.secrets.samples``) so no credential-shaped literal sits in this repository.
"""

from __future__ import annotations

import random
import re
import string
import tomllib
from datetime import date
from pathlib import Path

import pytest

from fixers.secrets.engine import Scanner
from fixers.secrets.rules import RULES_FILE, default_ruleset, shannon_entropy
from fixers.secrets.samples import ALNUM, HEX, SAMPLERS, URLSAFE, all_samples, sample

ENGINES = ["re", "hyperscan"]
RULE_IDS = [r.id for r in default_ruleset().regex_rules]


def _rand(alphabet: str, n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


@pytest.fixture(scope="module", params=ENGINES)
def scanner(request: pytest.FixtureRequest) -> Scanner:
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    return Scanner(engine=request.param)


def rules_in(scanner: Scanner, text: str, path: str = "app/settings.py") -> list[str]:
    return [h.rule.id for h in scanner.scan(path, text.encode())]


# -- the data ------------------------------------------------------------------------


def test_every_rule_is_documented_and_reviewed() -> None:
    rs = default_ruleset()
    assert date.fromisoformat(rs.reviewed) <= date(2026, 11, 23)
    for rule in rs.rules:
        assert re.fullmatch(r"[a-z0-9-]+", rule.id), rule.id
        assert rule.source.startswith("https://"), rule.id
        assert rule.title and rule.provider
        if rule.provider not in {"generic", "database", "jwt", "private-key", "dotenv"}:
            assert rule.provider in rs.revocations, rule.id
    for rev in rs.revocations.values():
        assert rev.revoke.startswith("https://")


def test_every_regex_rule_has_a_sampler() -> None:
    assert set(RULE_IDS) == set(SAMPLERS)


def test_the_issue_rule_list_is_covered() -> None:
    required = {
        "aws-access-key-id", "aws-secret-access-key", "github-pat-classic",
        "github-pat-fine-grained", "github-app-installation-token", "github-oauth-token",
        "github-refresh-token", "gitlab-pat", "slack-token", "slack-webhook-url",
        "stripe-secret-key", "google-api-key", "google-service-account-key", "openai-api-key",
        "anthropic-api-key", "twilio-api-key", "sendgrid-api-key", "mailgun-api-key",
        "npm-access-token", "pypi-upload-token", "heroku-api-key",
        "azure-storage-connection-string", "private-key", "jwt", "database-url-password",
        "generic-password-assignment", "generic-secret-assignment", "dotenv-committed",
    }  # fmt: skip
    assert required <= {r.id for r in default_ruleset().rules}


def test_entropy_orders_random_above_words() -> None:
    assert shannon_entropy("aaaaaaaa") == 0
    assert shannon_entropy(_rand(ALNUM, 40)) > 4
    assert shannon_entropy("password") < 3


# -- true positives --------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_true_positive(scanner: Scanner, rule_id: str) -> None:
    for seed in range(5):
        s = sample(rule_id, random.Random(seed))
        hits = scanner.scan("app/settings.py", (s.text + "\n").encode())
        assert [h.rule.id for h in hits] == [rule_id], (rule_id, seed)
        same_value = hits[0].value == s.secret
        assert same_value, (rule_id, seed)  # a boolean: failures never print the value
        assert hits[0].line == 1


def _bare_value_rules() -> tuple[list[str], list[str]]:
    """(rules whose value alone is the credential, keyword-anchored rules).

    Multi-line and assignment-shaped rules (private keys, service-account JSON, the generic
    assignments) are tested in their own shapes below, so they are in neither list."""
    bare, anchored = [], []
    for rule in default_ruleset().regex_rules:
        token = sample(rule.id, random.Random(11)).token
        if (
            "\n" in token
            or rule.id.startswith("generic")
            or rule.id == "google-service-account-key"
        ):
            continue
        (anchored if rule.contextual else bare).append(rule.id)
    return bare, anchored


BARE_RULE_IDS, ANCHORED_RULE_IDS = _bare_value_rules()


def _other_contexts(token: str) -> tuple[tuple[str, str], ...]:
    return (
        ("web/a.js", f"const client = make({{ key: '{token}' }});\n"),
        ("deploy.yml", f"deploy:\n  credentials:\n    value: {token}\n"),
        ("notes.sh", f"# rotate this: {token} (old)\n"),
    )


@pytest.mark.parametrize("rule_id", BARE_RULE_IDS)
def test_true_positive_in_other_contexts(scanner: Scanner, rule_id: str) -> None:
    s = sample(rule_id, random.Random(11))
    for path, text in _other_contexts(s.token):
        assert rules_in(scanner, text, path) == [rule_id], (rule_id, path)


def test_keyword_anchored_rules_need_their_keyword(scanner: Scanner) -> None:
    # By design the bare value is not enough: `test_true_positive` finds each one next to
    # its keyword, here the same values under names that are not theirs are not findings.
    assert len(ANCHORED_RULE_IDS) >= 30
    for rule_id in ANCHORED_RULE_IDS:
        s = sample(rule_id, random.Random(11))
        for path, text in _other_contexts(s.token):
            assert rule_id not in rules_in(scanner, text, path), (rule_id, path)


def test_every_regex_rule_is_tested_in_some_shape() -> None:
    shaped = {"google-service-account-key", "private-key"}  # their own tests below
    generic = {r for r in RULE_IDS if r.startswith("generic")}  # test_generic_* below
    assert set(BARE_RULE_IDS) | set(ANCHORED_RULE_IDS) | shaped | generic == set(RULE_IDS)


TYPED = (  # a type annotation between the name and `=`, in the languages that have one
    ("a.ts", 'export const {name}: string = "{token}";\n'),
    ("a.ts", '  private readonly {name}?: string = "{token}";\n'),
    ("a.py", '{name}: str = "{token}"\n'),
    ("a.py", '{name}: Final[str] = "{token}"\n'),
    ("a.kt", 'val {name}: String? = "{token}"\n'),
    ("a.rs", 'const {name}: &str = "{token}";\n'),
    ("a.rs", 'static {name}: &\'static str = "{token}";\n'),
)


def test_type_annotations_before_the_assignment(scanner: Scanner) -> None:
    # The benchmark's misses: `export const SQUARESPACE_API_KEY: string = "..."`.
    data = tomllib.loads(RULES_FILE.read_text("utf-8"))
    built = [r["id"] for r in data["rule"] if "anchor" in r]  # rules.anchored_regex's
    assert len(built) >= 20
    for rule_id in built:
        s = sample(rule_id, random.Random(11))
        name = s.text.split(" = ", 1)[0]
        if s.text != f'{name} = "{s.token}"':
            continue  # a sample in a shape of its own (a header, a URL)
        for path, shape in TYPED:
            text = shape.format(name=name, token=s.token)
            assert rule_id in rules_in(scanner, text, path), (rule_id, shape)
    tok = _rand(ALNUM, 30, seed=13) + "7"
    for path, shape in TYPED:
        text = shape.format(name="deployToken", token=tok)
        assert rules_in(scanner, text, path) == ["generic-secret-assignment"], shape


def test_generic_password_forms(scanner: Scanner) -> None:
    pw = _rand(ALNUM, 12) + "7!"
    cases = {
        "app.py": f'DB_PASSWORD = "{pw}"\n',
        "app.js": f"const adminPassword = '{pw}';\n",
        "config.yml": f"database:\n  password: {pw}\n",
        "settings.ini": f"[db]\npassword = {pw}\n",
        "conf.json": f'{{"smtp_password": "{pw}"}}\n',
        "run.py": f'connect(host="db", password="{pw}")\n',
        "admin.py": f'admin_password = "{pw}"\n',
        "acct.yml": f"account_password: {pw}\n",
        "prof.py": f'profile_password = "{pw}"\n',
    }
    for path, text in cases.items():
        assert rules_in(scanner, text, path) == ["generic-password-assignment"], path


def test_generic_secret_forms(scanner: Scanner) -> None:
    tok = _rand(HEX, 32) + "9"
    cases = {
        "app.py": f'SECRET_KEY = "{tok}"\n',
        "app.ts": f'const apiKey: string = "{tok}";\n',
        "config.yaml": f"auth:\n  client_secret: {tok}\n",
    }
    for path, text in cases.items():
        assert rules_in(scanner, text, path) == ["generic-secret-assignment"], path


def test_generic_secret_in_every_language_shape(scanner: Scanner) -> None:
    tok = _rand(ALNUM, 30, seed=3) + "7"
    cases = {
        "main.go": f'var deployToken string = "{tok}"\n',
        "short.go": f"deployToken := `{tok}`\n",
        "conf.php": f'$deployToken .= "{tok}";\n',
        "arr.php": f"$cfg['deploy_token'] = '{tok}';\n",
        "Makefile.conf": f'DEPLOY_TOKEN ?= "{tok}"\n',
        "simple.conf": f'DEPLOY_TOKEN ::= "{tok}"\n',
        "posix.conf": f'DEPLOY_TOKEN :::= "{tok}"\n',
        "Main.java": f'System.setProperty("DEPLOY_TOKEN", "{tok}");\n',
        "App.kt": f'val deployToken: String = "{tok}"\n',
        "pipeline.conf": f'  "deployToken" => "{tok}"\n',
    }
    for path, text in cases.items():
        assert rules_in(scanner, text, path) == ["generic-secret-assignment"], path


def test_secret_xml_elements(scanner: Scanner) -> None:
    tok = _rand(ALNUM, 28, seed=4) + "5"
    one_line = f"<server>\n  <apiToken>{tok}</apiToken>\n</server>\n"
    multi = f"<server>\n  <apiToken>\n    {tok}\n  </apiToken>\n</server>\n"
    for text in (one_line, multi):
        hits = scanner.scan("settings.xml", text.encode())
        assert [h.rule.id for h in hits] == ["generic-secret-xml-element"]
        assert hits[0].name == "apiToken"
    not_secrets = [
        "<apiToken>${env.API_TOKEN}</apiToken>\n",  # a Maven property reference
        "<apiToken></apiToken>\n",
        f"<apiToken>{tok}</otherToken>\n",  # tags that do not close each other
        "<tokenLifetime>3600</tokenLifetime>\n",
        "<password>changeit</password>\n",
    ]
    for text in not_secrets:
        assert rules_in(scanner, text, "settings.xml") == [], text


def test_a_call_with_a_name_is_not_an_assignment(scanner: Scanner) -> None:
    tok = _rand(ALNUM, 30, seed=5) + "1"
    # A comma only assigns after a quoted name: `f(token, "...")` passes two arguments.
    assert rules_in(scanner, f'sign(token, "{tok}")\n', "a.py") == []


def test_private_key_openssh_and_pem(scanner: Scanner) -> None:
    for kind in ("OPENSSH ", "RSA ", "EC ", "", "ENCRYPTED "):
        body = "\n".join(_rand(string.ascii_letters + "+/", 64, seed=i) for i in range(5))
        text = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----\n"
        hits = scanner.scan("deploy/id_key", text.encode())
        assert [h.rule.id for h in hits] == ["private-key"], kind
        assert (hits[0].line, hits[0].end_line) == (1, 7)


# -- false positives --------------------------------------------------------------------


def _fp_cases() -> dict[str, list[str]]:
    short36 = _rand(ALNUM, 35)
    return {
        "aws-access-key-id": [
            'ref = "AKIAIOSFODNN7' + 'EXAMPLE"',  # AWS's documented example
            'ref = "AKIA' + "ABCDEFGHIJ234" + '"',  # too short
            'ref = "XAKIA' + _rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) + '"',
        ],
        "aws-secret-access-key": [
            'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY' + 'EXAMPLEKEY"',
            f'ref = "{_rand(ALNUM, 40)}"',  # 40 chars with no AWS context
        ],
        "github-pat-classic": [f'ref = "ghp_{short36}"', 'ref = "ghp_' + "x" * 36 + '"'],
        "github-pat-fine-grained": [f'ref = "github_pat_{_rand(ALNUM, 40)}"'],
        "github-app-installation-token": [f'ref = "ghs_{short36}"'],
        "github-oauth-token": ['ref = "gho_' + "0" * 36 + '"'],
        "github-refresh-token": [f'ref = "ghr_{_rand(ALNUM, 20)}"'],
        "gitlab-pat": ['ref = "glpat-' + "x" * 20 + '"', 'ref = "glpat-abc"'],
        "slack-token": ['ref = "xoxb-your-bot-token-here"'],
        "slack-webhook-url": [
            'ref = "https://hooks.slack.com/services/T00000000/B00000000/' + "X" * 24 + '"'
        ],
        "stripe-secret-key": [
            f'ref = "pk_live_{_rand(ALNUM, 24)}"',  # publishable keys are public
            'ref = "sk_live_' + "1234" + '"',
        ],
        "google-api-key": [f'ref = "AIza{_rand(URLSAFE, 20)}"'],
        "google-service-account-key": ['  "private_key": "",', '  "private_key": "...",'],
        "openai-api-key": [f'ref = "sk-{_rand(ALNUM, 48)}"'],
        "anthropic-api-key": ['ref = "sk-ant-api03-your-key-here"'],
        "twilio-api-key": ['ref = "SK' + "0" * 32 + '"', f'ref = "SK{_rand(HEX, 31)}"'],
        "twilio-auth-token": ['TWILIO_AUTH_TOKEN = os.environ["TWILIO_AUTH_TOKEN"]'],
        "sendgrid-api-key": [f'ref = "SG.{_rand(URLSAFE, 10)}.{_rand(URLSAFE, 10)}"'],
        "mailgun-api-key": [f'ref = "key-{_rand(HEX, 31)}"', 'ref = "key-' + "x" * 32 + '"'],
        "npm-access-token": ['ref = "npm_install_dependencies_from_the_registry"'],
        "pypi-upload-token": [f'ref = "pypi-{_rand(URLSAFE, 60)}"'],
        "heroku-api-key": [f'ref = "HRKU-{_rand(URLSAFE, 20)}"'],
        "heroku-api-key-legacy": ['request_id = "6f1d2c3b-4a5e-4f60-9a7b-8c9d0e1f2a3b"'],
        "huggingface-token": ['ref = "hf_' + "x" * 34 + '"', 'ref = "hf_hub_download_file"'],
        "digitalocean-token": [f'ref = "dop_v1_{_rand(HEX, 40)}"'],
        "shopify-token": [f'ref = "shpat_{_rand(HEX, 20)}"'],
        "vault-token": [f'ref = "hvs.{_rand(URLSAFE, 24)}"'],  # too short for a service token
        "azure-storage-connection-string": [
            'ref = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<your-key>"',
            'ref = "UseDevelopmentStorage=true"',
        ],
        "private-key": [
            "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
            "-----BEGIN PUBLIC KEY-----\n" + _rand(ALNUM, 64) + "\n-----END PUBLIC KEY-----",
        ],
        "jwt": ['ref = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"'],
        "database-url-password": [
            'DATABASE_URL = "postgres://app:${DB_PASSWORD}@db/app"',
            'DATABASE_URL = "postgres://postgres:postgres@localhost:5432/app"',
            'DATABASE_URL = "postgresql://localhost/app"',
            'DATABASE_URL = "mysql://root:password@127.0.0.1/app"',
            'DATABASE_URL = "postgres://app:<password>@db/app"',
            'REDIS_URL = "redis://:changeme@cache:6379/0"',
        ],
        "generic-password-assignment": [
            'password = os.environ["DB_PASSWORD"]',
            'password = "changeme"',
            'password = ""',
            'PASSWORD_FIELD = "password"',
            "password = get_password(user)",
            'if password == "hunter2":',
            'password_env = "DB_PASSWORD"',
            'label = "Enter password: "',
            'password = "xxxxxxxxxxxx"',
            'password = "${DB_PASSWORD}"',
            'password = "<your-password>"',
            'password = "{{ db_password }}"',
            'password = "aaaaaaaaaa"',
            'password = "example-password"',
            'password = "dummy1234"',
        ],
        "generic-password-assignment (config)": [
            "password_reset_timeout: 86400",
            "password: !vault |",
            "min_password_length: 12",
            'PASSWORD_HASH_ROUNDS = "120000"',
            "password_file: /run/secrets/db_password",
            '<input type="password" name="password" placeholder="Password">',
        ],
        "generic-secret-assignment (config)": [
            "secret_name: app-tls-2024",
            "token_ttl: 3600s",
            "api_key_header: X-Api-Key",
            "access_key_id: AKIA-in-vault-7",
        ],
        "generic-secret-assignment": [
            'token = request.args["token"]',
            "secret_key = settings.SECRET_KEY",
            'token_type = "bearer"',
            'SECRET_KEY_ENV = "DJANGO_SECRET_KEY"',
            'api_key = "your-api-key-here"',
            'csrf_token = "csrfmiddlewaretoken"',
            'secret = "${SECRET}"',
            'token = "Bearer"',
            'access_key_path = "/etc/keys/access.key"',
        ],
    }


FP = _fp_cases()


@pytest.mark.parametrize("rule_id", sorted(FP))
def test_false_positive(scanner: Scanner, rule_id: str) -> None:
    path = "config/app.yml" if rule_id.endswith("(config)") else "app/settings.py"
    for text in FP[rule_id]:
        assert rules_in(scanner, text + "\n", path) == [], (rule_id, text)


def test_yaml_placeholders_are_not_findings(scanner: Scanner) -> None:
    text = (
        "env:\n"
        "  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n"
        "  password: ${DB_PASSWORD}\n"
        "  api_key: <your-key>\n"
        "  secret: changeme\n"
        "  token: xxxxxxxxxxxxxxxx\n"
        "  password: '%(db_password)s'\n"
    )
    assert rules_in(scanner, text, ".github/workflows/ci.yml") == []


def test_every_fp_rule_list_names_a_real_rule() -> None:
    assert {k.removesuffix(" (config)") for k in FP} <= set(RULE_IDS)


# -- allow markers and skipped files ---------------------------------------------------


@pytest.mark.parametrize(
    "marker",
    ["# patchwell:allow", "# gitleaks:allow", "// betterleaks:allow",
     "# pragma: allowlist secret", "# trufflehog:ignore", "# ggignore"],
)  # fmt: skip
def test_inline_allow_markers(scanner: Scanner, marker: str) -> None:
    s = sample("stripe-secret-key", random.Random(1))
    assert rules_in(scanner, f"{s.text}  {marker}\n") == []
    assert rules_in(scanner, f"{s.text}\n") == ["stripe-secret-key"]


def test_detect_secrets_nextline_marker(scanner: Scanner) -> None:
    s = sample("github-pat-classic", random.Random(1))
    assert rules_in(scanner, f"# pragma: allowlist nextline secret\n{s.text}\n") == []


@pytest.mark.parametrize(
    "path",
    ["node_modules/x/index.js", "vendor/lib.py", "package-lock.json", "poetry.lock",
     "static/app.min.js", "img/logo.png"],
)  # fmt: skip
def test_skipped_paths(path: str) -> None:
    s = sample("stripe-secret-key", random.Random(1))
    scanner = Scanner()
    assert scanner.skip_reason(path, s.text.encode()) is not None


def test_binary_and_minified_content_skipped() -> None:
    s = sample("stripe-secret-key", random.Random(1))
    scanner = Scanner()
    assert scanner.skip_reason("a.dat", b"\x00\x01" + s.text.encode()) == "binary content"
    minified = ("var a=1;" * 2000 + s.text).encode()
    assert scanner.skip_reason("bundle.js", minified) == "minified content"
    assert scanner.skip_reason("app.py", s.text.encode()) is None


def test_hostile_input_is_bounded(scanner: Scanner) -> None:
    # Invalid UTF-8, a very long line, unbalanced quotes, a lone PEM header: no crash.
    junk = b"\xff\xfe password = '" + b"a" * 200_000 + b"\n-----BEGIN PRIVATE KEY-----\n'\"`"
    assert scanner.scan("weird.py", junk) == []
    s = sample("npm-access-token", random.Random(2))
    mixed = b"\xff\xfe\n" + s.text.encode() + b"\n"
    assert [h.rule.id for h in scanner.scan("weird.py", mixed)] == ["npm-access-token"]


def test_specific_rule_wins_over_generic(scanner: Scanner) -> None:
    s = sample("stripe-secret-key", random.Random(4))
    assert rules_in(scanner, f'api_key = "{s.token}"\n') == ["stripe-secret-key"]


def test_hit_repr_never_shows_the_value(scanner: Scanner) -> None:
    s = sample("openai-api-key", random.Random(5))
    (hit,) = scanner.scan("a.py", s.text.encode())
    hidden = s.secret not in repr(hit) and s.secret not in str(hit)
    assert hidden


def test_engines_agree_on_mixed_corpus() -> None:
    pytest.importorskip("hyperscan")
    hs, plain = Scanner(engine="hyperscan"), Scanner(engine="re")
    rng = random.Random(3)
    prefixes = ["", "DATA", "x = ", "  ", "foo(", "[", "key: ", "# ", "export "]
    for seed in range(8):
        for s in all_samples(seed):
            noise = "".join(rng.choice(string.printable) for _ in range(60))
            prefix = rng.choice(prefixes)
            text = f"{prefix} {s.text}\n{noise}\n"
            for path in ("c.yml", "c.py"):  # config files and code use different prefilters
                a = [(h.rule.id, h.start) for h in hs.scan(path, text.encode())]
                b = [(h.rule.id, h.start) for h in plain.scan(path, text.encode())]
                assert a == b, (s.rule, path)
                commented_config = path == "c.yml" and prefix == "# "
                if not (commented_config and s.rule.startswith("generic")):
                    assert s.rule in [r for r, _ in a]


# -- malformed rule data fails loudly, at load ----------------------------------------------


def _write_rules(tmp_path: Path, body: str) -> tuple[Path, Path, Path]:
    from fixers.secrets.rules import PLACEHOLDERS_FILE, REVOCATION_FILE

    rules = tmp_path / "rules.toml"
    rules.write_text(body)
    return rules, PLACEHOLDERS_FILE, REVOCATION_FILE


@pytest.mark.parametrize(
    "body",
    [
        "[[rule]]\nid = 'x'\nprovider = 'p'\ntitle = 't'\nregex = '(unclosed'\nsource = 'https://a'\n",
        "[[rule]]\nid = 'x'\nprovider = 'p'\ntitle = 't'\nregex = 'a'\n",  # no source
        "[[rule]]\nid = 'x'\nprovider = 'p'\ntitle = 't'\nregex = 'a'\nsource = 's'\n" * 2,
        "[[rule]]\nid = 'x'\nprovider = 'p'\ntitle = 't'\nregex = 'a'\nsource = 's'\n"
        "case_insensitive = true\nhs_regex = '\\S+'\n",
        "not toml at all [",
    ],
)
def test_malformed_rule_data_raises(tmp_path: Path, body: str) -> None:
    from fixers.secrets.rules import RuleDataError, load_ruleset

    with pytest.raises(RuleDataError):
        load_ruleset(*_write_rules(tmp_path, body))


def test_custom_ruleset_runs_on_both_engines(tmp_path: Path) -> None:
    from fixers.secrets.rules import load_ruleset

    body = (
        "[[rule]]\nid = 'acme-key'\nprovider = 'acme'\ntitle = 'ACME key'\n"
        "regex = '''\\b(acme_[a-z0-9]{20})\\b'''\nkeywords = ['acme_']\nsecret_groups = [1]\n"
        "min_entropy = 3.0\nenv = 'ACME_KEY'\nsource = 'https://acme.example/keys'\n"
    )
    rs = load_ruleset(*_write_rules(tmp_path, body))
    token = "acme_" + _rand(string.ascii_lowercase + string.digits, 20)
    for engine in ENGINES:
        if engine == "hyperscan":
            pytest.importorskip("hyperscan")
        hits = Scanner(rs, engine=engine).scan("a.py", f'K = "{token}"\n'.encode())  # type: ignore[arg-type]
        assert [h.rule.id for h in hits] == ["acme-key"]


# -- placeholder classes seen in peers' negatives and real repositories ---------------------


def test_typed_stand_ins_are_placeholders() -> None:
    ph = default_ruleset().placeholders
    typed = [
        "abc123def456ghi789jkl012mno345",  # keyboard runs
        "sbp_1234567890abcdefghij1234567890klmnop",
        "xoxp-5723705293-5738073011-5723316911-" + "#" * 20,  # masked
        "xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere",
        "{access_token}",
        "getPagesInConfluenceSpace",
        "ops_eyJzaWduSW5B..",  # cut short for display
    ]
    typed += ["{API_KEY}", "{apiKey2}", "{client.secret}", "{api-key-v2}"]
    for value in typed:
        assert ph.is_placeholder(value, generic=False), value
    # A value typed inside the docs' braces is still a value.
    for value in ("{ZqL5kVrX1n8tA2}", "{acd3c08b-74e8-4f44-a2d0-80694fe24f46}", "{9fK2mQ7xL4}"):
        assert not ph.is_placeholder(value, generic=False), value
    guid = "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"  # a .NET GUID in braces is an id
    assert ph.is_placeholder(guid, generic=True) and not ph.is_placeholder(guid, generic=False)
    for seed in range(200):  # random tokens of every alphabet stay findings
        for alphabet in (ALNUM, HEX, string.digits, URLSAFE):
            value = _rand(alphabet, 32, seed=seed)
            assert not ph.is_placeholder(value, generic=False), (alphabet, seed)


def test_published_example_values_are_listed_by_hash(tmp_path: Path) -> None:
    import hashlib

    from fixers.secrets.rules import PLACEHOLDERS_FILE, REVOCATION_FILE, RULES_FILE, load_ruleset

    value = "AIza" + _rand(URLSAFE, 35, seed=9)
    digest = hashlib.sha256(value.encode()).hexdigest()
    extra = f'\n[[public]]\nwhat = "t"\nsource = "https://a"\nsha256 = ["{digest}"]\n'
    ph_file = tmp_path / "placeholders.toml"
    ph_file.write_text(PLACEHOLDERS_FILE.read_text() + extra)
    rs = load_ruleset(RULES_FILE, ph_file, REVOCATION_FILE)
    assert rs.placeholders.is_placeholder(value, generic=False)
    assert not default_ruleset().placeholders.is_placeholder(value, generic=False)
    assert len(default_ruleset().placeholders.public_sha256) >= 9


def test_provider_keyword_must_start_a_word(scanner: Scanner) -> None:
    tok = _rand(string.ascii_lowercase + string.digits, 24, seed=12)
    # `etsy` inside `SetSysctl` is a coincidence; `ETSY_KEY` and `myEtsyKey` name Etsy.
    assert rules_in(scanner, f'SetSysctl = "{tok}"\n', "a.txt") == []
    assert rules_in(scanner, f'ETSY_KEY = "{tok}"\n', "a.txt") == ["etsy-token"]
    assert rules_in(scanner, f'myEtsyKey = "{tok}"\n', "a.js") == ["etsy-token"]
    assert rules_in(scanner, f'var etsyKey string = "{tok}"\n', "a.go") == ["etsy-token"]


def test_numeric_secrets_are_judged_against_their_alphabet(scanner: Scanner) -> None:
    from fixers.secrets.rules import entropy_ok

    digits = "".join(str((i * 7 + i // 3) % 10) for i in range(32))
    assert shannon_entropy(digits) < 3.3
    assert entropy_ok(digits, 3.0) and not entropy_ok("1" * 31 + "2", 3.0)


def test_http_credentials_in_requests(scanner: Scanner) -> None:
    tok = _rand(ALNUM, 40, seed=21) + "3"
    pw = _rand(ALNUM, 14, seed=22) + "9"
    cases = {
        "api.py": (f'headers = {{"Authorization": "Bearer {tok}"}}\n', "authorization-header"),
        "call.sh": (
            f'curl -H "Authorization: Basic {tok}" https://a.example.net\n',
            "authorization-header",
        ),
        "gl.sh": (
            f"curl --header 'PRIVATE-TOKEN: {tok}' https://gitlab.example.net\n",
            "credential-request-header",
        ),
        "basic.sh": (f"curl -s --user 'deploy:{pw}' https://ci.example.net\n", "curl-basic-auth"),
    }
    for path, (text, rule) in cases.items():
        assert rules_in(scanner, text, path) == [rule], path
    references = [
        'curl -H "Authorization: Bearer $TOKEN" https://a.example.net\n',
        'curl -H "Authorization: Bearer ${API_TOKEN}" https://a.example.net\n',
        "curl -u $USER:$PASSWORD https://a.example.net\n",
        'curl --user "{username}":"{password}" https://a.example.net\n',
        'headers = {"Authorization": "Bearer <your-token>"}\n',
    ]
    for text in references:
        assert rules_in(scanner, text, "call.sh") == [], text


def test_every_rule_has_a_review_date() -> None:
    for rule in default_ruleset().rules:
        # Never in the future: a review date says when the format was last checked.
        assert date(2026, 1, 1) <= date.fromisoformat(rule.reviewed) <= date.today(), rule.id


def test_curl_user_on_a_continuation_line(scanner: Scanner) -> None:
    pw = _rand(ALNUM, 16, seed=31) + "4"
    text = f"curl -X POST https://api.example.net/v1 \\\n  -d 'x=1' \\\n  -u deploy:{pw}\n"
    assert rules_in(scanner, text, "deploy.sh") == ["curl-basic-auth"]
    assert rules_in(scanner, "  -u $DEPLOY_USER:$DEPLOY_PASSWORD \\\n", "deploy.sh") == []
