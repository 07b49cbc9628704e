"""GitHub Actions job logs: cleaned lines, cut into the sections of the job's steps.

A job log (``GET /repos/{owner}/{repo}/actions/jobs/{id}/logs``) is plain text, one
line per output line, each prefixed with an ISO-8601 timestamp (seven fractional
digits and ``Z``, then one space); the file may start with a UTF-8 BOM. The runner
writes workflow commands as ``##[group]``/``##[endgroup]``/``##[error]``/``##[warning]``
lines:

* the "Set up job" step has no header: it is everything before the first step;
* every other step starts with ``##[group]Run <uses or first script line>``, the echo of
  what it runs, ``##[endgroup]``, then its output -- so the header names the command,
  not the step's ``name:``;
* post steps and "Complete job" start with ``Post job cleanup.`` and
  ``Cleaning up orphan processes``.

Everything here is bounded: at most :data:`MAX_LINES` lines are kept, each cut at
:data:`MAX_LINE_CHARS` characters; the caller caps the bytes it downloads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_LINES",
    "MAX_LINE_CHARS",
    "SETUP_STEP",
    "JobLog",
    "Section",
    "StepInfo",
    "clean_line",
    "failing_section",
    "parse_log",
]

#: Lines kept from one log (the caller's byte cap usually bites first).
MAX_LINES = 200_000
MAX_LINE_CHARS = 2_000
SETUP_STEP = "Set up job"
COMPLETE_STEP = "Complete job"

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RUN_HEADER = "##[group]Run "
_POST_MARK = "Post job cleanup."
_COMPLETE_MARK = "Cleaning up orphan processes"


def clean_line(raw: str) -> str:
    """One log line without its timestamp prefix, BOM, ANSI colours and trailing CR."""
    line = raw.lstrip("\ufeff").rstrip("\r")
    line = _TIMESTAMP.sub("", line, count=1)
    line = _ANSI.sub("", line)
    return line[:MAX_LINE_CHARS]


@dataclass(frozen=True, slots=True)
class Section:
    """One step's part of the log. ``title`` is ``Set up job``, the ``Run ...`` header,
    ``Post job cleanup`` or ``Complete job``."""

    title: str
    lines: tuple[str, ...]

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(
            line[len("##[error]") :] for line in self.lines if line.startswith("##[error]")
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(
            line[len("##[warning]") :] for line in self.lines if line.startswith("##[warning]")
        )

    @property
    def is_user_step(self) -> bool:
        return self.title.startswith("Run ")

    def output(self) -> tuple[str, ...]:
        """The step's output: the header echo (command and env) left out."""
        if not self.lines or not self.lines[0].startswith("##[group]"):
            return self.lines
        depth, out = 0, []
        for index, line in enumerate(self.lines):
            if line.startswith("##[group]"):
                depth += 1
            elif line.startswith("##[endgroup]"):
                depth -= 1
                if depth <= 0:
                    out = list(self.lines[index + 1 :])
                    break
        return (self.lines[0][len("##[group]") :], *out)


@dataclass(frozen=True, slots=True)
class JobLog:
    sections: tuple[Section, ...]
    #: the middle of the log was not read (it was larger than the download cap)
    truncated: bool = False

    def all_lines(self) -> tuple[str, ...]:
        return tuple(line for s in self.sections for line in s.lines)


@dataclass(frozen=True, slots=True)
class StepInfo:
    """A step as the jobs API and ``workflow_job`` payloads list it."""

    number: int
    name: str
    conclusion: str | None


def parse_log(text: str, *, truncated: bool = False) -> JobLog:
    sections: list[Section] = []
    title, current = SETUP_STEP, []
    for count, raw in enumerate(text.split("\n")):
        if count >= MAX_LINES:
            truncated = True
            break
        line = clean_line(raw)
        header = None
        if line.startswith(_RUN_HEADER):
            header = line[len("##[group]") :]
        elif line == _POST_MARK:
            header = "Post job cleanup"
        elif line == _COMPLETE_MARK:
            header = COMPLETE_STEP
        if header is not None:
            if current or title != SETUP_STEP:
                sections.append(Section(title, tuple(current)))
            title, current = header, []
        current.append(line)
    if current and not (len(current) == 1 and not current[0]):
        sections.append(Section(title, tuple(current)))
    return JobLog(tuple(sections), truncated)


def _user_steps(steps: Sequence[StepInfo]) -> list[StepInfo]:
    return [
        s
        for s in steps
        if s.name not in (SETUP_STEP, COMPLETE_STEP) and not s.name.startswith("Post ")
    ]


def failing_section(log: JobLog, steps: Sequence[StepInfo] = ()) -> Section | None:
    """The section of the step that failed.

    By the step's name when it is "Set up job" or a default ``Run ...`` name (which is
    the header itself); else by position when the log has exactly one ``Run`` header per
    user step (no composite actions splitting steps); else the first section holding an
    ``##[error]`` line.
    """
    failed = next((s for s in steps if s.conclusion == "failure"), None)
    if failed is not None:
        if failed.name == SETUP_STEP:
            return next((s for s in log.sections if s.title == SETUP_STEP), None)
        named = [s for s in log.sections if s.title == failed.name]
        if named:
            return named[-1]
        user_steps = _user_steps(steps)
        headers = [s for s in log.sections if s.is_user_step]
        if failed in user_steps and len(headers) == len(user_steps) and not log.truncated:
            return headers[user_steps.index(failed)]
    with_errors = [s for s in log.sections if s.errors and s.title != "Post job cleanup"]
    if with_errors:
        return with_errors[0]
    return None
