"""runtime-defaults: HTTP timeouts, TLS verification and debug flags in production code."""

from __future__ import annotations

import ast

import pytest

from fixers.contract import Context, MemorySnapshot, Severity
from fixers.production.runtime_defaults import FIXER, add_timeouts
from tests.fixtures.production.repos import load_repo

CTX = Context()
DEPLOYS = {"Procfile": b"web: gunicorn app:app\n"}


def _scan(code: str, path: str = "app/client.py", **extra: bytes) -> list:
    return FIXER.detect(MemorySnapshot({path: code.encode(), **extra}), CTX)


def _fixed(code: bytes, ctx: Context = CTX, path: str = "app/client.py") -> bytes | None:
    snap = MemorySnapshot({path: code})
    patches = FIXER.fix(snap, FIXER.detect(snap, ctx), ctx)
    if not patches:
        return None
    (patch,) = patches
    (edit,) = patch.edits
    return edit.content


def _assert_only_inserted(before: bytes, after: bytes, insert: bytes) -> None:
    """Removing every inserted ``insert`` gives back the original bytes exactly."""
    assert after.replace(insert, b"") == before
    ast.parse(after)


def test_webapp_reports_and_fixes_only_production_code():
    snap = load_repo("webapp")
    findings = FIXER.detect(snap, CTX)
    assert [(f.path, f.line, f.rule) for f in findings] == [
        ("app/main.py", 26, "requests-no-timeout"),
        ("app/main.py", 31, "requests-no-timeout"),  # a Session method
        ("app/main.py", 31, "tls-verify-disabled"),
        # Not line 36, app.run(debug=True) under `if __name__ == "__main__":`: the
        # Procfile serves app.main:app with gunicorn, which never runs that block.
    ]  # tests/test_main.py calls requests without a timeout: not production code
    assert next(f for f in findings if f.rule == "tls-verify-disabled").severity is (
        Severity.VULNERABILITY
    )
    (patch,) = FIXER.fix(snap, findings, CTX)
    (edit,) = patch.edits
    before = snap.read("app/main.py")
    assert b'json={"amount": 1}, timeout=10,  # the amount\n' in edit.content
    assert b'session.get("https://api.example.com/ping", verify=False, timeout=10)' in edit.content
    assert edit.content.replace(b" timeout=10,", b"").replace(b", timeout=10", b"") == before
    ast.parse(edit.content)
    remaining = FIXER.detect(snap.with_edits(patch.edits), CTX)
    assert {f.rule for f in remaining} == {"tls-verify-disabled"}


MAIN_DEBUG = b"""\
from flask import Flask

app = Flask(__name__)

if __name__ == "__main__":
    app.run(debug=True)
"""


@pytest.mark.parametrize(
    ("procfile", "expected"),
    [
        (b"web: gunicorn app:app\n", []),
        (b"web: python app.py\n", [("debug-served", Severity.VULNERABILITY)]),
        (b"web: python3 -u ./app.py\n", [("debug-served", Severity.VULNERABILITY)]),
    ],
)
def test_debug_under_main_guard_counts_only_when_the_deploy_runs_the_file(procfile, expected):
    snap = MemorySnapshot({"app.py": MAIN_DEBUG, "Procfile": procfile})
    assert [(f.rule, f.severity) for f in FIXER.detect(snap, CTX)] == expected
    unguarded = MAIN_DEBUG.replace(b'if __name__ == "__main__":\n    ', b"")
    snap = MemorySnapshot({"app.py": unguarded, "Procfile": b"web: gunicorn app:app\n"})
    assert [(f.rule, f.severity) for f in FIXER.detect(snap, CTX)] == [
        ("debug-enabled", Severity.HYGIENE)
    ]


def test_dev_only_settings_and_libraries_may_debug():
    django = FIXER.detect(load_repo("djangoapp"), CTX)
    assert [(f.path, f.rule) for f in django] == [("shop/settings/prod.py", "debug-enabled")]
    library = FIXER.detect(load_repo("library"), CTX)  # DEBUG = True, but deploys nothing
    assert [f.rule for f in library] == ["requests-no-timeout"]
    for dev in ("settings_dev.py", "proj/settings/local.py", "local_settings.py"):
        assert _scan("DEBUG = True\n", dev, **DEPLOYS) == []
    assert [f.rule for f in _scan("DEBUG = True\n", "proj/settings.py", **DEPLOYS)] == [
        "debug-enabled"
    ]


def test_aliases_sessions_and_httpx():
    code = (
        "import httpx\nimport requests as rq\nfrom requests import get as fetch\n\n"
        "class Api:\n"
        "    def __init__(self):\n"
        "        self.http = rq.Session()\n\n"
        "    def go(self):\n"
        "        self.http.post('u', data=1)\n"
        "        with rq.Session() as s:\n"
        "            s.get('u')\n"
        "        fetch('u')\n"
        "        rq.Session().delete('u')\n"
        "        httpx.get('u')\n"  # httpx has its own 5 s default: fine
        "        httpx.get('u', timeout=None)\n"
        "        httpx.Client(verify=False)\n"
        "        other.get('u')\n"  # not known to be requests
        "        rq.get('u', timeout=3)\n"
    )
    got = [(f.line, f.rule) for f in _scan(code)]
    assert got == [
        (10, "requests-no-timeout"),
        (12, "requests-no-timeout"),
        (13, "requests-no-timeout"),
        (14, "requests-no-timeout"),
        (16, "timeout-disabled"),
        (17, "tls-verify-disabled"),
    ]


