"""The real clients (Claude Code, Codex, Gemini CLI) at pinned versions, run offline against tests/model_stub.py.

- `client("claude")` is the path of a pinned client: from TEAM_TABLE_CLIENTS_DIR (a folder with node_modules/.bin),
  else installed once per machine with `npm install --prefix` into a cache folder. Only an unreachable npm registry
  skips the test (with the reason); anything else wrong fails it.
- `ClaudeHome`, `CodexHome`, `GeminiHome`: a throwaway HOME for one client, seeded so that it starts without
  first-run dialogs, with the model API at the stub, and MCP servers added at user scope.
- `run_print` runs a client once (`claude -p`, `codex exec --json`, `gemini -p`); `interactive` runs one in a
  detached tmux of its own (`TmuxSession`; for Claude Code a `ClaudeSession`, ready for input).
- Every process that runs with a throwaway HOME (the client, what it started or detached) is killed at the end.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from model_stub import ModelStub
from stdio_helpers import TEAM_TABLE

PINNED = {"claude": ("@anthropic-ai/claude-code", "2.1.332"), "codex": ("@openai/codex", "0.171.0"),
          "gemini": ("@google/gemini-cli", "0.61.0")}
UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ENETUNREACH", "network")
# Variables of the machine that would point a client elsewhere than the stub, or a hub at another table.
FOREIGN = ("ANTHROPIC_", "CLAUDE", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_", "TEAM_TABLE_", "MCP_", "TMUX")
_checked: dict[str, Path] = {}


def client(name: str) -> Path:
    """The executable of client `name` ("claude", "codex", "gemini") at its pinned version."""
    if name not in _checked:
        given = os.environ.get("TEAM_TABLE_CLIENTS_DIR", "").strip()
        folder = Path(given).expanduser() if given else _installed()
        path = folder / "node_modules" / ".bin" / name
        if not path.exists():
            pytest.fail(f"{path} does not exist: TEAM_TABLE_CLIENTS_DIR={given or '(unset)'} must hold "
                        f"node_modules/.bin/{name} ({PINNED[name][0]}@{PINNED[name][1]})")
        shown = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60,
                               env={**_clean_env(), "HOME": str(folder)}, stdin=subprocess.DEVNULL)
        if PINNED[name][1] not in shown.stdout:
            pytest.fail(f"{path} --version says {shown.stdout.strip()!r}, the tests pin {PINNED[name][1]}")
        _checked[name] = path
    return _checked[name]


def _installed() -> Path:
    """The cache folder with the pinned clients, installed there the first time (one installer at a time)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "team-table" / "clients"
    folder = cache / "_".join(f"{n}-{v}" for n, (_, v) in sorted(PINNED.items()))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all((folder / "node_modules" / ".bin" / n).exists() for n in PINNED):
            return folder
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: install Node.js 20+ (or set TEAM_TABLE_CLIENTS_DIR to a folder with "
                        "the clients in node_modules/.bin) to run the real-client tests")
        specs = [f"{package}@{version}" for package, version in PINNED.values()]
        done = subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund",
                               "--cache", str(folder / ".npm-cache"), *specs], capture_output=True, text=True,
                              timeout=900, env={**_clean_env(), "HOME": str(folder)}, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-12:])
            if any(code in done.stderr for code in UNREACHABLE):
                pytest.skip(f"the npm registry is unreachable, so the pinned clients cannot be installed: {tail}")
            pytest.fail(f"npm install {' '.join(specs)} failed:\n{tail}")
    return folder


def _clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}, **extra}


