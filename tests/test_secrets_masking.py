"""Nothing the secrets fixer outputs ever contains a planted value: finding fields,
messages, data, patch titles, PR text, reprs, logs -- and patched files no longer hold it."""

from __future__ import annotations

import json
import logging
import random

import pytest

from fixers.contract import Context, MemorySnapshot
from fixers.secrets import SecretsFixer
from fixers.secrets.rewrite import language_of
from fixers.secrets.rules import default_ruleset
from fixers.secrets.samples import SAMPLERS, Sample, sample


def _planted(seed: int) -> tuple[dict[str, str], list[Sample]]:
    rng = random.Random(seed)
    files: dict[str, str] = {}
    samples: list[Sample] = []
    for rule in SAMPLERS:
        smp = sample(rule, rng)
        samples.append(smp)
        if rule == "google-service-account-key":
            files["keys/sa.json"] = (
                '{\n  "type": "service_account",\n' + smp.text + '\n  "client_id": "1"\n}\n'
            )
        else:
            doc = '"""Config."""' if smp.suffix == ".py" else "/** Config. */"
            files[f"app/{rule.replace('-', '_')}{smp.suffix}"] = f"{doc}\n\n{smp.text}\n"
    env_tokens = [sample(r, rng) for r in ("stripe-secret-key", "slack-token")]
    samples += env_tokens
    files[".env"] = "".join(f"{t.env}={t.token}\n" for t in env_tokens)
    yml = [sample(r, rng) for r in ("database-url-password", "sendgrid-api-key")]
    samples += yml
    files["deploy/compose.yml"] = "services:\n  web:\n    environment:\n" + "".join(
        f'      {t.env}: "{t.token}"\n' for t in yml
    )
    js = sample("anthropic-api-key", rng)
    samples.append(js)
    files["web/ai.ts"] = f'export const client = new Anthropic({{ apiKey: "{js.token}" }});\n'
    return files, samples


def _values(samples: list[Sample]) -> list[str]:
    return [smp.secret for smp in samples]


@pytest.mark.parametrize("seed", [1, 2])
def test_no_output_contains_a_planted_value(seed: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    files, samples = _planted(seed)
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    fixer = SecretsFixer()
    findings = fixer.detect(snap, Context())
    patches = fixer.fix(snap, findings, Context())

    found_rules = {f.rule for f in findings}
    assert set(SAMPLERS) | {"dotenv-committed"} <= found_rules

    outputs: list[str] = [caplog.text]
    for f in findings:
        outputs += [repr(f), json.dumps(f.as_json()), json.dumps(dict(f.data))]
    for p in patches:
        outputs += [p.title, p.key, p.branch, p.explanation.markdown(), repr(p.fingerprints)]
        for e in p.edits:
            outputs.append(e.path)
            if e.path in (".env.example", ".gitignore"):
                outputs.append((e.content or b"").decode())
    blob = "\n".join(outputs)
    # Report indexes, never values: a failing assertion must not print a secret.
    leaked = [i for i, value in enumerate(_values(samples)) if value in blob]
    assert leaked == []

    # Every planted file of a kind the fix can rewrite (or delete) got a patch, and patched
    # content no longer holds any value. Other kinds (XML, shell) are reported, not rewritten.
    patched = {p.edits[0].path: p.edits[0] for p in patches}
    report_only = {
        f"app/{r.id.replace('-', '_')}" for r in default_ruleset().rules if r.report_only
    }
    rewritable = {
        f
        for f in files
        if (language_of(f) is not None or f == ".env") and f.rsplit(".", 1)[0] not in report_only
    }
    assert set(patched) == rewritable
    assert rewritable >= {f for f in files if f.endswith((".py", ".ts", ".js", ".yml", ".json"))}
    assert report_only <= {f.rsplit(".", 1)[0] for f in files} - {
        f.rsplit(".", 1)[0] for f in patched
    }
    for path, edit in patched.items():
        if edit.content is None:
            assert edit.action == "delete"
            continue
        text = edit.content.decode()
        leaked = [i for i, value in enumerate(_values(samples)) if value in text]
        assert leaked == [], path


def test_masks_show_at_most_four_characters() -> None:
    files, samples = _planted(3)
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    for f in SecretsFixer().detect(snap, Context()):
        masked = f.data.get("masked")
        if masked is not None:
            assert masked.endswith("****") and len(masked) <= 8
    assert samples


def test_report_mode_still_computes_patches_without_values() -> None:
    files, samples = _planted(4)
    snap = MemorySnapshot({p: t.encode() for p, t in files.items()})
    ctx = Context(mode="report")
    fixer = SecretsFixer()
    patches = fixer.fix(snap, fixer.detect(snap, ctx), ctx)
    assert patches
    text = "\n".join(p.explanation.markdown() for p in patches)
    leaked = [i for i, value in enumerate(_values(samples)) if value in text]
    assert leaked == []
