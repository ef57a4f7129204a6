"""What a gitignore-style pattern covers, and whether two patterns can cover one same file.

A pattern is read from the repository root, as Git reads a line of .gitignore that starts with '/' (pathspec's
GitIgnoreSpecPattern, which follows Git's own behaviour, is the reference for a pattern against a path):
`src/**` is everything under src, `README.md` the README at the root, `*.py` the .py files at the root, `**/*.py`
every .py file, `docs/` the directory docs and what it holds, `src/api/routes.py` that file (and, were it a
directory, what it holds). A leading '/' itself is refused: it would read as an absolute path.

Two patterns overlap when some path is covered by both. That is decided on a model of each pattern as a sequence
of path segments (a glob for one segment, or "any number of segments here"), by a search of the pair of models
for a path both accept; a segment glob pair by the same search over characters. The answer is exact, with a path
both cover as its witness, except where a bracket expression can match '/' (`[!a]`, or a range across '/'): the
regular expression Git's rules translate to lets such a bracket cross into the next segment, so the model widens
that segment to "any segments here", and the answer may then be "overlap" where there is none (never the
reverse). A search that would take too long is answered "overlap" too.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Literal

from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

STAR, ONE = ("*",), ("?",)  # characters of a segment: any run of them, exactly one
ANY_SEGMENT = (STAR,)  # a glob that takes any (non-empty) segment
SEGMENTS = "**"  # an item of a model: any number of segments, none included
MAX_LENGTH = 512  # characters of a pattern
WORK = 50_000  # states a search may visit before it answers "overlap" unfinished
_ABSOLUTE = re.compile(r"^(?:/|\\\\|[A-Za-z]:[/\\]|~/|~$)")
_FALLBACK = "xa0_-.é名😀"  # characters to try where a glob allows almost any


@dataclass(frozen=True)
class Shape:
    """A pattern as the overlap search sees it."""

    items: tuple  # each a glob (a tuple of character tokens) or SEGMENTS
    exact: bool  # False where a bracket that can match '/' was widened
    anchor: str  # the literal leading directories every covered path starts with ('' when none)


def check(pattern: str, max_length: int = MAX_LENGTH) -> str:
    """The pattern as stored, or ValueError saying what is wrong with it (for people: what to write instead)."""
    if not isinstance(pattern, str):
        raise ValueError("a pattern must be text")
    text = pattern.strip()
    if not text:
        raise ValueError("the pattern is empty")
    if len(text) > max_length:
        raise ValueError(f"the pattern is {len(text)} characters long; at most {max_length} are allowed")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("the pattern holds a control character")
    if _ABSOLUTE.match(text):
        raise ValueError("absolute paths are refused: give the path relative to the repository root "
                         "(a pattern with a '/' in it, like src/**, is already anchored there)")
    if text[0] in "!#":
        raise ValueError(f"a pattern may not start with {text[0]!r} (Git reads it as "
                         f"{'a negation' if text[0] == '!' else 'a comment'}); escape it as '\\{text[0]}'")
    segments = text.split("/")
    if "" in segments[:-1]:
        raise ValueError("the pattern has an empty segment ('//')")
    if any(segment in (".", "..") for segment in segments):
        raise ValueError("'.' and '..' segments are refused: name the path from the repository root")
    shape(text)  # its globs parse
    return text


def covers(pattern: str, path: str) -> bool:
    """Does `pattern` cover the file at `path` (relative to the repository root)?"""
    return _compiled(pattern).match_file(path) is not None


def as_gitignore(pattern: str) -> str:
    """The line of a .gitignore at the repository root that covers what `pattern` does."""
    return "/" + pattern


@functools.lru_cache(maxsize=65536)
def overlaps(a: str, b: str) -> bool:
    """Can a path be covered by both patterns? (Conservative: see the module's docstring.)"""
    left, right = shape(a), shape(b)
    if not _anchors_meet(left.anchor, right.anchor):
        return False
    if _all_under(left, right.anchor) or _all_under(right, left.anchor):
        return True  # every pattern covers some path, all of them under its anchor
    return decide(a, b)[0]


@functools.lru_cache(maxsize=65536)
def decide(a: str, b: str) -> tuple[bool, str | None]:
    """(overlap, a path both cover) when decided exactly; (True, None) when answered conservatively."""
    left, right = shape(a), shape(b)
    if not _anchors_meet(left.anchor, right.anchor):
        return False, None
    found = _search_segments(left.items, right.items)
    if found is None:
        return True, None  # too much work: overlap, to be safe
    if found is False:
        return False, None
    return True, (found if left.exact and right.exact else None)


@functools.lru_cache(maxsize=16384)
def shape(pattern: str) -> Shape:
    """The model of a checked pattern (raises ValueError for a glob that does not parse)."""
    segments = pattern.split("/")  # from the root: no '**' goes in front, even without an inner '/'
    directory = segments[-1] == ""
    if segments[-1] == "":
        segments[-1] = "**"  # a directory: what it holds
    collapsed = [s for i, s in enumerate(segments) if not (s == "**" and i and segments[i - 1] == "**")]
    if collapsed == ["**"] and directory:
        return Shape((ANY_SEGMENT, SEGMENTS, ANY_SEGMENT, SEGMENTS), True, "")  # '**/': anything in a directory
    items: list = []
    exact = True
    last = len(collapsed) - 1
    for index, segment in enumerate(collapsed):
        if segment == "**":
            items += [ANY_SEGMENT, SEGMENTS] if index == last and index else [SEGMENTS]
            continue
        glob = _glob(segment)
        if glob is None:  # a bracket that can match '/': any segments here
            exact = False
            items += [ANY_SEGMENT, SEGMENTS]
        else:
            items.append(glob)
        if index == last:
            items.append(SEGMENTS)  # a file, or a directory and what it holds
    return Shape(tuple(items), exact, _anchor(items))


def everything_under(model: Shape) -> bool:
    """Does the pattern cover everything under its anchor ('src/**', or '**' for everything)? Then it overlaps every
    pattern anchored there or below."""
    if model.items == (SEGMENTS,):
        return True
    literal = len(model.items) - 2
    return bool(model.anchor) and model.items[literal:] == (ANY_SEGMENT, SEGMENTS) \
        and literal == model.anchor.count("/") + 1


def _all_under(model: Shape, anchor: str) -> bool:
    """Does `model` cover everything under its anchor, with `anchor` at or below that anchor?"""
    return everything_under(model) and (not model.anchor or anchor == model.anchor
                                        or anchor.startswith(model.anchor + "/"))


def _anchor(items: list) -> str:
    literal = []
    for item in items:
        if item is SEGMENTS or not all(token[0] == "=" for token in item):
            break
        literal.append("".join(token[1] for token in item))
    return "/".join(literal)


def _anchors_meet(a: str, b: str) -> bool:
    """Every path one covers starts with its anchor: two patterns can meet only if one anchor leads the other."""
    short, long = sorted((a, b), key=len)
    return not short or long == short or long.startswith(short + "/")


def anchors_within(path: str) -> list[str]:
    """The anchors that can lead to `path` (a path or an anchor): '', its first segment, its first two, ..."""
    parts = path.split("/")
    return ["", *("/".join(parts[: n + 1]) for n in range(len(parts)))]


@functools.lru_cache(maxsize=16384)
def _compiled(pattern: str) -> GitIgnoreSpecPattern:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "possible nested set" for '[[' in a bracket
        return GitIgnoreSpecPattern(as_gitignore(pattern))


def _glob(segment: str) -> tuple | None:
    """The character tokens of one segment's glob, read as Git's rules (and pathspec) read them; None for a bracket
    that can match '/'. Raises ValueError where Git would discard the pattern."""
    tokens: list[tuple] = []
    i, end = 0, len(segment)
    while i < end:
        char = segment[i]
        i += 1
        if char == "\\":
            if i == end:
                raise ValueError("the pattern ends with a lone backslash")
            tokens.append(("=", segment[i]))
            i += 1
        elif char == "*":
            if not tokens or tokens[-1] != STAR:
                tokens.append(STAR)
        elif char == "?":
            tokens.append(ONE)
        elif char == "[":
            j = i + (i < end and segment[i] in "!^")
            j += j < end and segment[j] == "]"
            while j < end and segment[j] != "]":
                j += 1
            if j >= end:
                raise ValueError("a '[' is never closed (escape it as '\\[')")
            negated = segment[i] in "!^"
            source = "[" + ("^" if negated else "") + segment[i + negated: j + 1].replace("\\", "\\\\")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    compiled = re.compile(source)
            except re.error as exc:
                raise ValueError(f"the bracket expression {segment[i - 1: j + 1]!r} is not valid ({exc})") from None
            if compiled.match("/"):
                return None
            tokens.append(("[", source, compiled))
            i = j + 1
        else:
            tokens.append(("=", char))
    return tuple(tokens)


def _search_segments(a: tuple, b: tuple) -> str | Literal[False] | None:
    """A path (segments joined by '/') both models accept, False when there is none, None when the search gave up."""
    start = (0, 0, False)
    parent: dict = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        i, j, some = state
        if len(parent) > WORK:
            return None
        if i == len(a) and j == len(b) and some:
            return "/".join(_trail(parent, state))
        moves = []
        if i < len(a) and a[i] is SEGMENTS:
            moves.append(((i + 1, j, some), None))
        if j < len(b) and b[j] is SEGMENTS:
            moves.append(((i, j + 1, some), None))
        for step_a, glob_a in _takes(a, i):
            for step_b, glob_b in _takes(b, j):
                segment = _meet_globs(glob_a, glob_b)
                if segment is None:
                    return None
                if segment:
                    moves.append(((step_a, step_b, True), segment))
        for nxt, label in moves:
            if nxt not in parent:
                parent[nxt] = (state, label)
                queue.append(nxt)
    return False


def _takes(model: tuple, i: int) -> list[tuple[int, tuple]]:
    """How the model at position i takes one segment: (the position after, the glob it must match)."""
    if i >= len(model):
        return []
    item = model[i]
    return [(i, ANY_SEGMENT)] if item is SEGMENTS else [(i + 1, item)]


def _trail(parent: dict, state) -> list[str]:
    labels = []
    while parent[state] is not None:
        state, label = parent[state]
        if label is not None:
            labels.append(label)
    return labels[::-1]


@functools.lru_cache(maxsize=65536)
def _meet_globs(a: tuple, b: tuple) -> str | None:
    """A non-empty segment both globs match; '' when there is none; None when the search gave up."""
    start = (0, 0, False)
    parent: dict = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        i, j, some = state
        if len(parent) > WORK:
            return None
        if i == len(a) and j == len(b) and some:
            return "".join(_trail(parent, state))
        moves = []
        if i < len(a) and a[i] == STAR:
            moves.append(((i + 1, j, some), None))
        if j < len(b) and b[j] == STAR:
            moves.append(((i, j + 1, some), None))
        for step_a, token_a in _consumes(a, i):
            for step_b, token_b in _consumes(b, j):
                char = _meet_chars(token_a, token_b)
                if char is not None:
                    moves.append(((step_a, step_b, True), char))
        for nxt, label in moves:
            if nxt not in parent:
                parent[nxt] = (state, label)
                queue.append(nxt)
    return ""


def _consumes(glob: tuple, i: int) -> list[tuple[int, tuple]]:
    if i >= len(glob):
        return []
    token = glob[i]
    return [(i, STAR)] if token == STAR else [(i + 1, token)]


def _meet_chars(a: tuple, b: tuple) -> str | None:
    """A character both tokens take, or None. A bracket's members include one of the characters written in it
    (the low end of each range), so those, with a few others, are enough to find a common one."""
    for token, other in ((a, b), (b, a)):
        if token[0] == "=":
            return token[1] if _takes_char(other, token[1]) else None
    candidates = "".join(token[1] for token in (a, b) if token[0] == "[") + _FALLBACK
    for char in candidates:
        if char != "/" and _takes_char(a, char) and _takes_char(b, char):
            return char
    return None


def _takes_char(token: tuple, char: str) -> bool:
    kind = token[0]
    if kind == "=":
        return token[1] == char
    if kind == "[":
        return token[2].fullmatch(char) is not None
    return char != "/"  # '*' and '?'