@dataclass
class Home:
    """A client's throwaway HOME (`root`), the folder it works in (`workdir`), and the model stub it talks to."""

    root: Path
    model: ModelStub
    variables: dict[str, str] = field(default_factory=dict)  # what the client's environment adds (token variables)
    program = ""  # the client's executable in node_modules/.bin

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.seed()

    @property
    def workdir(self) -> Path:
        return self.root / "work"

    def seed(self) -> None:
        """Write the client's first configuration."""

    def env(self, **extra: str) -> dict[str, str]:
        return _clean_env(HOME=str(self.root), **self.variables, **extra)

    def command(self, *args: str) -> list[str]:
        return [str(client(self.program)), *args]

    def add_server(self, name: str, entry: dict) -> None:
        """An MCP server at user scope."""
        raise NotImplementedError

    def add_hub_http(self, url: str, variable: str, token: str) -> None:
        """The hub over HTTP, its bearer token read from `variable` when the client connects (kept in `variables`)."""
        self.variables[variable] = token
        self.add_server("team-table", {"type": "http", "url": f"{url}/mcp",
                                       "headers": {"Authorization": f"Bearer ${{{variable}}}"}})

    def kill_strays(self) -> None:
        """Kill everything that runs with this HOME: a client, what it started (servers, hooks, monitors), what it
        detached from itself (Codex's app-server daemon)."""
        mine = f"HOME={self.root}".encode()
        for environ in Path("/proc").glob("[0-9]*/environ"):
            with contextlib.suppress(OSError, ValueError):
                if mine in environ.read_bytes().split(b"\0") and int(environ.parent.name) != os.getpid():
                    kill_tree(int(environ.parent.name))


def _merge_json(path: Path, update: dict) -> dict:
    data = json.loads(path.read_text()) if path.exists() else {}
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return data


