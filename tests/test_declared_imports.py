"""Every third-party module the code imports is declared in pyproject.toml, not merely installed by something else."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

pytestmark = pytest.mark.one_engine  # reads files: no database involved

ROOT = Path(__file__).parent.parent
PROJECT = "team-table"


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them: `PyYAML` and `pyyaml`, `psycopg_pool` and `psycopg-pool`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str], extras: dict[str, list[str]]) -> set[str]:
    """The distributions these requirement strings name; `team-table[x]` brings in the project's own extra x."""
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
        assert match, f"not a requirement: {requirement!r}"
        name, chosen = normalized(match[1]), match[2]
        if name != PROJECT:
            names.add(name)
        elif chosen:
            for extra in chosen.split(","):
                names |= requirement_names(extras[extra.strip()], extras)
    return names


def declared() -> tuple[set[str], set[str]]:
    """What the installed hub may import (dependencies and extras), and what the dev group adds for tests and bench."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"].get("optional-dependencies", {})
    hub = requirement_names(pyproject["project"]["dependencies"], extras)
    for requirements in extras.values():
        hub |= requirement_names(requirements, extras)
    dev = requirement_names([r for r in pyproject["dependency-groups"]["dev"] if isinstance(r, str)], extras)
    return hub, dev


def imported(folder: Path) -> dict[str, Path]:
    """The top-level modules imported in the folder's Python files (inside functions too), each with one importer."""
    modules: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name.partition(".")[0], path)
    return modules


def undeclared(folder: Path, allowed: set[str], local: set[str]) -> list[str]:
    """Each third-party module imported under the folder whose distribution is not in `allowed`, with its importer."""
    distributions = packages_distributions()
    faults = []
    for module, path in sorted(imported(folder).items()):
        if module in sys.stdlib_module_names or module in local:
            continue
        owners = {normalized(name) for name in distributions.get(module, [])}
        if not owners & allowed:
            owner = ", ".join(sorted(owners)) or "no installed distribution"
            faults.append(f"{module} ({owner}), imported by {path.relative_to(folder.parent)}")
    return faults


def local_modules(*folders: Path) -> set[str]:
    """The modules the tests and the benchmark import from their own folders (conftest, support, ...)."""
    return {path.stem for folder in folders for path in folder.glob("*.py")}


def test_every_module_the_hub_imports_is_a_declared_dependency():
    hub, _ = declared()
    assert undeclared(ROOT / "src", hub, local={"team_table"}) == []


def test_every_module_the_tests_and_benchmark_import_is_declared_for_them():
    hub, dev = declared()
    local = local_modules(ROOT / "tests", ROOT / "bench") | {"team_table"}
    for folder in ("tests", "bench", "scripts"):
        assert undeclared(ROOT / folder, hub | dev, local) == [], folder


def test_an_import_that_only_arrives_with_another_package_is_reported(tmp_path: Path):
    # markupsafe is installed (Jinja2 requires it) but is not what a `jinja2` requirement promises to the code
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "page.py").write_text("import json\nimport jinja2\n\n\ndef f():\n"
                                              "    from markupsafe import Markup\n")
    assert undeclared(tmp_path / "src", {"jinja2"}, local=set()) == [
        "markupsafe (markupsafe), imported by src/page.py"]
    assert undeclared(tmp_path / "src", {"jinja2", "markupsafe"}, local=set()) == []
