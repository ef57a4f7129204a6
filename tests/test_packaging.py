"""What a newcomer installs: the hub without the test tools, and a wheel that carries what `init` writes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import anyio
import httpx2
import pytest
from anyio.streams.text import TextReceiveStream

from network_helpers import ANNOUNCE
from support import free_port

ROOT = Path(__file__).parent.parent
FOUND_UV = os.environ.get("UV") or shutil.which("uv")
needs_uv = pytest.mark.skipif(FOUND_UV is None, reason="uv is not installed (the project is run with it)")
UV = FOUND_UV or "uv"  # used only where needs_uv let the test run
pytestmark = [needs_uv, pytest.mark.sqlite_only, pytest.mark.processes]


def exported(*args: str) -> set[str]:
    """The names of the packages the lock file installs with these options."""
    done = subprocess.run([UV, "export", "--locked", "--no-hashes", "--no-emit-project", "--no-header",
                           "--format", "requirements-txt", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60)
    return {re.split(r"[=<>; \[]", line, maxsplit=1)[0].lower() for line in done.stdout.splitlines()
            if line and not line.startswith((" ", "#"))}


def test_running_the_hub_installs_none_of_the_test_or_docs_tools():
    test_tools = {"pytest", "playwright", "hypothesis", "ruff", "mkdocs", "mkdocs-material"}
    assert exported() & test_tools == set()  # what `uv run team-table up` installs
    assert {"mcp", "uvicorn", "anyio", "h11"} <= exported()
    assert {"pytest", "playwright"} <= exported("--group", "dev")  # what the README's test command installs


@pytest.mark.anyio
async def test_a_built_wheel_installs_alone_and_inits_a_team_that_runs(tmp_path: Path):
    subprocess.run([UV, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("team_table-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([UV, "venv", "--quiet", "--python", "3.11", str(venv)], check=True, capture_output=True, timeout=120)
    subprocess.run([UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    team_table = str(venv / "bin" / "team-table")
    folder, home = tmp_path / "team", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEAM_TABLE_", "UV", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([team_table, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    init = run("init")
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in (folder / "workflows").glob("*.yaml")) == \
        sorted(p.name for p in (ROOT / "src" / "team_table" / "starter" / "workflows").glob("*.yaml"))
    assert f"`{team_table} token NAME --write`" in init.stdout  # the command as it was run: not on PATH
    check = run("check")
    assert check.returncode == 0 and "5 valid workflow(s)" in check.stdout, check.stdout + check.stderr
    port = free_port()
    async with await anyio.open_process([team_table, "up", "--port", str(port)], cwd=folder, env=env,
                                        stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT) as hub:
        printed = ""
        with anyio.fail_after(60):
            assert hub.stdout is not None  # a pipe
            async for chunk in TextReceiveStream(hub.stdout):
                printed += chunk
                if ANNOUNCE in printed or "Traceback" in printed:
                    break
        assert f"{ANNOUNCE}http://127.0.0.1:{port}" in printed, printed[-2000:]
        async with httpx2.AsyncClient(timeout=10) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            assert (await http.get(f"http://127.0.0.1:{port}/ui", follow_redirects=True)).status_code == 200
        hub.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            assert hub.stdout is not None  # a pipe
            async for chunk in TextReceiveStream(hub.stdout):
                printed += chunk
            assert await hub.wait() == 0, printed[-2000:]
    assert "Traceback" not in printed
