"""Overlap of gitignore-style patterns (read from the repository root): a table of pairs, Git's own verdict on the
table's witnesses, and a property test against real file trees (every file two patterns both cover means the
patterns overlap; every witness the search gives is covered by both, in a real tree)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathspec import GitIgnoreSpec

from team_table import overlap

# Every health check but the deprecated ones (Hypothesis's HealthCheckMeta.__iter__ drops them; it is unannotated)
EVERY_CHECK = cast("list[HealthCheck]", list(HealthCheck))

pytestmark = pytest.mark.sqlite_only  # no database: once is enough

# (a, b, overlap?): patterns read from the repository root ('**/' for any depth)
TABLE = [
    ("src/**", "src/api/routes.py", True),
    ("src/api/**", "docs/**", False),
    ("src/api/**", "src/**", True),
    ("src/api/**", "src/apidocs/**", False),  # a longer name is not under the directory
    ("*.py", "src/a.py", False),  # the .py files at the root
    ("**/*.py", "src/a.py", True),  # ... and at any depth
    ("*.py", "*.md", False),
    ("*.py", "x*/y.md", True),  # x.py/y.md: a name covers what is under it, were it a directory
    ("src/*.py", "src/*.md", False),  # the second segment cannot end in both
    ("**/*.py", "docs/**", True),  # docs/x.py
    ("src/*.py", "src/api/x.py", False),  # '*' stays within one segment
    ("src/*", "src/api/x.py", True),  # src/api, a directory, and what it holds (as Git reads it)
    ("src/", "lib/src/x.c", False),  # the directory src at the root ...
    ("**/src/", "lib/src/x.c", True),  # ... or at any depth
    ("src/", "src", True),  # src/x (src, the file, alone is not covered by 'src/')
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/b", True),  # '**' may stand for no directory at all
    ("a/**/b", "a/c", True),  # a/c/b
    ("a/**/b", "x/c", False),
    ("**/test_*.py", "tests/unit/test_x.py", True),
    ("**/test_*.py", "src/x_test.py", True),  # src/x_test.py/test_a.py, were it a directory
    ("tests/**/test_*.py", "src/**", False),
    ("src/[ab]*.py", "src/c*.py", False),
    ("src/[a-c]x", "src/[c-e]x", True),  # both take src/cx
    ("docs/*.md", "docs/api/*.md", False),
    ("README.md", "docs/README.md", False),  # the README at the root
    ("**/README.md", "docs/README.md", True),
    ("uv.lock", "core/engine.py", False),
    ("**", "anything/at/all", True),
    ("**/", "README", True),  # README/x: any path in a directory
    ("x\\*", "x?", True),  # an escaped '*' is a literal one: 'x*' is taken by '?'
    ("d/x\\*", "d/xa", False),
    ("build/", "builds/**", False),
    ("**/build/", "builds/**", True),  # builds/build/x
    ("a?c", "a/c", False),
    ("src/api/routes.py", "src/api/routes.py/**", True),  # were it a directory
]


@pytest.mark.parametrize(("a", "b", "expected"), TABLE, ids=[f"{a} | {b}" for a, b, _ in TABLE])
def test_each_pair_of_the_table_overlaps_as_expected_in_either_order(a, b, expected):
    assert overlap.overlaps(a, b) is expected
    assert overlap.overlaps(b, a) is expected
    assert overlap.decide(a, b)[0] is expected  # the search alone, without the shortcuts


@pytest.mark.parametrize(("a", "b"), [(a, b) for a, b, expected in TABLE if expected])
def test_the_witness_of_each_overlap_is_ignored_by_both_patterns_according_to_git_itself(tmp_path, a, b):
    found, witness = overlap.decide(a, b)
    assert found and witness, (a, b)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / witness).parent.mkdir(parents=True, exist_ok=True)
    (repo / witness).write_text("x")
    for pattern in (a, b):
        (repo / ".gitignore").write_text(overlap.as_gitignore(pattern) + "\n")
        ignored = subprocess.run(["git", "-C", str(repo), "check-ignore", "--no-index", "-q", witness])
        assert ignored.returncode == 0, f"git does not ignore {witness!r} with the pattern {pattern!r}"


def test_a_bracket_that_can_match_a_slash_is_answered_conservatively():
    # pathspec (and so the reference) lets '[!b]' take '/': 'a[!b]c' covers the file a/c.
    assert overlap.covers("a[!b]c", "a/c")
    assert overlap.decide("a[!b]c", "a/c") == (True, None)
    assert overlap.decide("a[!b]c", "a/x") == (True, None)  # it would not cover a/x: conservative
    assert overlap.overlaps("x/a[!b]c", "y/**") is False  # the anchors alone still tell them apart


@pytest.mark.parametrize("bad", ["/etc/passwd", "\\\\server\\share", "C:/x", "~/x", "../x", "a/../b", "a/./b", "",
                                 "   ", "!src", "#x", "a//b", "a[b", "a\\", "x\x00y", "x\ny", "a" * 513])
def test_bad_patterns_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError) as refused:
        overlap.check(bad)
    assert str(refused.value)


# ---- the property test against real file trees -------------------------------------------------------------

NAMES = ["a", "b", "src", "a.py", "b.py", "x.md", "ab", ".py", "*", "c"]
GLOBS = ["*", "?", "*.py", "a*", "*b", "[ab]", "[a-c]*", "[!a]", "**", "a?", "\\*", "[.-0]", "src", "a", "b", "**"]
pattern_text = st.builds(
    lambda segments, directory: "/".join(segments) + ("/" if directory else ""),
    st.lists(st.sampled_from(GLOBS + NAMES), min_size=1, max_size=3), st.booleans())
valid_pattern = pattern_text.filter(lambda text: _valid(text))
tree = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join), min_size=1, max_size=25)


def _valid(text: str) -> bool:
    try:
        overlap.check(text)
    except ValueError:
        return False
    return True


def _real_tree(root: Path, paths: list[str]) -> list[str]:
    """Write the files (a path under a file that exists is skipped, as a file system would refuse it); the files of
    the tree as os.walk finds them, relative to `root`."""
    for path in paths:
        target = root / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_text("x")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue
    return sorted(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                  for folder, _, names in os.walk(root) for name in names)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=EVERY_CHECK)
@given(st.lists(valid_pattern, min_size=2, max_size=4, unique=True), tree)
def test_patterns_that_both_cover_a_real_file_overlap_and_every_witness_is_covered_by_both(patterns, paths):
    with tempfile.TemporaryDirectory() as folder:
        files = _real_tree(Path(folder), paths)
    for index, a in enumerate(patterns):
        for b in patterns[index + 1:]:
            found, witness = overlap.decide(a, b)
            assert overlap.overlaps(a, b) == found  # the shortcuts agree with the search
            shared = [f for f in files if overlap.covers(a, f) and overlap.covers(b, f)]
            if shared:
                assert found, f"{a!r} and {b!r} both cover {shared[0]!r}, yet no overlap was found"
                for file in shared:  # the guard's candidate query finds both by their anchors
                    leads = overlap.anchors_within(file)
                    assert overlap.shape(a).anchor in leads and overlap.shape(b).anchor in leads
            if witness is not None:
                with tempfile.TemporaryDirectory() as folder:
                    [written] = _real_tree(Path(folder), [witness])
                    for pattern in (a, b):
                        spec = GitIgnoreSpec.from_lines([overlap.as_gitignore(pattern)])
                        assert list(spec.match_tree_files(folder)) == [written], (pattern, witness)
            elif not found:
                assert overlap.decide(b, a)[0] is False  # the answer does not depend on the order
