"""migrations: report-only annotations for migrations that cannot be rolled back."""

from __future__ import annotations

import ast

from fixers.contract import Context, MemorySnapshot, Services
from fixers.production import runtime_defaults
from fixers.production.migrations import FIXER, sql_inverse
from fixers.repo_config import load_repo_config
from fixers.runner import run_fixers
from tests.fixtures.production.repos import load_repo

CTX = Context()

ALEMBIC_HEAD = (
    b'revision = "abc"\ndown_revision = None\nfrom alembic import op\nimport sqlalchemy as sa\n'
)


def _alembic(body: bytes) -> MemorySnapshot:
    return MemorySnapshot({"migrations/versions/abc_x.py": ALEMBIC_HEAD + body})


def test_alembic_empty_downgrade_gets_an_inverse_skeleton():
    snap = load_repo("webapp")
    findings = FIXER.detect(snap, CTX)
    assert [(f.path, f.line, f.rule) for f in findings] == [
        ("alembic/versions/0001_init.py", 19, "alembic-no-downgrade")
    ]  # 0002 has a real downgrade
    skeleton = findings[0].data["skeleton"]
    assert skeleton.splitlines() == [
        "def downgrade():",
        "    op.drop_index('ix_users_email', table_name='users')",
        "    op.drop_column('users', 'email')",
        "    op.drop_table('users')",
    ]
    ast.parse(skeleton)  # the skeleton is valid Python
    assert skeleton in findings[0].message
    assert FIXER.fix(snap, findings, CTX) == []  # report-only


def test_alembic_variants():
    raising = _alembic(
        b"def upgrade():\n    op.rename_table('a', 'b')\n    op.execute('UPDATE b SET x=1')\n\n"
        b"def downgrade():\n    '''No way back.'''\n    raise NotImplementedError\n"
    )
    (f,) = FIXER.detect(raising, CTX)
    assert f.line == 9
    assert f.data["skeleton"].splitlines()[1:] == [
        "    # TODO: undo op.execute(...) from line 7 by hand",
        "    op.rename_table('b', 'a')",
    ]
    missing = _alembic(
        b"def upgrade():\n    op.create_foreign_key('fk', 'post', 'user', ['uid'], ['id'])\n"
    )
    (f,) = FIXER.detect(missing, CTX)
    assert "has no downgrade()" in f.title and f.line == 5
    assert "op.drop_constraint('fk', 'post', type_=\"foreignkey\")" in f.data["skeleton"]
    # nothing done in upgrade: nothing to undo
    noop = _alembic(b"def upgrade():\n    pass\n\ndef downgrade():\n    pass\n")
    assert FIXER.detect(noop, CTX) == []
    # not an alembic revision at all (no `revision =`): left alone
    other = MemorySnapshot({"app/versions/v.py": b"def upgrade():\n    op.drop_table('x')\n"})
    assert FIXER.detect(other, CTX) == []


def test_django_runpython_and_runsql_without_reverse():
    snap = load_repo("djangoapp")
    findings = FIXER.detect(snap, CTX)
    assert [(f.line, f.rule) for f in findings] == [
        (13, "django-runpython-irreversible"),
        (14, "django-runsql-irreversible"),
    ]  # the RunPython with noop and the RunSQL with reverse_sql are fine
    assert (
        findings[0]
        .data["skeleton"]
        .startswith("migrations.RunPython(backfill, reverse_code=migrations.RunPython.noop)")
    )
    assert findings[1].data["skeleton"] == (
        "migrations.RunSQL(..., reverse_sql='DROP INDEX orders_total_idx;')"
    )
    for f in findings:
        ast.parse(f.data["skeleton"])


def test_roll_forward_policy_turns_it_off():
    # A roll-forward-only team writes `migrations: off`; the real config loader and runner
    # then never call the fixer, while the other fixers still run.
    snap = load_repo("djangoapp")
    fixers = [FIXER, runtime_defaults.FIXER]
    config, problems = load_repo_config("fixers:\n  migrations: off\n")
    assert problems == []
    result = run_fixers(snap, config, Services(), fixers=fixers)
    assert result.fixers_off == ("migrations",) and result.fixers_run == ("runtime-defaults",)
    assert not [f for f in result.findings if f.fixer == "migrations"]
    default = run_fixers(snap, load_repo_config(None)[0], Services(), fixers=fixers)
    assert {f.rule for f in default.findings if f.fixer == "migrations"} == {
        "django-runpython-irreversible",
        "django-runsql-irreversible",
    }


def test_fingerprints_survive_line_moves_and_ignore_paths_apply():
    snap = load_repo("djangoapp")
    path = "orders/migrations/0002_backfill.py"
    moved = load_repo("djangoapp", **{path: b"# a comment\n\n" + snap.read(path)})
    before = [f.fingerprint for f in FIXER.detect(snap, CTX)]
    after = FIXER.detect(moved, CTX)
    assert [f.fingerprint for f in after] == before and after[0].line == 15
    assert FIXER.detect(snap, Context(ignore_paths=("orders/**",))) == []


def test_sql_inverse():
    assert sql_inverse("CREATE TABLE IF NOT EXISTS t (id int)") == "DROP TABLE t;"
    assert sql_inverse("create unique index concurrently ix on t (a);") == "DROP INDEX ix;"
    assert sql_inverse("ALTER TABLE t ADD COLUMN c int") == "ALTER TABLE t DROP COLUMN c;"
    assert sql_inverse("UPDATE t SET a = 1") is None
    assert sql_inverse("CREATE TABLE a (x int); CREATE TABLE b (y int)") is None


def test_runsql_with_values_never_echoes_them():
    code = (
        b"from django.db import migrations\n\nclass Migration(migrations.Migration):\n"
        b"    operations = [migrations.RunSQL(\"ALTER ROLE app PASSWORD 'hunter2hunter2'\")]\n"
    )
    snap = MemorySnapshot({"app/migrations/0003_role.py": code})
    (f,) = FIXER.detect(snap, CTX)
    assert "hunter2" not in f.message and "hunter2" not in str(f.data)
    assert "migrations.RunSQL.noop" in f.data["skeleton"]


def test_broken_migration_is_skipped_not_a_crash():
    snap = MemorySnapshot(
        {
            "app/migrations/0004.py": b"class Migration(:\n",
            "db/versions/x.py": b"\xff\xfe\x00",
            "app/migrations/__init__.py": b"",
        }
    )
    assert FIXER.detect(snap, CTX) == []


def test_migrations_outside_production_code_are_ignored():
    body = load_repo("djangoapp").read("orders/migrations/0002_backfill.py")
    snap = MemorySnapshot({"tests/fixtures/shop/orders/migrations/0002_backfill.py": body})
    assert FIXER.detect(snap, CTX) == []
