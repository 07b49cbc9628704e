"""Synthetic credentials in each provider's documented format, built at run time.

Used by the tests and by ``benchmarks/secrets.py`` to plant secrets of every rule.
Values are random (seeded) and assembled from parts here, so no credential-shaped
literal is ever committed -- push protection would rightly block our own repository.
None of these is a working credential.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from fixers.secrets.rules import Rule, default_ruleset
from fixers.secrets.validate import crc32_tail

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"


@dataclass(frozen=True, slots=True)
class Sample:
    """``text`` is a Python-flavoured snippet holding the credential; ``secret`` is the part
    the rule reports (the password of a URL, the key of a connection string, ...);
    ``token`` the literal as a user would paste it (for other languages' snippets)."""

    rule: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    text: str = field(repr=False)
    env: str
    suffix: str = ".py"  # the file kind ``text`` is written in


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _mixed(rng: random.Random, alphabet: str, n: int) -> str:
    """Random, but with a digit and both cases (so entropy/class gates always pass)."""
    core = _r(rng, alphabet, n - 3)
    return core + rng.choice("ABCDEFGHJK") + rng.choice("mnpqrstuvw") + rng.choice("23456789")


def _crc_token(rng: random.Random, prefix: str) -> str:
    """A GitHub/npm-format token: 30 random base62 characters and their CRC32 tail."""
    body = _mixed(rng, ALNUM, 30)
    return prefix + "_" + body + crc32_tail(body)


def _assign(name: str, token: str) -> str:
    return f'{name} = "{token}"'


def _simple(rule: str, env: str, make: Callable[[random.Random], str]) -> Callable[..., Sample]:
    def build(rng: random.Random) -> Sample:
        token = make(rng)
        return Sample(rule, token, token, _assign(env, token), env)

    return build


def _aws_secret(rng: random.Random) -> Sample:
    token = _mixed(rng, B64, 40)
    return Sample(
        "aws-secret-access-key",
        token,
        token,
        _assign("aws_secret_access_key", token),
        "AWS_SECRET_ACCESS_KEY",
    )


def _slack_webhook(rng: random.Random) -> Sample:
    path = "T" + _r(rng, B32, 8) + "/B" + _r(rng, B32, 10) + "/" + _mixed(rng, ALNUM, 24)
    url = "https://hooks.slack.com/" + "services/" + path
    return Sample(
        "slack-webhook-url", path, url, _assign("SLACK_WEBHOOK_URL", url), "SLACK_WEBHOOK_URL"
    )


def _pem_body(rng: random.Random, lines: int, sep: str) -> str:
    return sep.join(_r(rng, B64, 64) for _ in range(lines)) + sep + _r(rng, B64, 20) + "=="


def _service_account(rng: random.Random) -> Sample:
    begin = "-----BEGIN " + "PRIVATE KEY-----"
    end = "-----END " + "PRIVATE KEY-----"
    body = _pem_body(rng, 6, "\\n")
    key = f"{begin}\\n{body}\\n{end}\\n"
    text = f'  "private_key": "{key}",'
    return Sample("google-service-account-key", key, key, text, "GOOGLE_APPLICATION_CREDENTIALS")


def _private_key(rng: random.Random) -> Sample:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
    body = _pem_body(rng, 8, "\n")
    block = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
    return Sample("private-key", body + "\n", block, f'PRIVATE_KEY = """{block}"""', "PRIVATE_KEY")


def _jwt(rng: random.Random) -> Sample:
    def b64(obj: dict[str, object]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = b64({"sub": _r(rng, ALNUM, 12), "iat": rng.randint(1_600_000_000, 1_800_000_000)})
    token = f"{header}.{payload}.{_mixed(rng, URLSAFE, 43)}"
    return Sample("jwt", token, token, _assign("SESSION_JWT", token), "SESSION_JWT")


def _database_url(rng: random.Random) -> Sample:
    password = _mixed(rng, ALNUM, 18)
    scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis"])
    url = f"{scheme}://app_user:{password}@db.internal.example.net:5432/app"
    return Sample(
        "database-url-password", password, url, _assign("DATABASE_URL", url), "DATABASE_URL"
    )


def _azure(rng: random.Random) -> Sample:
    key = _mixed(rng, B64, 86) + "=="
    conn = (
        "DefaultEndpointsProtocol=https;AccountName=patchwellstore;"
        + "AccountKey="
        + key
        + ";EndpointSuffix=core.windows.net"
    )
    return Sample(
        "azure-storage-connection-string",
        key,
        conn,
        _assign("AZURE_STORAGE_CONNECTION_STRING", conn),
        "AZURE_STORAGE_CONNECTION_STRING",
    )


def _password(rng: random.Random) -> Sample:
    pw = _mixed(rng, ALNUM, 14) + "!"
    return Sample("generic-password-assignment", pw, pw, _assign("db_password", pw), "DB_PASSWORD")


def _generic_secret(rng: random.Random) -> Sample:
    token = _mixed(rng, HEX + "ABCDEF", 40)
    return Sample(
        "generic-secret-assignment", token, token, _assign("client_secret", token), "CLIENT_SECRET"
    )


def _twilio_auth(rng: random.Random) -> Sample:
    token = _r(rng, HEX, 30) + "a7"
    return Sample(
        "twilio-auth-token", token, token, _assign("TWILIO_AUTH_TOKEN", token), "TWILIO_AUTH_TOKEN"
    )


def _heroku_legacy(rng: random.Random) -> Sample:
    uuid = "-".join(_r(rng, HEX, n) for n in (8, 4, 4, 4, 12))
    return Sample(
        "heroku-api-key-legacy", uuid, uuid, _assign("HEROKU_API_KEY", uuid), "HEROKU_API_KEY"
    )


_HAND_WRITTEN: dict[str, Callable[[random.Random], Sample]] = {
    "aws-access-key-id": _simple(
        "aws-access-key-id", "AWS_ACCESS_KEY_ID", lambda g: "AKIA" + _r(g, B32, 16)
    ),
    "aws-secret-access-key": _aws_secret,
    "github-pat-classic": _simple(
        "github-pat-classic", "GITHUB_TOKEN", lambda g: _crc_token(g, "ghp")
    ),
    "github-pat-fine-grained": _simple(
        "github-pat-fine-grained",
        "GITHUB_TOKEN",
        lambda g: "github" + "_pat_" + _mixed(g, ALNUM, 22) + "_" + _mixed(g, ALNUM, 59),
    ),
    "github-app-installation-token": _simple(
        "github-app-installation-token",
        "GITHUB_TOKEN",
        lambda g: _crc_token(g, "ghs"),
    ),
    "github-app-user-token": _simple(
        "github-app-user-token", "GITHUB_TOKEN", lambda g: _crc_token(g, "ghu")
    ),
    "github-oauth-token": _simple(
        "github-oauth-token", "GITHUB_TOKEN", lambda g: _crc_token(g, "gho")
    ),
    "github-refresh-token": _simple(
        "github-refresh-token", "GITHUB_REFRESH_TOKEN", lambda g: "ghr" + "_" + _mixed(g, ALNUM, 76)
    ),
    "gitlab-pat": _simple(
        "gitlab-pat", "GITLAB_TOKEN", lambda g: "glpat" + "-" + _mixed(g, URLSAFE, 20)
    ),
    "gitlab-runner-token": _simple(
        "gitlab-runner-token",
        "GITLAB_RUNNER_TOKEN",
        lambda g: "glrt" + "-" + _mixed(g, URLSAFE, 20),
    ),
    "slack-token": _simple(
        "slack-token",
        "SLACK_TOKEN",
        lambda g: (
            "xox"
            + "b-"
            + _r(g, "123456789", 12)
            + "-"
            + _r(g, "123456789", 13)
            + "-"
            + _mixed(g, ALNUM, 24)
        ),
    ),
    "slack-webhook-url": _slack_webhook,
    "stripe-secret-key": _simple(
        "stripe-secret-key", "STRIPE_API_KEY", lambda g: "sk" + "_live_" + _mixed(g, ALNUM, 24)
    ),
    "google-api-key": _simple(
        "google-api-key", "GOOGLE_API_KEY", lambda g: "AI" + "za" + _mixed(g, URLSAFE, 35)
    ),
    "google-service-account-key": _service_account,
    "openai-api-key": _simple(
        "openai-api-key",
        "OPENAI_API_KEY",
        lambda g: (
            "sk-" + "proj-" + _mixed(g, URLSAFE, 40) + "T3Blbk" + "FJ" + _mixed(g, URLSAFE, 40)
        ),
    ),
    "anthropic-api-key": _simple(
        "anthropic-api-key",
        "ANTHROPIC_API_KEY",
        lambda g: "sk-" + "ant-api03-" + _mixed(g, URLSAFE, 93) + "AA",
    ),
    "twilio-api-key": _simple(
        "twilio-api-key", "TWILIO_API_KEY", lambda g: "S" + "K" + _r(g, HEX, 30) + "9c"
    ),
    "twilio-auth-token": _twilio_auth,
    "sendgrid-api-key": _simple(
        "sendgrid-api-key",
        "SENDGRID_API_KEY",
        lambda g: "S" + "G." + _mixed(g, URLSAFE, 22) + "." + _mixed(g, URLSAFE, 43),
    ),
    "mailgun-api-key": _simple(
        "mailgun-api-key", "MAILGUN_API_KEY", lambda g: "key" + "-" + _r(g, HEX, 30) + "e4"
    ),
    "npm-access-token": _simple("npm-access-token", "NPM_TOKEN", lambda g: _crc_token(g, "npm")),
    "pypi-upload-token": _simple(
        "pypi-upload-token",
        "PYPI_API_TOKEN",
        lambda g: "pypi-" + "AgEIcHlwaS5vcmc" + _mixed(g, URLSAFE, 70),
    ),
    "heroku-api-key": _simple(
        "heroku-api-key", "HEROKU_API_KEY", lambda g: "HRKU" + "-AA" + _mixed(g, URLSAFE, 58)
    ),
    "heroku-api-key-legacy": _heroku_legacy,
    "huggingface-token": _simple(
        "huggingface-token", "HF_TOKEN", lambda g: "hf" + "_" + _r(g, string.ascii_letters, 34)
    ),
    "digitalocean-token": _simple(
        "digitalocean-token", "DIGITALOCEAN_TOKEN", lambda g: "dop" + "_v1_" + _r(g, HEX, 64)
    ),
    "shopify-token": _simple(
        "shopify-token", "SHOPIFY_ACCESS_TOKEN", lambda g: "shp" + "at_" + _r(g, HEX, 32)
    ),
    "vault-token": _simple(
        "vault-token", "VAULT_TOKEN", lambda g: "hv" + "s." + _mixed(g, URLSAFE, 95)
    ),
    "azure-storage-connection-string": _azure,
    "private-key": _private_key,
    "jwt": _jwt,
    "database-url-password": _database_url,
    "generic-password-assignment": _password,
    "generic-secret-assignment": _generic_secret,
}


_CLASSES = {
    "alnum": ALNUM,
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "letters": string.ascii_letters,
    "digits": string.digits,
    "hex": HEX,
    "HEX": HEX.upper(),
    "b64": B64,
    "urlsafe": URLSAFE,
    "b32": B32,
    "alnumlower": string.ascii_lowercase + string.digits,
    "alnumupper": string.ascii_uppercase + string.digits,
    "bech": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",  # bech32, upper-case (age keys)
    "b32lower": string.ascii_lowercase + "234567",  # RFC 4648 base32, lower-case
}
_SLOT = re.compile(r"\{([A-Za-z0-9]+):([0-9]+)\}")


def _fill(template: str, rng: random.Random) -> str:
    """`ghp_{alnum:36}` -> `ghp_` and 36 random alphanumerics (each class member drawn at
    random, with at least one digit where the class has digits, so entropy gates pass)."""

    def slot(m: re.Match[str]) -> str:
        alphabet, n = _CLASSES[m.group(1)], int(m.group(2))
        while True:
            out = _r(rng, alphabet, n)
            if n < 8:
                return out
            has_digit = any(c.isdigit() for c in out) or not any(c.isdigit() for c in alphabet)
            if has_digit and len(set(out)) > min(n, len(alphabet)) // 2:
                return out

    return _SLOT.sub(slot, template)


def _from_template(rule: Rule) -> Callable[[random.Random], Sample]:
    def build(rng: random.Random) -> Sample:
        token = _fill(rule.sample, rng)
        env = rule.env or "SECRET"
        text = (
            rule.sample_context.replace("{token}", token)
            if rule.sample_context
            else _assign(env, token)
        )
        return Sample(rule.id, token, token, text, env, rule.sample_suffix)

    return build


def _with_templates() -> dict[str, Callable[[random.Random], Sample]]:
    out = dict(_HAND_WRITTEN)
    for rule in default_ruleset().regex_rules:
        if rule.sample and rule.id not in out:
            out[rule.id] = _from_template(rule)
    return out


SAMPLERS = _with_templates()


def sample(rule_id: str, rng: random.Random) -> Sample:
    return SAMPLERS[rule_id](rng)


def all_samples(seed: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    return [make(rng) for make in SAMPLERS.values()]
