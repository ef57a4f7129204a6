"""The documentation cannot drift from the code: the generated pages match what the code generates now, and every
page of docs/ is in the site's navigation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.sqlite_only  # reads the code and the files: no database


def generator():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts" / "docs_reference.py")
    assert spec is not None and spec.loader is not None, "scripts/docs_reference.py is missing"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["docs/reference/tools.md", "docs/reference/cli.md"])
def test_the_generated_reference_pages_are_what_the_code_generates(page: str):
    gen = generator()
    expected = gen.pages()[Path(page)]
    checked_in = (ROOT / page).read_text(encoding="utf-8") if (ROOT / page).is_file() else ""
    assert checked_in == expected, (
        f"{page} differs from what the code generates (a tool or a command changed): run `{gen.COMMAND}` "
        "and commit the result.")


def test_every_tool_and_command_has_its_section():
    from team_table.cli import COMMANDS
    from team_table.server.tools import built

    tools = (ROOT / "docs/reference/tools.md").read_text(encoding="utf-8")
    assert all(f"\n## {tool.name}\n" in tools for tool in built())
    cli = (ROOT / "docs/reference/cli.md").read_text(encoding="utf-8")
    assert all(f"\n## {name}\n" in cli for name in COMMANDS)


def _nav_pages(entries) -> set[str]:
    found = set()
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            found |= _nav_pages(value)
        elif isinstance(value, str) and value.endswith(".md"):
            found.add(value)
    return found


def test_every_page_of_the_docs_is_in_the_sites_navigation():
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages - nav == set(), "add these pages to the nav of mkdocs.yml (see docs/development.md)"
    assert nav - pages == set(), "the nav of mkdocs.yml names pages that do not exist"


def _slug(heading: str) -> str:
    """The anchor MkDocs gives a heading (its toc extension's default)."""
    import re
    import unicodedata

    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_the_readmes_links_reach_files_and_headings_that_exist():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?:)[^)\s]+)\)", readme)
    assert links
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), f"README.md links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.M)
            assert anchor in {_slug(h) for h in headings}, f"README.md links to {link}: no such heading"


def test_the_readme_is_a_front_door_whose_quick_start_ci_runs_word_for_word():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 15_000, "the README is the front door: the reference belongs in docs/"
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", quick, re.S)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert len(commands) == 2, "the quick start is two commands: run the hub, run the tests"
    hub, tests = commands
    assert hub == "uv run team-table up"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci, f".ci/run must run the README's test command, {tests!r}, word for word"
