"""The dashboard under test: a real network hub on the example team (plus a person and a lead with tokens), a
real headless Chromium driven by Playwright, and agents speaking MCP to the same hub."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from team_table import tokens

if TYPE_CHECKING:  # Playwright is imported where a browser is launched
    from playwright.async_api import Browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("TEAM_TABLE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") \
    or "/usr/bin/chromium"


@dataclass(frozen=True)
class People:
    """The tokens of the example team's people: boss (person), lena (lead), root (admin), and dan, an agent."""

    boss: str
    lena: str
    dan: str
    root: str


def example_team(people: People) -> str:
    """The example team.yaml of the quick start, with the people declared under agents."""
    text = (ROOT / "team.yaml").read_text()
    declared = "".join(f"  {name}:\n    role: {role}\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n"
                       for name, role, token in (("boss", "person", people.boss), ("lena", "lead", people.lena),
                                                 ("dan", "coder", people.dan), ("root", "admin", people.root)))
    assert "\nagents:\n" in text
    return text.replace("\nagents:\n", "\nagents:\n" + declared, 1)


def mint_people() -> People:
    return People(tokens.mint(), tokens.mint(), tokens.mint(), tokens.mint())


def copy_workflows(folder: Path) -> None:
    shutil.copytree(ROOT / "workflows", folder / "workflows", dirs_exist_ok=True)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium from the distribution (Playwright's own download cannot work here); skipped when the
    machine has none, unless TEAM_TABLE_REQUIRE_BROWSER is set (CI sets it: there it must run)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("TEAM_TABLE_REQUIRE_BROWSER"):
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set TEAM_TABLE_CHROMIUM)")
        pytest.skip("no Chromium on this machine: apt-get install chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(browser, url: str, token: str, viewport: dict | None = None):
    """A new browser context (its own cookies) signed in with `token`; returns its page on Needs you."""
    context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems  # console errors (a CSP violation shows up here)
    await page.goto(url + "/ui")
    await page.fill("#token", token)
    await page.click("form[action='/ui/signin'] button")
    await page.wait_for_url(url + "/ui")
    await live(page)
    return page


async def live(page) -> None:
    """Wait until the page listens to its push stream."""
    await page.wait_for_selector("body[data-live=on]", state="attached", timeout=10_000)


async def hub_for(tmp_path: Path, stack: AsyncExitStack):
    """A network hub of the example team (with its workflows) and a browser, on `stack`; and the people's tokens."""
    from network_helpers import running_hub

    people = mint_people()
    copy_workflows(tmp_path)
    hub = await stack.enter_async_context(running_hub(tmp_path, example_team(people)))
    browser = await stack.enter_async_context(chromium())
    return hub, browser, people
