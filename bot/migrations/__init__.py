"""Versioned schema migrations, applied by :mod:`bot.migrate`.

Adding one: create ``NNNN_short_name.py`` here (next free number, four digits) with two dicts,
each holding a list of statements per dialect::

    UPGRADE = {"sqlite": ["CREATE TABLE ..."], "postgresql": ["CREATE TABLE ..."]}
    DOWNGRADE = {"sqlite": ["DROP TABLE ..."], "postgresql": ["DROP TABLE ..."]}

DOWNGRADE must undo UPGRADE exactly (tests/test_db.py checks the schema is identical after
upgrade -> downgrade -> upgrade for every migration, on both dialects). Statements run in one
transaction per migration; never edit a migration that has shipped -- add a new one.
Timestamps are epoch seconds (REAL / DOUBLE PRECISION) so both dialects compare them alike.
"""