def test_timeout_insertion_edge_cases_keep_every_other_byte():
    cases = {
        b"import requests\nrequests.get('u')\n": b", timeout=10",
        b"import requests\nrequests.get(\n    'u',\n    params={'a': 1},\n)\n": b" timeout=10,",
        b"import requests\nrequests.get((url))\n": b", timeout=10",
        # multi-byte characters before the call on the same line (columns are bytes in ast)
        b"import requests\nx = '\xe2\x82\xac'; requests.get('\xe2\x82\xac')  # \xc3\xa9\n": (
            b", timeout=10"
        ),
        b"import requests\r\nrequests.post('u',\r\n  data=b)  # c\r\n": b", timeout=10",
        b"import requests\nrequests.get(requests.get('u').text, headers=h)\n": b", timeout=10",
    }
    for before, insert in cases.items():
        after = _fixed(before)
        assert after is not None, before
        _assert_only_inserted(before, after, insert)
    nested = _fixed(b"import requests\nrequests.get(requests.get('u').text, headers=h)\n")
    assert nested.count(b"timeout=10") == 2


def test_ambiguous_calls_are_reported_but_not_edited():
    for code in (
        "import requests\nrequests.get(*args)\n",
        "import requests\nrequests.get('u', **kw)\n",  # kw may carry a timeout: not reported
        "import requests\nrequests.request('GET', 'u', None, None, None)\n",
        "import requests\nrequests.get(x for x in y)\n",
        "import requests\nrequests.get()\n",
    ):
        snap = MemorySnapshot({"app.py": code.encode()})
        findings = FIXER.detect(snap, CTX)
        assert all(not f.data["fixable"] for f in findings), code
        assert FIXER.fix(snap, findings, CTX) == []
    assert _scan("import requests\nrequests.get('u', **kw)\n") == []


def test_timeout_option_and_tests_are_skipped():
    after = _fixed(
        b"import requests\nrequests.get('u')\n", Context(options={"timeout-seconds": 2.5})
    )
    assert after == b"import requests\nrequests.get('u', timeout=2.5)\n"
    bad = _fixed(b"import requests\nrequests.get('u')\n", Context(options={"timeout-seconds": "x"}))
    assert bad == b"import requests\nrequests.get('u', timeout=10)\n"
    for path in ("tests/test_api.py", "pkg/tests/helpers.py", "conftest.py", "examples/demo.py"):
        assert _scan("import requests\nrequests.get('u')\n", path) == []


def test_add_timeouts_refuses_what_it_cannot_prove():
    assert add_timeouts(b"def (:\n", [(1, 0)], 10) is None
    assert add_timeouts(b"\xff\xfe", [(1, 0)], 10) is None
    # a position that is not a call start: nothing matches, nothing is claimed
    assert add_timeouts(b"import requests\nrequests.get('u')\n", [(9, 9)], 10) is None


def test_sibling_calls_on_one_line_and_calls_inside_f_strings():
    before = b"import requests\npair = (requests.get(a), requests.post(b, data=c))\n"
    after = _fixed(before)
    assert after == (
        b"import requests\n"
        b"pair = (requests.get(a, timeout=10), requests.post(b, data=c, timeout=10))\n"
    )
    # A call inside an f-string cannot be placed by the tokenizer: it stays reported and
    # unedited, and the other call in the file is still fixed.
    code = b'import requests\nmsg = f"{requests.get(u).status_code}"\nrequests.get(v)\n'
    snap = MemorySnapshot({"app.py": code})
    findings = FIXER.detect(snap, CTX)
    assert [f.line for f in findings] == [2, 3]
    (patch,) = FIXER.fix(snap, findings, CTX)
    assert patch.edits[0].content == code.replace(b"get(v)", b"get(v, timeout=10)")
    assert patch.fingerprints == (findings[1].fingerprint,)


def test_hostile_sources_do_not_crash():
    snap = MemorySnapshot(
        {
            "a.py": b"x = " + b"(" * 300 + b"1" + b")" * 300 + b"\n",
            "b.py": b"y = " + b"1 + " * 20000 + b"1\n",
            "c.py": b"\x00\x00",
            "d.py": b"import requests\nrequests.get('u')\n",
        }
    )
    findings = FIXER.detect(snap, CTX)
    assert [f.path for f in findings] == ["d.py"]


def test_a_flood_of_calls_is_bounded_and_counted():
    code = b"import requests\n" + b"requests.get(u)\n" * 150
    snap = MemorySnapshot({"gen.py": code})
    findings = FIXER.detect(snap, CTX)
    assert len(findings) == 101
    (summary,) = [f for f in findings if f.rule == "findings-truncated"]
    assert summary.message.startswith("50 more")
    (patch,) = FIXER.fix(snap, findings, CTX)
    assert patch.edits[0].content.count(b"timeout=10") == 100
