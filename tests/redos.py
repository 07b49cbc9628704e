"""Finding regular expressions that backtrack on hostile input (issue 9).

Two halves, both used by ``tests/test_hostile_regex.py``:

* :func:`literal_patterns` -- every ``re.<function>("literal", ...)`` call in a source
  tree, found by parsing it (so a new pattern is covered without anyone listing it), and
  every call whose pattern is *not* a literal (those must be declared by the test);
* :func:`attacks` -- generated worst cases for one compiled pattern, built from its own
  parse tree: each character it can match repeated, each with a newline (``^\\s*`` under
  ``re.M``), and repeated prefixes of a string the pattern matches (a PEM header with no
  END line is the prefix ``-----BEGIN … KEY-----`` of the PEM pattern's match, repeated).

Growth is judged by :func:`superlinear`: the thread CPU time of ``finditer`` over an
input of size ``n`` and ``4n`` (min of repeats, so other processes on a loaded machine
barely move it) and their ratio -- linear is 4, quadratic 16.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import re._constants as sre_constants
    import re._parser as sre_parse
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_FUNCTIONS = frozenset(
    {"compile", "match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
)
_FLAG_POSITION = {"compile": 1, "match": 2, "search": 2, "fullmatch": 2, "findall": 2}
_FLAG_POSITION |= {"finditer": 2, "split": 3, "sub": 4, "subn": 4}


@dataclass(frozen=True)
class Site:
    """One ``re.<function>(...)`` call in a source file."""

    path: str  # relative, ``/``-separated
    line: int
    source: str  # the pattern argument's source text: the key for dynamic patterns
    pattern: str | bytes | None  # None: not a literal
    flags: int
    #: Only ever tried at the start of its input (``re.match``, or a module constant
    #: used only through ``.match``/``.fullmatch``): judged there, not at every position.
    anchored: bool = False


_ANCHORED_USES = frozenset({"match", "fullmatch"})


def _anchored_names(tree: ast.Module) -> set[str]:
    """Module-level names bound to ``re.compile(...)`` whose every use is ``.match``."""
    bound = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    uses: dict[str, set[str]] = {}
    through_attribute: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            uses.setdefault(node.value.id, set()).add(node.attr)
            through_attribute.add(id(node.value))
    for node in ast.walk(tree):
        # a name passed on or stored (not called through an attribute) is used any way
        bare = isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        if bare and id(node) not in through_attribute:
            uses.setdefault(node.id, set()).add("")
    return {name for name, how in uses.items() if name in bound and how and how <= _ANCHORED_USES}


def _flags(node: ast.Call, function: str) -> int:
    position = _FLAG_POSITION[function]
    arg: ast.expr | None = node.args[position] if len(node.args) > position else None
    for keyword in node.keywords:
        if keyword.arg == "flags":
            arg = keyword.value
    if arg is None:
        return 0
    # Our own source: the flags are expressions over ``re`` (``re.M | re.I``).
    return int(eval(compile(ast.Expression(arg), "<flags>", "eval"), {"re": re}))


def sites(root: Path, packages: tuple[str, ...]) -> Iterator[Site]:
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            anchored_names = _anchored_names(tree)
            constants = {
                id(node.value): target.id
                for node in tree.body
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            for node in ast.walk(tree):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.func.attr in _FUNCTIONS
                    and node.args
                ):
                    continue
                first = node.args[0]
                literal = first.value if isinstance(first, ast.Constant) else None
                if not isinstance(literal, str | bytes):
                    literal = None
                yield Site(
                    path=path.relative_to(root).as_posix(),
                    line=node.lineno,
                    source=ast.get_source_segment(text, first) or "",
                    pattern=literal,
                    flags=_flags(node, node.func.attr) if literal is not None else 0,
                    anchored=node.func.attr in _ANCHORED_USES
                    or constants.get(id(node)) in anchored_names,
                )


# --------------------------------------------------------------------------- attacks

_CATEGORY_SAMPLES = {
    sre_constants.CATEGORY_DIGIT: "0",
    sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_SPACE: " \n\t",
    sre_constants.CATEGORY_NOT_SPACE: "a-",
    sre_constants.CATEGORY_WORD: "a_0",
    sre_constants.CATEGORY_NOT_WORD: " -",
}


def _class_samples(items: list[tuple[Any, Any]]) -> str:
    out = ""
    if items and items[0][0] is sre_constants.NEGATE:
        return "a \n-"  # a negated class matches most things; these are the usual ones
    for op, value in items:
        if op is sre_constants.LITERAL:
            out += chr(value)
        elif op is sre_constants.RANGE:
            out += chr(value[0])
        elif op is sre_constants.CATEGORY:
            out += _CATEGORY_SAMPLES.get(value, "a")
    return out


def _walk(parsed: Any, alphabet: set[str], skeleton: list[str], cuts: list[int]) -> None:
    """Collect the characters a pattern can match, a string it (roughly) matches, and the
    places in that string where a repeat starts or ends (the prefixes worth pumping)."""
    for op, value in parsed:
        if op is sre_constants.LITERAL:
            alphabet.add(chr(value))
            skeleton.append(chr(value))
        elif op is sre_constants.NOT_LITERAL:
            alphabet.add("a" if value != ord("a") else "b")
            skeleton.append("a" if value != ord("a") else "b")
        elif op is sre_constants.ANY:
            alphabet.update("a\n")
            skeleton.append("a")
        elif op is sre_constants.IN:
            samples = _class_samples(value)
            alphabet.update(samples)
            skeleton.append(samples[:1] or "a")
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) or (
            getattr(sre_constants, "POSSESSIVE_REPEAT", None) is op
        ):
            low, _high, body = value
            cuts.append(len("".join(skeleton)))
            for _ in range(max(1, low)):
                _walk(body, alphabet, skeleton, cuts)
            cuts.append(len("".join(skeleton)))
        elif op is sre_constants.SUBPATTERN:
            _walk(value[-1], alphabet, skeleton, cuts)
        elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
            _walk(value, alphabet, skeleton, cuts)
        elif op is sre_constants.BRANCH:
            branches = value[1]
            for branch in branches[1:]:
                _walk(branch, alphabet, [], [])
            _walk(branches[0], alphabet, skeleton, cuts)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            _walk(value[1], alphabet, [], [])


def attacks(pattern: re.Pattern[Any]) -> dict[str, Callable[[int], Any]]:
    """Named input generators for ``pattern``: each takes a size and returns an input of
    about that length (``bytes`` for a bytes pattern)."""
    source = pattern.pattern
    text = source.decode("latin-1") if isinstance(source, bytes) else source
    parsed = sre_parse.parse(
        text, pattern.flags & ~re.UNICODE if isinstance(source, bytes) else pattern.flags
    )
    alphabet: set[str] = set()
    skeleton: list[str] = []
    cuts: list[int] = []
    _walk(parsed, alphabet, skeleton, cuts)
    whole = "".join(skeleton)
    units: dict[str, str] = {}
    for char in sorted(alphabet)[:24]:
        units[f"{char!r}*n"] = char
        units[f"({char!r}+newline)*n"] = char + "\n"
        units[f"({char!r}+space)*n"] = char + " "
    for cut in sorted(set(cuts))[:16]:
        if cut:
            units[f"prefix[:{cut}]*n"] = whole[:cut]
            units[f"(prefix[:{cut}]+newline)*n"] = whole[:cut] + "\n"
    # A repeat that starts after a word boundary restarts at every `-eyJ` of `-eyJ-eyJ…`:
    # prefixes glued by a non-word character the pattern itself can match.
    separators = [c for c in sorted(alphabet) if not (c.isalnum() or c == "_") and c != "\n"]
    for sep in separators[:2]:
        for cut in sorted(set(cuts))[:8]:
            if cut:
                units[f"({sep!r}+prefix[:{cut}])*n"] = sep + whole[:cut]
    if whole:
        units["match*n"] = whole
    wants_bytes = isinstance(source, bytes)

    def make(unit: str) -> Callable[[int], Any]:
        def generate(size: int) -> Any:
            value = unit * max(1, size // len(unit))
            return value.encode("utf-8") if wants_bytes else value

        return generate

    return {name: make(unit) for name, unit in units.items()}


def cpu_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best


#: Below this many CPU seconds at the larger size a run is too short to judge (timer
#: resolution and noise); a quadratic pattern at the sizes used is well above it.
JUDGE_FLOOR = 0.002
#: Linear growth from ``n`` to ``4n`` is ~4, quadratic ~16: the limit sits in between,
#: generous for noise on a loaded machine.
MAX_RATIO = 8.0
#: Growth this steep at one scale is cubic or exponential: no second look is needed.
CERTAIN_RATIO = 60.0


@dataclass(frozen=True)
class Growth:
    attack: str
    small: float
    large: float

    @property
    def ratio(self) -> float:
        return self.large / max(self.small, 1e-9)


def superlinear(
    run: Callable[[Any], object], generate: Callable[[int], Any], size: int, name: str = ""
) -> Growth | None:
    """The growth of ``run`` from ``generate(n)`` to ``generate(4 * n)`` if it is clearly
    worse than linear, else None.

    Scales are looked at from the smallest up, so a cubic or exponential case is caught
    before the larger input would take minutes. One steep step is not enough: a bounded
    repetition (``{1,200}``) is quadratic until the runs outgrow its bound and linear after,
    and a loaded machine can stretch one measurement. Superlinear growth must hold at the
    next scale too, unless it is steep enough to leave no doubt."""
    suspect: Growth | None = None
    for small_size in (size // 4, size, 4 * size):
        if suspect is None and small_size > size:
            return None  # the last scale is only a second look at a suspect
        growth = _growth(run, generate, small_size, name)
        if growth is None:
            continue
        if growth.ratio > CERTAIN_RATIO or (suspect is not None and growth.ratio > MAX_RATIO):
            return growth
        suspect = growth if growth.ratio > MAX_RATIO else None
    return None


def _growth(
    run: Callable[[Any], object], generate: Callable[[int], Any], small_size: int, name: str
) -> Growth | None:
    """``run``'s CPU time on ``generate(small_size)`` and on four times that, or None when
    the larger run is too short to judge."""
    small_input, large_input = generate(small_size), generate(4 * small_size)
    large = cpu_seconds(lambda: run(large_input), repeats=1)
    if large < JUDGE_FLOOR:
        return None
    small = cpu_seconds(lambda: run(small_input))
    large = min(large, cpu_seconds(lambda: run(large_input), repeats=2))
    return Growth(name, small, large)


def match_at_start(pattern: re.Pattern[Any]) -> Callable[[Any], object]:
    return lambda value: pattern.match(value)


def scan_all(pattern: re.Pattern[Any]) -> Callable[[Any], object]:
    """Every position tried, the way ``search``/``finditer``/``re.M`` use a pattern."""
    return lambda value: sum(1 for _ in pattern.finditer(value))
