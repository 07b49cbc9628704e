"""A node and depth budget for every YAML document read from a repository (issue 9).

A YAML alias is a pointer: ``[*a, *a, *a]`` nine levels deep is a 400-byte file whose
tree, once anything walks or copies it, is 387 million nodes (a "billion laughs").
ruamel keeps aliases shared when it loads, so the cost comes later and anywhere: a
fixer walking the jobs, a comparison, a dump. The only safe place to stop it is
before the document is composed: :func:`check_yaml` walks the parser's event stream
(iterative and linear in the text), counting every node *as if* aliases were expanded
-- an anchored node's expanded size is remembered, an alias adds it again -- and the
nesting depth, and raises :class:`YamlBudgetError` past either budget.

Every YAML read in ``fixers/`` goes through here: workflow and compose files
(:func:`fixers.production.workflows.parse_yaml`, ``deploy_files.load_yaml``,
the dependency fixer's workflow reader), the secrets fix's YAML re-parse, and
``.github/patchwell.yml`` (``fixers.repo_config``, with its smaller budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)

__all__ = ["REPOSITORY_YAML", "YamlBudget", "YamlBudgetError", "check_yaml"]


@dataclass(frozen=True, slots=True)
class YamlBudget:
    """At most ``nodes`` nodes with aliases expanded, nested at most ``depth`` deep."""

    nodes: int
    depth: int


#: Repository files (workflows, compose, config files the secrets fix rewrites): a
#: 512 KiB workflow is ~100,000 nodes written out; a bomb is millions.
REPOSITORY_YAML = YamlBudget(nodes=250_000, depth=100)


class YamlBudgetError(YAMLError):
    """A document over its budget. A :class:`YAMLError`, so every reader that already
    treats an unreadable file as a finding or a skip does so here too, with this
    message naming the budget."""

    def __init__(self, message: str, budget: YamlBudget) -> None:
        super().__init__(message)
        self.budget = budget
        self.problem = message  # what readers quote from a YAMLError

    def __str__(self) -> str:
        return str(self.args[0])


def check_yaml(text: str | bytes, budget: YamlBudget = REPOSITORY_YAML) -> None:
    """Raise :class:`YamlBudgetError` if ``text`` expands past ``budget``.

    A syntax error is left for the real load to report (it says where)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names
    stack: list[list[Any]] = []  # [anchor, expanded size so far] per open collection
    expanded = 0
    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, CollectionStartEvent):
                stack.append([event.anchor, 1])
                expanded += 1
                if len(stack) > budget.depth:
                    raise YamlBudgetError(
                        f"the YAML nests deeper than {budget.depth} levels (the depth budget)",
                        budget,
                    )
            elif isinstance(event, ScalarEvent | AliasEvent | CollectionEndEvent):
                if isinstance(event, ScalarEvent):
                    anchor, size = event.anchor, 1
                    expanded += 1
                elif isinstance(event, AliasEvent):
                    anchor, size = None, sizes.get(event.anchor, 1)
                    expanded += size
                elif stack:
                    anchor, size = stack.pop()  # its contents are counted already
                else:
                    continue
                if anchor is not None:
                    sizes[anchor] = size
                if stack:
                    stack[-1][1] += size
            if expanded > budget.nodes:
                raise YamlBudgetError(
                    f"the YAML expands to more than {budget.nodes} nodes (the node budget;"
                    " aliases?), so it was not read",
                    budget,
                )
    except YamlBudgetError:
        raise
    except (YAMLError, ValueError):
        return  # the load reports the syntax error, with its position