class ClaudeHome(Home):
    """Claude Code: ~/.claude.json seeded (onboarding done, the API key approved, the work folder trusted, bypass
    mode accepted), the Anthropic API at the stub, telemetry and the official marketplace off."""

    api_key = "sk-ant-api03-team-table-tests-0000000000000000"
    program = "claude"

    def seed(self) -> None:
        self.config({"hasCompletedOnboarding": True, "lastOnboardingVersion": PINNED["claude"][1], "numStartups": 1,
                     "theme": "dark", "bypassPermissionsModeAccepted": True,
                     "customApiKeyResponses": {"approved": [self.api_key[-20:]], "rejected": []},
                     "projects": {str(self.workdir): {"hasTrustDialogAccepted": True,
                                                      "hasCompletedProjectOnboarding": True, "allowedTools": []}}})

    def config(self, update: dict) -> dict:
        """Merge `update` into ~/.claude.json (one level deep)."""
        return _merge_json(self.root / ".claude.json", update)

    def settings(self, update: dict) -> dict:
        """Merge `update` into ~/.claude/settings.json (user settings: hooks, enabledPlugins, ...)."""
        return _merge_json(self.root / ".claude" / "settings.json", update)

    def features(self, **flags: Any) -> None:
        """Seed remote flags (cachedGrowthBookFeatures), e.g. tengu_harbor=True for channels; tests only."""
        self.config({"cachedGrowthBookFeatures": flags})

    def add_server(self, name: str, entry: dict) -> None:
        """A user-scope MCP server (~/.claude.json mcpServers), as `claude mcp add --scope user` writes it."""
        self.config({"mcpServers": {name: entry}})

    def add_hub_stdio(self, db: str, agent: str, variable: str, token: str, *args: str) -> None:
        """The hub over stdio (`team-table up --transport stdio`), bound to `agent`."""
        self.variables[variable] = token
        self.add_server("team-table", {"type": "stdio", "command": TEAM_TABLE,
                                       "args": ["up", "--transport", "stdio", "--db", db, *args],
                                       "env": {"TEAM_TABLE_AGENT": agent, "TEAM_TABLE_TOKEN": f"${{{variable}}}"}})

    @property
    def debug_log(self) -> Path:
        return self.root / "claude-debug.log"

    def command(self, *args: str) -> list[str]:
        return super().command("--debug-file", str(self.debug_log), *args)

    def env(self, **extra: str) -> dict[str, str]:
        settings = {"ANTHROPIC_BASE_URL": self.model.url, "ANTHROPIC_API_KEY": self.api_key,
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
                    # seeded flags count while telemetry is off (features()); nothing tries to clone a marketplace
                    "CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF": "1",
                    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1"}
        if os.geteuid() == 0:
            settings["IS_SANDBOX"] = "1"  # bypass mode refuses root otherwise
        return super().env(**{**settings, **extra})


class CodexHome(Home):
    """Codex: ~/.codex/config.toml with a provider `stub` at the stub's Responses API, no approvals asked."""

    program = "codex"
    servers: str = ""

    def seed(self) -> None:
        self.servers = ""
        self._write()

    def _write(self) -> None:
        folder = self.root / ".codex"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(
            'model = "stub-model"\nmodel_provider = "stub"\napproval_policy = "never"\n'
            'sandbox_mode = "workspace-write"\n\n[model_providers.stub]\nname = "stub"\n'
            f'base_url = {json.dumps(self.model.url + "/v1")}\nwire_api = "responses"\n' + self.servers)

    def add_server(self, name: str, entry: dict) -> None:
        """[mcp_servers.NAME] with the entry's keys (url, bearer_token_env_var, command, args, env, env_vars)."""
        def value(v: Any) -> str:
            return "{ " + ", ".join(f"{k} = {json.dumps(x)}" for k, x in v.items()) + " }" if isinstance(v, dict) \
                else json.dumps(v)
        self.servers += f"\n[mcp_servers.{json.dumps(name)}]\n" + "".join(f"{k} = {value(v)}\n"
                                                                        for k, v in entry.items())
        self._write()

    def add_hub_http(self, url: str, variable: str, token: str) -> None:
        self.variables[variable] = token
        self.add_server("team-table", {"url": f"{url}/mcp", "bearer_token_env_var": variable})


class GeminiHome(Home):
    """Gemini CLI: ~/.gemini/settings.json (API key auth, the Gemini API at the stub through GOOGLE_GEMINI_BASE_URL),
    the work folder trusted."""

    program = "gemini"

    def seed(self) -> None:
        self.settings({"security": {"auth": {"selectedType": "gemini-api-key"}}})
        _merge_json(self.root / ".gemini" / "trustedFolders.json", {str(self.workdir): "TRUST_FOLDER"})

    def settings(self, update: dict) -> dict:
        return _merge_json(self.root / ".gemini" / "settings.json", update)

    def add_server(self, name: str, entry: dict) -> None:
        self.settings({"mcpServers": {name: entry}})

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(GOOGLE_GEMINI_BASE_URL=self.model.url, GEMINI_API_KEY="stub-key", **extra)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict]:
        """stdout as JSON lines (`codex exec --json`)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


async def run_print(home: Home, *args: str, within: float = 90, **extra_env: str) -> Run:
    """Run the client of `home` once, non-interactively, in its work folder (e.g. `"-p", "hello"` for Claude Code,
    `"exec", "--json", ...` for Codex); killed with everything it started after `within` seconds or at the end."""
    try:
        with anyio.fail_after(within):
            done = await anyio.run_process(home.command(*args), cwd=home.workdir, env=home.env(**extra_env),
                                           stdin=subprocess.DEVNULL, check=False, start_new_session=True)
    finally:
        home.kill_strays()
    return Run(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and its process group."""
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


async def _poll(found: Any, within: float, failure: Any) -> Any:
    """found() polled every 0.1 s until it is truthy (a screen or a log has no event to wait on); bounded."""
    deadline = time.monotonic() + within
    while not (value := found()):
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        await anyio.sleep(0.1)
    return value


