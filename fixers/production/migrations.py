"""``migrations``: schema changes that cannot be rolled back.

Report-only annotations at the line, each with an inverse skeleton when the
operations are simple enough to invert mechanically:

* ``alembic-no-downgrade`` -- an Alembic revision whose ``upgrade()`` runs ``op.*``
  operations while ``downgrade()`` is missing, empty, ``pass``/``...`` or only raises;
* ``django-runpython-irreversible`` -- ``migrations.RunPython`` without ``reverse_code``;
* ``django-runsql-irreversible`` -- ``migrations.RunSQL`` without ``reverse_sql``.

Never a PR: a reverse migration encodes intent (what happens to the data) that
only its author knows. Teams that roll forward only turn the fixer off with
``migrations: off`` in ``.github/patchwell.yml`` (the runner then never calls it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from fixers.contract import Context, Finding, Patch, Severity, Snapshot, fingerprint
from fixers.production.facts import (
    Note,
    Source,
    dotted,
    is_production_path,
    parse_python,
    readable_paths,
)

__all__ = [
    "FIXER",
    "MigrationsFixer",
    "alembic_inverse",
    "django_findings",
    "sql_inverse",
]

NAME = "migrations"
_ALEMBIC = ("**/versions/*.py",)
_DJANGO = ("**/migrations/*.py",)


@dataclass(frozen=True, slots=True)
class Irreversible:
    rule: str
    line: int
    what: str
    skeleton: str


# --------------------------------------------------------------------------- alembic


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _is_alembic_revision(tree: ast.Module) -> bool:
    assigned = {
        t.id
        for n in tree.body
        if isinstance(n, ast.Assign | ast.AnnAssign)
        for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
        if isinstance(t, ast.Name)
    }
    return "revision" in assigned and _function(tree, "upgrade") is not None


def _op_calls(func: ast.FunctionDef) -> list[ast.Call]:
    """``op.*`` calls in a function body, in source order."""
    calls = [
        n
        for n in ast.walk(func)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "op"
    ]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _does_nothing(func: ast.FunctionDef) -> bool:
    """Only a docstring, ``pass``, ``...`` or a ``raise``: nothing would be undone."""
    for stmt in func.body:
        if isinstance(stmt, ast.Pass | ast.Raise):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare ``...``
        return False
    return True


def _arg(call: ast.Call, index: int, keyword: str) -> str | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return ast.unparse(kw.value)
    return ast.unparse(call.args[index]) if len(call.args) > index else None


def _schema(call: ast.Call) -> str:
    schema = _arg(call, 99, "schema")
    return f", schema={schema}" if schema else ""


def _column_name(call: ast.Call) -> str | None:
    column = call.args[1] if len(call.args) > 1 else None
    if isinstance(column, ast.Call) and column.args:
        first = column.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return repr(first.value)
    return None


def _inverse_op(call: ast.Call) -> str | None:
    """The Alembic operation undoing ``call``, or ``None`` when it takes judgement."""
    assert isinstance(call.func, ast.Attribute)
    op, s = call.func.attr, _schema(call)
    first, second = _arg(call, 0, "table_name"), _arg(call, 1, "table_name")
    if op == "create_table" and first:
        return f"op.drop_table({first}{s})"
    if op == "add_column" and first and (column := _column_name(call)):
        return f"op.drop_column({first}, {column}{s})"
    if op == "create_index" and (name := _arg(call, 0, "index_name")) and second:
        return f"op.drop_index({name}, table_name={second}{s})"
    constraint = {
        "create_unique_constraint": "unique",
        "create_foreign_key": "foreignkey",
        "create_check_constraint": "check",
        "create_primary_key": "primary",
    }
    if op in constraint and (name := _arg(call, 0, "constraint_name")):
        table = _arg(call, 1, "source_table" if op == "create_foreign_key" else "table_name")
        if table:
            return f'op.drop_constraint({name}, {table}, type_="{constraint[op]}"{s})'
    if op == "rename_table" and first and (new := _arg(call, 1, "new_table_name")):
        return f"op.rename_table({new}, {first}{s})"
    return None


def alembic_inverse(upgrade: ast.FunctionDef) -> str:
    """A ``downgrade()`` skeleton: simple operations inverted, in reverse order."""
    lines = ["def downgrade():"]
    for call in reversed(_op_calls(upgrade)):
        inverse = _inverse_op(call)
        if inverse is not None:
            lines.append(f"    {inverse}")
        else:
            assert isinstance(call.func, ast.Attribute)
            lines.append(
                f"    # TODO: undo op.{call.func.attr}(...) from line {call.lineno} by hand"
            )
    return "\n".join(lines)


def alembic_findings(tree: ast.Module) -> list[Irreversible]:
    if not _is_alembic_revision(tree):
        return []
    upgrade = _function(tree, "upgrade")
    if upgrade is None or not _op_calls(upgrade):
        return []
    downgrade = _function(tree, "downgrade")
    if downgrade is not None and not _does_nothing(downgrade):
        return []
    line = downgrade.lineno if downgrade is not None else upgrade.lineno
    what = "has no downgrade()" if downgrade is None else "has an empty downgrade()"
    return [Irreversible("alembic-no-downgrade", line, what, alembic_inverse(upgrade))]


# --------------------------------------------------------------------------- django

_SQL_CREATE = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX|VIEW|SEQUENCE)\s+(?:CONCURRENTLY\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?([\w.\"]+)",
    re.I,
)
_SQL_ADD_COLUMN = re.compile(
    r"^\s*ALTER\s+TABLE\s+([\w.\"]+)\s+ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?([\w\"]+)",
    re.I,
)


def sql_inverse(sql: str) -> str | None:
    """The SQL undoing one simple ``CREATE``/``ADD COLUMN`` statement, else ``None``."""
    statements = [s for s in sql.strip().split(";") if s.strip()]
    if len(statements) != 1 or len(sql) > 2000:
        return None
    if m := _SQL_CREATE.match(statements[0]):
        return f"DROP {m.group(1).upper()} {m.group(2)};"
    if m := _SQL_ADD_COLUMN.match(statements[0]):
        return f"ALTER TABLE {m.group(1)} DROP COLUMN {m.group(2)};"
    return None


def _is_django_migration(tree: ast.Module) -> bool:
    return any(
        isinstance(n, ast.ClassDef)
        and n.name == "Migration"
        and any((dotted(b) or "").endswith("Migration") for b in n.bases)
        for n in tree.body
    )


def _operation_calls(tree: ast.Module) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = (dotted(node.func) or "").rpartition(".")[2]
            if name in ("RunPython", "RunSQL"):
                yield name, node


def django_findings(tree: ast.Module) -> list[Irreversible]:
    if not _is_django_migration(tree):
        return []
    found: list[Irreversible] = []
    for kind, call in _operation_calls(tree):
        keyword = "reverse_code" if kind == "RunPython" else "reverse_sql"
        if len(call.args) > 1 or any(kw.arg == keyword for kw in call.keywords):
            continue
        if kind == "RunPython":
            forward = _arg(call, 0, "code") or "..."
            skeleton = (
                f"migrations.RunPython({forward}, reverse_code=migrations.RunPython.noop)\n"
                "# noop only if re-running the forward step is harmless; otherwise write a\n"
                "# reverse function taking (apps, schema_editor) that undoes it."
            )
            found.append(
                Irreversible("django-runpython-irreversible", call.lineno, "RunPython", skeleton)
            )
            continue
        first = call.args[0] if call.args else None
        sql = (
            first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
        )
        inverse = sql_inverse(sql)
        reverse = repr(inverse) if inverse else "migrations.RunSQL.noop"
        # The forward SQL is not repeated: the annotation sits on it, and SQL can hold values.
        skeleton = f"migrations.RunSQL(..., reverse_sql={reverse})"
        if not inverse:
            skeleton += (
                "\n# noop only if the forward SQL can stay applied; otherwise write its inverse."
            )
        found.append(Irreversible("django-runsql-irreversible", call.lineno, "RunSQL", skeleton))
    return found


# --------------------------------------------------------------------------- fixer


def _message(path: str, item: Irreversible) -> tuple[str, str]:
    shown = str(Source(path))  # printable, no backticks
    if item.rule == "alembic-no-downgrade":
        title = f"Alembic revision {item.what}"
        lead = (
            f"`{shown}` changes the schema in `upgrade()` but {item.what}: "
            "`alembic downgrade` cannot roll this release back."
        )
    else:
        keyword = "reverse_code" if item.what == "RunPython" else "reverse_sql"
        title = f"`{item.what}` without `{keyword}`"
        lead = (
            f"`migrations.{item.what}` has no `{keyword}`, so `migrate` cannot move back past "
            "this migration: a rollback of the release is blocked here."
        )
    return title, f"{lead}\n\nInverse skeleton:\n\n```python\n{item.skeleton}\n```"


@dataclass(frozen=True)
class MigrationsFixer:
    name: str = NAME
    patterns: tuple[str, ...] = (*_ALEMBIC, *_DJANGO)
    scope: Literal["file", "repo"] = "file"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        findings: list[Finding] = []
        for path in readable_paths(snapshot, self.patterns, ctx.ignored):
            if path.endswith("/__init__.py") or not is_production_path(path):
                continue  # migrations under tests/ or examples/ never reach a database
            data = snapshot.read(path)
            tree = parse_python(path, data) if data is not None else None
            if tree is None or isinstance(tree, Note):
                continue  # a migration that does not parse fails the team's own CI first
            seen: dict[str, int] = {}
            for item in alembic_findings(tree) + django_findings(tree):
                # Identical skeletons in one file are told apart by their order, so the
                # fingerprint survives edits that only move lines.
                key = f"{item.rule}:{item.skeleton.splitlines()[0]}"
                seen[key] = seen.get(key, 0) + 1
                findings.append(self._finding(path, item, seen[key]))
        return findings

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return []  # report-only: a reverse migration encodes intent only its author knows

    @staticmethod
    def _finding(path: str, item: Irreversible, ordinal: int) -> Finding:
        title, message = _message(path, item)
        return Finding(
            fixer=NAME,
            rule=item.rule,
            severity=Severity.HYGIENE,
            path=path,
            line=item.line,
            title=title,
            message=message,
            fingerprint=fingerprint(
                NAME, item.rule, path, item.skeleton.splitlines()[0], str(ordinal)
            ),
            data={"skeleton": item.skeleton},
        )


FIXER = MigrationsFixer()
