"""What Claude Code, Codex and Gemini CLI make of the lines team-table prints, as measured on the real clients
(Claude Code 2.1.197, Codex 0.171.0, Gemini CLI 0.61.0):

- Claude Code stores values literally and expands `${VAR}` and `${VAR:-default}` (not `$VAR`) when it starts a
  server, from its own environment, in command, args, env values, url and headers; stdio servers also inherit
  its whole environment.
- Codex stores and passes values literally; a stdio server gets a short whitelist of the environment plus the
  variables named in `env_vars`; `--bearer-token-env-var VAR` sends `Authorization: Bearer $VAR`.
- Gemini CLI expands `$VAR` and `${VAR}` everywhere; it drops inherited variables whose names look secret
  (TOKEN, KEY, ...), so a token arrives only through an explicit `-e`.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field


@dataclass
class Stored:
    """A server as the client starts it: a command (stdio) or a URL and headers (HTTP), values expanded."""

    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    scope: str = "local"


CLIENTS = ("Claude Code", "Codex", "Gemini CLI")


def printed_commands(output: str) -> dict[str, str]:
    """What is printed under each client's name ("  Claude Code:"): its command line, or for a config file the
    lines to add, joined by newlines."""
    lines = [line.strip() for line in output.splitlines()]
    found = {}
    for i, line in enumerate(lines[:-1]):
        if line.endswith(":") and line[:-1] in CLIENTS:
            block = []
            for following in lines[i + 1:]:
                if not following or (following.endswith(":") and following[:-1] in CLIENTS):
                    break
                if not following.startswith("("):
                    block.append(following)
            found[line[:-1]] = block[0] if block and block[0].split()[0] in ("claude", "codex", "gemini") \
                else "\n".join(b for b in block if b.startswith(("[", "command", "args", "env")))
    return found


def _claude_expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or m.group(0)), value)


def _gemini_expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(?:(\w+)|\{(\w+)(?::-([^}]*))?\})",
                  lambda m: env.get(m.group(1) or m.group(2), m.group(3) or m.group(0)), value)


def _options(words: list[str], stored: Stored, expand) -> tuple[list[str], bool]:
    """The options Claude Code and Gemini CLI share (--scope, --transport, -e, --header/-H) into `stored`;
    returns the positional words and whether the transport is HTTP."""
    positional, rest, http = [], list(words), False
    while rest:
        word, *rest = rest
        if word in ("--scope", "-s"):
            stored.scope, *rest = rest
        elif word in ("--transport", "-t"):
            transport, *rest = rest
            http = transport == "http"
        elif word == "-e":
            value, *rest = rest
            key, _, val = value.partition("=")
            stored.env[key] = expand(val)
        elif word in ("--header", "-H"):
            header, *rest = rest
            key, _, value = header.partition(":")
            stored.headers[key.strip()] = expand(value.strip())
        elif word.startswith("-"):
            raise AssertionError(f"the client would take {word!r} as its own option (put the command after --)")
        else:
            positional.append(word)
    assert positional[0] == "team-table", positional
    return positional, http


def claude(line: str, env: dict[str, str]) -> Stored:
    """`claude mcp add [--scope S] [--transport http] NAME [URL] [-e K=V...] [--header H...] [-- CMD...]`."""
    words = shlex.split(line)
    assert words[:3] == ["claude", "mcp", "add"], words
    stored, rest = Stored(), words[3:]
    if "--" in rest:
        split = rest.index("--")
        rest, stored.command = rest[:split], [_claude_expand(w, env) for w in rest[split + 1:]]
        stored.env = dict(env)  # stdio servers inherit Claude's environment
    positional, http = _options(rest, stored, lambda value: _claude_expand(value, env))
    if http:
        stored.url = _claude_expand(positional[1], env)
    return stored


def codex(line: str, env: dict[str, str], env_vars: tuple[str, ...] = ()) -> Stored:
    """`codex mcp add NAME [--env K=V...] -- CMD...`, `codex mcp add NAME --url URL [--bearer-token-env-var V]`,
    or a [mcp_servers.NAME] table of config.toml."""
    if line.startswith("["):
        table = tomllib.loads(line)["mcp_servers"]["team-table"]
        passed = {k: env[k] for k in ("HOME", "PATH", *table.get("env_vars", ())) if k in env}
        return Stored(command=[table["command"], *table.get("args", [])], env=passed | table.get("env", {}),
                      scope="user")
    words = shlex.split(line)
    assert words[:4] == ["codex", "mcp", "add", "team-table"], words
    stored, rest = Stored(scope="user"), words[4:]
    if "--" in rest:
        split = rest.index("--")
        rest, stored.command = rest[:split], rest[split + 1:]
        stored.env = {k: env[k] for k in ("HOME", "PATH") if k in env} | {k: env[k] for k in env_vars if k in env}
    options = list(zip(rest[::2], rest[1::2], strict=True))
    for flag, value in options:
        if flag == "--env":
            key, _, val = value.partition("=")
            stored.env[key] = val  # literally
        elif flag == "--url":
            stored.url = value
        elif flag == "--bearer-token-env-var":
            stored.headers["Authorization"] = f"Bearer {env[value]}"
        else:
            raise AssertionError(flag)
    return stored


def gemini(line: str, env: dict[str, str]) -> Stored:
    """`gemini mcp add [--scope S] [--transport http] [-e K=V...] [-H H...] NAME COMMAND_OR_URL [-- ARGS...]`:
    options are read anywhere before `--` (as yargs does), so a command's own options must come after it."""
    words = shlex.split(line)
    assert words[:3] == ["gemini", "mcp", "add"], words
    secret = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|AUTH|CREDENTIAL|CREDS|PRIVATE|CERT", re.I)
    stored = Stored(env={k: v for k, v in env.items() if not secret.search(k)})
    rest, args = words[3:], []
    if "--" in rest:
        split = rest.index("--")
        rest, args = rest[:split], rest[split + 1:]
    positional, http = _options(rest, stored, lambda value: _gemini_expand(value, env))
    if http:
        stored.url = _gemini_expand(positional[1], env)
    else:
        stored.command = [_gemini_expand(w, env) for w in positional[1:] + args]
    return stored
