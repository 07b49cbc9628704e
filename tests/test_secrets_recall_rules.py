"""Provider formats added or widened for recall (issue 15, fourth pass).

Each rule gets values in its documented format, in the places they are committed, and the
look-alikes that must stay quiet. Values are random, built at run time from the format
(never another scanner's test strings).
"""

from __future__ import annotations

import random
import re
import string

import pytest

from fixers.contract import Context, MemorySnapshot
from fixers.secrets import SecretsFixer
from fixers.secrets.rules import anchored_regex
from tests.secretscan import available_engines, rule_ids

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
URLSAFE = ALNUM + "_-"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
B32_LOWER = string.ascii_lowercase + "234567"


def _reported(path: str, text: str) -> list[str]:
    """Rule ids the fixer reports (placeholder, entropy and overlap gates applied)."""
    findings = SecretsFixer().detect(MemorySnapshot({path: text.encode()}), Context())
    return sorted(f.rule for f in findings)


class _Values:
    """Random values of a class, each with a digit and both cases where the class has them
    (what a random token of that length has; the gates may ask for them)."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def __call__(self, alphabet: str, n: int) -> str:
        while True:
            out = "".join(self.rng.choice(alphabet) for _ in range(n))
            ok = [
                any(c.isdigit() for c in out) or not any(c.isdigit() for c in alphabet),
                any(c.isupper() for c in out) or not any(c.isupper() for c in alphabet),
                any(c.islower() for c in out) or not any(c.islower() for c in alphabet),
            ]
            if all(ok) and len(set(out)) > min(n, len(alphabet)) // 2:
                return out

    def uuid(self) -> str:
        h = self(HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _fill(template: str, v: _Values) -> str:
    slots = {
        "alnum6": lambda: v(ALNUM, 6),
        "alnum15": lambda: v(ALNUM, 15),
        "alnum16": lambda: v(ALNUM, 16),
        "alnum22": lambda: v(ALNUM, 22),
        "alnum32": lambda: v(ALNUM, 32),
        "alnum40": lambda: v(ALNUM, 40),
        "alnum63": lambda: v(ALNUM, 63),
        "alnum20": lambda: v(ALNUM, 20),
        "low24": lambda: v(LOWER_ALNUM, 24),
        "low32": lambda: v(LOWER_ALNUM, 32),
        "low50": lambda: v(LOWER_ALNUM, 50),
        "low84": lambda: v(LOWER_ALNUM + "/_-", 84),
        "url16": lambda: v(URLSAFE, 16),
        "url27": lambda: v(URLSAFE, 27),
        "url44": lambda: v(URLSAFE, 44),
        "url86": lambda: v(URLSAFE, 86),
        "b64_40": lambda: v(B64, 40),
        "b64_48": lambda: v(B64, 48),
        "b64_75": lambda: v(B64, 75),
        "b64_90": lambda: v(B64, 90),
        "b32_52": lambda: v(B32_LOWER, 52),
        "hex32": lambda: v(HEX, 32),
        "hex40": lambda: v(HEX, 40),
        "hex64": lambda: v(HEX, 64),
        "digits4": lambda: v(string.digits, 4),
        "digits15": lambda: v(string.digits, 15),
        "uuid": v.uuid,
        "guid": lambda: "-".join(v(LOWER_ALNUM, n) for n in (8, 4, 4, 4, 12)),
    }
    out = template
    for name, make in slots.items():
        while "{" + name + "}" in out:
            out = out.replace("{" + name + "}", make(), 1)
    return out


# -- true positives: each rule in the places its credential is committed --------------------

POSITIVES = [
    ("yandex-iam-token", "app.py", 'YC_IAM_TOKEN = "t1.{url16}.{url86}"'),
    ("yandex-iam-token", "deploy.sh", "export YC_TOKEN=t1.{url16}.{url86}"),
    ("ibm-cloud-api-key", ".github/workflows/deploy.yml", "  IBMCLOUD_API_KEY: {url44}"),
    ("ibm-cloud-api-key", "config.py", 'ibm_api_key = "{url44}"'),
    ("codecov-token", ".github/workflows/ci.yml", "      CODECOV_TOKEN: {uuid}"),
    ("codecov-token", "codecov.sh", "codecov_token={uuid}"),
    ("pinecone-api-key", "rag.py", 'pc = Pinecone(api_key="pcsk_{alnum6}_{alnum63}")'),
    ("pinecone-api-key-legacy", "rag.py", 'PINECONE_API_KEY = "{uuid}"'),
    ("devin-api-key", "agent.ts", 'const token = "cog_{b32_52}";'),
    ("devin-api-key", "agent.py", 'DEVIN_API_KEY = "apk_{b64_90}"'),
    ("devin-api-key", "agent.py", 'DEVIN_API_KEY = "apk_user_{b64_90}{b64_40}"'),
    ("greptile-api-key", "review.py", 'GREPTILE_API_KEY = "{b64_48}"'),
    ("endorlabs-api-key", "ci.env", "ENDOR_API_CREDENTIALS_KEY=endr+{alnum16}"),
    ("endorlabs-api-key", "ci.sh", 'endorctl scan --api-key "endr+{alnum16}"'),
    ("fullstory-api-key", "server.js", 'const FULLSTORY_API_KEY = "na1.{b64_40}";'),
    ("fullstory-api-key", "settings.py", 'FULLSTORY_API_KEY = "eu1.{b64_48}"'),
    ("highnote-secret-key", "billing.py", 'HIGHNOTE_API_KEY = "sk_live_a2V5X{b64_75}"'),
    ("workos-api-key", "auth.ts", 'const workosApiKey = "sk_test_a2V5X{b64_75}";'),
    ("workos-api-key", ".env.production", "WORKOS_API_KEY=sk_live_a2V5X{b64_75}"),
    ("gumroad-access-token", "shop.py", 'GUMROAD_ACCESS_TOKEN = "{hex64}"'),
    ("openweather-api-key", "weather.py", 'OPENWEATHER_API_KEY = "{hex32}"'),
    ("openweather-api-key", "weather.py", "owm_key = '{hex32}'"),
    ("figma-token-legacy", "export.sh", "curl -H 'X-Figma-Token: {digits4}-{uuid}' https://x.test"),
    ("sourcegraph-token-legacy", "src.env", "SOURCEGRAPH_TOKEN={hex40}"),
    ("cockroachlabs-api-key", "infra.tf", 'api_key = "CCDB1_{alnum22}_{alnum40}"'),
    (
        "nuget-cleartext-password",
        "nuget.config",
        '<add key="ClearTextPassword" value="{alnum20}" />',
    ),
    ("ovh-application-key", "ovh.conf", "OVH_APPLICATION_KEY={alnum16}"),
    ("ovh-application-key", "config.yml", "ovh_applicationKey: '{alnum16}'"),
    # widened formats of existing rules
    ("stripe-secret-key", "pay.py", 'STRIPE_KEY = "rk_prod_{alnum40}"'),
    ("gitlab-session-cookie", "scrape.py", 'COOKIE = "_gitlab_session={low32}"'),
    ("facebook-app-token", "fb.py", 'FB_TOKEN = "{digits15}|{url27}"'),
    (
        "microsoft-teams-webhook",
        "notify.py",
        'URL = "https://acme.webhook.office.com/webhookb2/{guid}@{guid}/IncomingWebhook/{low32}/{guid}"',
    ),
    (
        "docker-swarm-token",
        "join.sh",
        "docker swarm join --token SWMTKN-1-{low50}-{low24} 10.0.0.2:2377",
    ),
    (
        "docker-swarm-token",
        "join.sh",
        "docker swarm join --token SWMTKN-1-{low50}-{low24}1-f 10.0.0.2:2377",
    ),
    ("docker-swarm-token", "unlock.sh", "docker swarm unlock --key SWMKEY-1-{b64_40}"),
    ("midtrans-server-key", "pay.py", "MIDTRANS_SERVER_KEY = 'Mid-server-{alnum16}'"),
    ("kraken-api-key", "trade.py", 'KRAKEN_PRIVATE_KEY = "{low84}"'),
    ("ovh-credential", "ovh.conf", "OVH_CONSUMER_KEY={alnum16}-{alnum15}"),
]


def _positive_ids() -> list[str]:
    return [f"{rule}:{i}" for i, (rule, _, _) in enumerate(POSITIVES)]


@pytest.mark.parametrize("engine", available_engines())
@pytest.mark.parametrize(("rule_id", "path", "template"), POSITIVES, ids=_positive_ids())
def test_provider_format_is_found_by_every_engine(
    rule_id: str, path: str, template: str, engine: str
) -> None:
    text = _fill(template, _Values(rule_id + template))
    assert rule_id in rule_ids(path, text + "\n", engine)


@pytest.mark.parametrize(("rule_id", "path", "template"), POSITIVES, ids=_positive_ids())
def test_provider_format_is_reported(rule_id: str, path: str, template: str) -> None:
    text = _fill(template, _Values(rule_id + template))
    assert rule_id in _reported(path, text + "\n")


def test_a_highnote_or_workos_key_is_named_by_its_variable() -> None:
    # The two providers' keys share the `sk_live_a2V5X` shape.
    key = _fill("sk_live_a2V5X{b64_75}", _Values("highnote"))
    assert _reported("billing.py", f'HIGHNOTE_API_KEY = "{key}"\n') == ["highnote-secret-key"]
    assert _reported("auth.py", f'WORKOS_API_KEY = "{key}"\n') == ["workos-api-key"]


# -- look-alikes that are not these credentials -----------------------------------------------

NEGATIVES = [
    ("yandex-iam-token", "notes.py", 'VERSION = "t1.2.3"'),
    ("yandex-iam-token", "notes.py", 'HOST = "t1.{low24}.example.net"'),
    (
        "ibm-cloud-api-key",
        "cos.py",
        'IBM_COS_BUCKET = "my-company-production-object-storage-bucket1"',
    ),
    ("ibm-cloud-api-key", "cos.py", 'ibm_region = "us-south"'),
    ("codecov-token", "ci.yml", "codecov_flags: unit-tests"),
    ("codecov-token", "ci.yml", "CODECOV_TOKEN: ${{ secrets.CODECOV_TOKEN }}"),
    ("pinecone-api-key-legacy", "rag.py", 'PINECONE_API_KEY = "your-pinecone-api-key"'),
    (
        "pinecone-api-key-legacy",
        "rag.py",
        'PINECONE_API_KEY = "00000000-0000-0000-0000-000000000000"',
    ),
    ("devin-api-key", "build.py", 'apk_path = "build/outputs/apk/release/app-release.apk"'),
    ("devin-api-key", "ui.py", "cog_wheel_icon = load('cog_wheel.svg')"),
    ("greptile-api-key", "review.py", 'GREPTILE_API_KEY = os.environ["GREPTILE_API_KEY"]'),
    (
        "greptile-api-key",
        "review.py",
        'greptile_cache = "/var/lib/greptile/index/cache/projects/shared/v2"',
    ),
    ("endorlabs-api-key", "ci.env", "ENDOR_API_KEY=endr+short"),
    ("fullstory-api-key", "app.js", 'const FULLSTORY_ORG_ID = "o-1AB2CD-na1";'),
    ("highnote-secret-key", "pay.py", 'STRIPE_KEY = "sk_live_{alnum40}"'),
    ("gumroad-access-token", "shop.py", 'GUMROAD_PRODUCT_PERMALINK = "my-ebook"'),
    ("openweather-api-key", "weather.py", 'OPENWEATHER_UNITS = "metric"'),
    ("openweather-api-key", "weather.py", 'OPENWEATHER_API_KEY = "<your openweather api key>"'),
    ("figma-token-legacy", "export.py", 'FIGMA_FILE_KEY = "{alnum22}"'),
    ("sourcegraph-token-legacy", "src.env", "SOURCEGRAPH_URL=https://sourcegraph.example.net"),
    ("cockroachlabs-api-key", "infra.tf", 'api_key = "CCDB1_short_{alnum40}"'),
    (
        "nuget-cleartext-password",
        "nuget.config",
        '<add key="ClearTextPassword" value="%NUGET_PASSWORD%" />',
    ),
    (
        "nuget-cleartext-password",
        "nuget.config",
        '<add key="ClearTextPassword" value="YOUR_GITHUB_PAT" />',
    ),
    ("nuget-cleartext-password", "nuget.config", '<add key="Username" value="{alnum20}" />'),
    ("ovh-application-key", "ovh.conf", "OVH_ENDPOINT=ovh-eu"),
    ("ovh-application-key", "ovh.conf", "OVH_APPLICATION_NAME=my-application-01"),
    ("ovh-credential", "ovh.conf", 'ovh_dns_zone = "my-very-long-domain-name-here-01"'),
    ("facebook-app-token", "rows.txt", "123456789012345|some_identifier_name_here_x"),
    (
        "microsoft-teams-webhook",
        "notify.py",
        'URL = "https://acme.webhook.office.com/webhookb2/<group-id>"',
    ),
    (
        "kraken-api-key",
        "ocr.py",
        'kraken_model_dir = "/srv/ocr/kraken/models/historical/print/latin/base/weights/'
        'final/best/segmentation/mod"',
    ),
]


def _negative_ids() -> list[str]:
    return [f"{rule}:{i}" for i, (rule, _, _) in enumerate(NEGATIVES)]


@pytest.mark.parametrize(("rule_id", "path", "template"), NEGATIVES, ids=_negative_ids())
def test_look_alike_is_not_this_credential(rule_id: str, path: str, template: str) -> None:
    text = _fill(template, _Values(rule_id + template))
    assert rule_id not in _reported(path, text + "\n")


def test_an_anchored_values_look_aheads_are_left_out_of_its_hyperscan_superset() -> None:
    value = "(?=[a-z0-9]{0,7}[A-Z])[A-Za-z0-9]{8}"
    regex, hs = anchored_regex(["acme"], value)
    assert "(?=" in regex and "(?=" not in hs
    # the superset still finds what the regex finds, and more
    assert re.search(regex, "ACME_KEY = 'aB3dE5gH'")
    assert not re.search(regex, "ACME_KEY = 'ab3de5gh'")
    assert re.search(hs, "ACME_KEY = 'ab3de5gh'")