class TmuxSession:
    """A command in a detached tmux of its own (`tmux -L <unique socket>`, no user config), sized, whose screen a
    test reads and types into."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, width: int = 200, height: int = 50):
        self.socket = f"team-table-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.tmux = shutil.which("tmux") or pytest.fail("tmux is not installed (apt-get install tmux)")
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height),
                   "-c", str(cwd), "exec " + shlex.join(command), env=env)
        self.pid = int(self._tmux("display-message", "-p", "-t", "main", "#{pane_pid}").strip())

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=10,
                              env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:3])} failed: {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        """What the pane shows now (wrapped lines joined)."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "main")

    async def wait_for(self, pattern: str, within: float = 10) -> str:
        """The screen, once it shows `pattern` (a regular expression); AssertionError after `within` seconds."""
        return await _poll(lambda: next((shown for shown in [self.screen()] if re.search(pattern, shown)), None),
                           within, lambda: f"the screen did not show {pattern!r} within {within} s:\n{self.screen()}")

    def press(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "main", *keys)

    async def type(self, text: str, within: float = 10) -> None:
        """Type `text` (literally), wait until it shows, then press Enter."""
        self._tmux("send-keys", "-t", "main", "-l", text)
        await self.wait_for(re.escape(text[:40]), within)
        self.press("Enter")

    async def close(self, within: float = 3) -> None:
        """Hang up, as closing the terminal does (the client may clean up: Claude Code removes its socket and its
        session file); whatever still runs after `within` seconds is killed."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._tmux("kill-server")
        with anyio.move_on_after(within):
            while Path(f"/proc/{self.pid}").exists():
                await anyio.sleep(0.05)
        kill_tree(self.pid)


class ClaudeSession(TmuxSession):
    """An interactive Claude Code in tmux. `record()` is its ~/.claude/sessions/<pid>.json."""

    def __init__(self, home: ClaudeHome, *args: str, **extra_env: str) -> None:
        self.home = home
        super().__init__(home.command(*args), home.env(**extra_env), home.workdir)

    async def ready(self, within: float = 30) -> None:
        """Wait until it takes input (the development-channels warning, if shown, accepted)."""
        shown = await self.wait_for(r"I am using this for local development|❯", within)
        if "I am using this for local development" in shown:
            self.press("Enter")
        await _poll(lambda: self.record().get("status") == "idle" and "❯" in self.screen(), within,
                    lambda: f"Claude Code did not become ready within {within} s:\n{self.screen()}")

    async def wait_for_log(self, pattern: str, within: float = 20) -> str:
        """The first line of Claude Code's debug log matching `pattern` (a regular expression), e.g.
        'MCP server "team-table": Connection established' or "Channel notifications registered"."""
        def line() -> str | None:
            with contextlib.suppress(OSError):
                text = self.home.debug_log.read_text(errors="replace")
                return next((x for x in text.splitlines() if re.search(pattern, x)), None)
            return None
        return await _poll(line, within, lambda: f"the debug log had no line matching {pattern!r} in {within} s")

    def record(self) -> dict:
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.home.root / ".claude" / "sessions" / f"{self.pid}.json").read_text())
        return {}

    def post(self, text: str, priority: str = "next", token: str | None = None) -> None:
        """Send `text` to the session's messaging socket, as another session would (auth line first if `token`)."""
        frames = ([{"type": "auth", "token": token}] if token else []) + [
            {"type": "user", "message": {"role": "user", "content": text}, "priority": priority}]
        with socket.socket(socket.AF_UNIX) as peer:
            peer.connect(self.record()["messagingSocketPath"])
            peer.sendall("".join(json.dumps(frame) + "\n" for frame in frames).encode())


@contextlib.asynccontextmanager
async def interactive(home: Home, *args: str, within: float = 30, **extra_env: str) -> AsyncIterator[Any]:
    """The client of `home` in tmux: for Claude Code a ClaudeSession ready for input, else a TmuxSession (Codex's,
    Gemini CLI's TUI). At the end it is killed with everything that runs with its HOME (detached daemons too)."""
    if isinstance(home, ClaudeHome):
        session: TmuxSession = ClaudeSession(home, *args, **extra_env)
    else:
        session = TmuxSession(home.command(*args), home.env(**extra_env), home.workdir)
    try:
        if isinstance(session, ClaudeSession):
            await session.ready(within)
        yield session
    finally:
        await session.close()
        home.kill_strays()
