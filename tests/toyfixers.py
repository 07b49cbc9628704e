"""Toy fixers for the engine tests, in a module of their own: scans run fixers in a child
process, which imports the module a fixer's class lives in -- this one imports nothing but
the fixer contract, so a scan process starts in milliseconds.

They are test input, not mocks: the engine, store, PR engine and check runs are the real ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fixers.contract import (
    Context,
    Explanation,
    FileEdit,
    Finding,
    Patch,
    Severity,
    Snapshot,
    fingerprint,
)

WORKFLOW = ".github/workflows/ci.yml"


@dataclass
class FixmeFixer:
    """Each line ``FIXME <severity>`` in a ``.txt`` file is a finding; the fix deletes the word."""

    name: str = "fixme"
    patterns: tuple[str, ...] = ("*.txt", "**/*.txt")
    scope: str = "file"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        found = []
        for path in snapshot.paths():
            if not path.endswith(".txt"):
                continue
            for number, line in enumerate(snapshot.read(path).decode().splitlines(), 1):
                if line.startswith("FIXME"):
                    level = line.split()[1] if len(line.split()) > 1 else "hygiene"
                    found.append(
                        Finding(
                            fixer=self.name,
                            rule="fixme",
                            severity=Severity[level.upper()],
                            message=f"FIXME left in {path}",
                            fingerprint=fingerprint(path, line, str(number)),
                            path=path,
                            line=number,
                            data={"path": path},
                        )
                    )
        return found

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        patches = []
        for path in sorted({f.path for f in findings}):
            mine = [f for f in findings if f.path == path]
            text = snapshot.read(path).decode()
            fixed = "\n".join(
                line.replace("FIXME", "FIXED", 1) if line.startswith("FIXME") else line
                for line in text.split("\n")
            )
            patches.append(
                Patch(
                    fixer=self.name,
                    key=path.replace("/", "-").removesuffix(".txt"),
                    title=f"Resolve FIXMEs in {path}",
                    edits=(FileEdit(path, "modify", fixed.encode()),),
                    explanation=Explanation(
                        found=f"{len(mine)} FIXME(s) in `{path}`.",
                        why="Unfinished work ships to production.",
                        changes="Marks them FIXED.",
                        verify="Read the file.",
                        rollback="Revert this PR.",
                    ),
                    severity=max(f.severity for f in mine),
                    fingerprints=tuple(f.fingerprint for f in mine),
                )
            )
        return patches


class WithholdingFixme(FixmeFixer):
    """The toy fixer, proposing no patch while ``notes/withhold.txt`` exists: the way a real
    fixer stops proposing a change it finds it cannot make safely (a lock it cannot update),
    while what it found is still there."""

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        if snapshot.read("notes/withhold.txt") is not None:
            return []
        return super().fix(snapshot, findings, ctx)


class UndecidedFixme(FixmeFixer):
    """The toy fixer, leaving its patches undecided while ``notes/undecided.txt`` exists: the
    way the dependency fixer's resolution budget runs out before a finding is checked."""

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        found = super().detect(snapshot, ctx)
        if snapshot.read("notes/undecided.txt") is None:
            return found
        return [replace(f, undecided=True) for f in found]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return super().fix(snapshot, [f for f in findings if not f.undecided], ctx)


class BinaryFixme(FixmeFixer):
    """The toy fixer, with a binary file in its patch (so a blob is written first)."""

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return [
            Patch(
                fixer=p.fixer,
                key=p.key,
                title=p.title,
                edits=(*p.edits, FileEdit("notes/marker.bin", "create", b"\xff\x00fixed")),
                explanation=p.explanation,
                severity=p.severity,
                fingerprints=p.fingerprints,
            )
            for p in super().fix(snapshot, findings, ctx)
        ]


class WorkflowFixme:
    """A toy fixer for workflow files: a ``# FIXME`` line is a finding, the fix drops it."""

    name = "wffixme"
    patterns = (".github/workflows/*",)
    scope = "file"

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        text = (snapshot.read(WORKFLOW) or b"").decode()
        if "# FIXME" not in text:
            return []
        return [
            Finding(
                self.name,
                "fixme",
                Severity.DRIFT,
                "FIXME in CI",
                fingerprint(WORKFLOW),
                path=WORKFLOW,
            )
        ]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        text = (snapshot.read(WORKFLOW) or b"").decode().replace("# FIXME\n", "")
        return [
            Patch(
                self.name,
                "ci",
                "Drop the FIXME from CI",
                (FileEdit(WORKFLOW, "modify", text.encode()),),
                Explanation("a FIXME", "noise", "drops it", "read it", "revert"),
                Severity.DRIFT,
                fingerprints=(fingerprint(WORKFLOW),),
            )
        ]


@dataclass
class _Misbehaving:
    """A fixer that finds one thing about itself; subclasses misbehave in ``_work``."""

    name: str
    patterns: tuple[str, ...] = ("*",)
    scope: str = "repo"

    def _work(self) -> str:
        return str(os.getpid())

    def detect(self, snapshot: Snapshot, ctx: Context) -> list[Finding]:
        said = self._work()
        return [Finding(self.name, "ran", Severity.HYGIENE, said, fingerprint(self.name))]

    def fix(self, snapshot: Snapshot, findings: Sequence[Finding], ctx: Context) -> list[Patch]:
        return []


@dataclass
class PidFixer(_Misbehaving):
    """Reports the process it ran in (its finding's message is the pid)."""

    name: str = "pid"


@dataclass
class SpinFixer(_Misbehaving):
    """Spins forever, like a regular expression backtracking on a crafted file."""

    name: str = "spin"

    def _work(self) -> str:
        n = 0
        while True:
            n += 1


@dataclass
class HogFixer(_Misbehaving):
    """Asks for 64 GiB at once, like a YAML alias bomb expanding."""

    name: str = "hog"

    def _work(self) -> str:
        return str(len(bytearray(64 * 1024**3)))


@dataclass
class SleepFixer(_Misbehaving):
    """Waits without using CPU, like a fixer stuck on a service that never answers."""

    name: str = "sleepy"

    def _work(self) -> str:
        time.sleep(3600)
        return "woke"


def _socket_fds() -> int:
    import stat

    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += stat.S_ISSOCK(os.fstat(int(name)).st_mode)
        except OSError:
            continue  # the listing's own descriptor, closed by now
    return count


@dataclass
class ProcessFixer(_Misbehaving):
    """Reports where it ran: ``pid ppid RLIMIT_AS RLIMIT_CPU sockets`` (soft limits, and
    how many of its open descriptors are sockets)."""

    name: str = "process"

    def _work(self) -> str:
        import resource

        memory = resource.getrlimit(resource.RLIMIT_AS)[0]
        cpu = resource.getrlimit(resource.RLIMIT_CPU)[0]
        return f"{os.getpid()} {os.getppid()} {memory} {cpu} {_socket_fds()}"
