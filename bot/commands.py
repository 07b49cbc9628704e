"""Commands maintainers comment on Patchwell's pull requests and on its dashboard issue.

Addressed to the App by its slug (``@patchwell``, or whatever ``GET /app`` says the App is
called now), one per line, at the start of the line::

    @patchwell help                      list these commands
    @patchwell rebase                    rebuild the branch on the latest default branch
    @patchwell recreate                  rebuild it even though someone pushed to it
    @patchwell explain                   post the findings behind the PR again
    @patchwell ignore                    close the PR, never propose this change again
    @patchwell ignore this dependency    never propose updates of its package(s)
    @patchwell ignore this major version no updates to this major version of the package(s)
    @patchwell ignore this minor version no updates to this minor version of the package(s)
    @patchwell unignore NAME             undo the ignores of a package or a branch
    @patchwell show ignore conditions    list what is ignored in this repository
    @patchwell rescan                    scan the repository now

There is no merge or close-by-comment: merging is GitHub's auto-merge's job.

Comment text is untrusted: it is read with bounded, anchored patterns, line by line, never
echoed back. Lines inside fenced code (````` ``` ````` or ``~~~``), indented code blocks, block
quotes and HTML comments are not commands -- those are how people quote a command to explain it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A comment longer than this is not read for commands at all.
MAX_COMMENT_CHARS = 65_536
#: At most this many commands from one comment.
MAX_COMMANDS = 3
#: The text after the mention that is looked at (a command is a few words).
MAX_COMMAND_CHARS = 200
#: Permission levels GitHub reports that allow commanding.
WRITERS = frozenset({"admin", "maintain", "write"})
UNKNOWN = "unknown"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_QUOTE = re.compile(r"^ {0,3}>")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+-]{0,199}")


@dataclass(frozen=True)
class CommandSpec:
    name: str
    where: frozenset[str]  # "pull" (a Patchwell PR) and/or "dashboard"
    summary: str
    argument: str | None = None  # the placeholder shown in help

    @property
    def usage(self) -> str:
        return f"{self.name} {self.argument}" if self.argument else self.name


_BOTH = frozenset({"pull", "dashboard"})
_PULL = frozenset({"pull"})

SPECS: tuple[CommandSpec, ...] = (
    CommandSpec("help", _BOTH, "lists these commands"),
    CommandSpec("rebase", _PULL, "rebuilds this branch on the latest default branch"),
    CommandSpec(
        "recreate", _PULL, "rebuilds it even if someone pushed to it, discarding their commits"
    ),
    CommandSpec("explain", _PULL, "posts the findings behind this pull request again"),
    CommandSpec("ignore", _PULL, "closes this pull request and stops proposing this change"),
    CommandSpec("ignore this dependency", _PULL, "stops proposing any update of its package(s)"),
    CommandSpec(
        "ignore this major version", _PULL, "stops proposing updates to this major version"
    ),
    CommandSpec(
        "ignore this minor version", _PULL, "stops proposing updates to this minor version"
    ),
    CommandSpec("unignore", _BOTH, "undoes the ignores of a package or a branch", "NAME"),
    CommandSpec("show ignore conditions", _BOTH, "lists what this repository ignores"),
    CommandSpec("rescan", _BOTH, "scans the repository now"),
)
_BY_WORDS = {tuple(s.name.split()): s for s in SPECS}
COMMANDS = tuple(s.name for s in SPECS)


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


def spec_of(name: str) -> CommandSpec | None:
    return next((s for s in SPECS if s.name == name), None)


def parse_commands(body: str, bot_name: str) -> list[Command]:
    """Commands addressed to ``@bot_name``, in order, de-duplicated, at most MAX_COMMANDS.

    A line addressed to the App that is not a known command is ``Command("unknown")``: the
    person gets the list of commands instead of silence.
    """
    if not body or len(body) > MAX_COMMENT_CHARS:
        return []
    mention = re.compile(
        rf"^ {{0,3}}@{re.escape(bot_name)}(?:\[bot\])?(?:[ \t]+(.*))?$", re.IGNORECASE
    )
    found: list[Command] = []
    for line in _prose_lines(_without_html_comments(body)):
        match = mention.match(line)
        if match is None:
            continue
        command = _command(match.group(1) or "")
        if command not in found:
            found.append(command)
        if len(found) >= MAX_COMMANDS:
            break
    return found


def _command(rest: str) -> Command:
    if len(rest) > MAX_COMMAND_CHARS:
        return Command(UNKNOWN)
    words = rest.strip().rstrip(".!").split()
    spec = _BY_WORDS.get(tuple(w.lower() for w in words))
    if spec is not None and spec.argument is None:
        return Command(spec.name)
    if len(words) == 2 and words[0].lower() == "unignore" and _NAME.fullmatch(words[1]):
        return Command("unignore", words[1])
    return Command(UNKNOWN)


def _without_html_comments(text: str) -> str:
    """``text`` with every ``<!-- ... -->`` removed (an unclosed one runs to the end)."""
    out: list[str] = []
    at = 0
    while True:
        start = text.find("<!--", at)
        if start < 0:
            out.append(text[at:])
            return "".join(out)
        out.append(text[at:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(out)
        # Keep the line structure: a comment's newlines still end lines.
        out.append("\n" * text.count("\n", start, end))
        at = end + 3


def _prose_lines(text: str):
    """Lines that are prose: not in fenced code, not indented code, not quoted."""
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence is not None:
            # A fence closes with the same character, at least as long, and nothing after it.
            closes = (
                opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence)
            )
            if closes and not line.strip().strip(fence[0]):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        if line.startswith(("    ", "\t")) or _QUOTE.match(line):
            continue  # indented code and block quotes show commands, they do not give them
        yield line


def may_command(permission: str | None) -> bool:
    return (permission or "none") in WRITERS


def help_text(bot_name: str, where: str) -> str:
    """The command list, for ``help`` and for unknown commands."""
    lines = [
        f"- `@{bot_name} {s.usage}` {s.summary}"
        for s in SPECS
        if where in s.where or where == "all"
    ]
    return "\n".join(lines)
