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
