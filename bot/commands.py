"""Commands maintainers comment on Patchwell's pull requests.

``@patchwell rebase``    rebuild the branch on the latest default branch (a fresh scan)
``@patchwell recreate``  rebuild it even though someone pushed to it (their commits go)
``@patchwell ignore``    close the PR, delete the branch, never propose this change again
``@patchwell explain``   post the findings behind the PR again

Only people with write access (admin, maintain or write) may command; anyone
else gets one polite refusal. Comment text is untrusted: it is parsed with a
bounded, anchored pattern, never echoed back, and only the first few commands
of a comment are obeyed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMANDS = ("rebase", "recreate", "ignore", "explain")
#: A comment longer than this is not read for commands at all.
MAX_COMMENT_CHARS = 65_536
#: At most this many commands from one comment.
MAX_COMMANDS = 3
#: Permission levels GitHub reports that allow commanding.
WRITERS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class Command:
    name: str


def parse_commands(body: str, bot_name: str) -> list[Command]:
    """Commands addressed to ``@bot_name`` at the start of a line, in order, de-duplicated."""
    if not body or len(body) > MAX_COMMENT_CHARS:
        return []
    pattern = re.compile(
        rf"^[ \t]*@{re.escape(bot_name)}(?:\[bot\])?[ \t]+([a-z]{{1,20}})\b",
        re.IGNORECASE | re.MULTILINE,
    )
    found: list[Command] = []
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence  # quoted examples in code blocks are not commands
            continue
        if in_fence or line.lstrip().startswith(">"):
            continue
        match = pattern.match(line)
        if match and match.group(1).lower() in COMMANDS:
            command = Command(match.group(1).lower())
            if command not in found:
                found.append(command)
        if len(found) >= MAX_COMMANDS:
            break
    return found


def may_command(permission: str | None) -> bool:
    return (permission or "none") in WRITERS
