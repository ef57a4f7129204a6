"""The process that renders the templates of team.yaml and workflow files, apart from the hub.

A template is written by whoever can edit those files, so it is treated as untrusted code: it runs in Jinja's
immutable sandbox with StrictUndefined, in this separate process whose address space is capped (a template that
builds a huge string fails here with MemoryError, not in the hub), and the hub gives each render a deadline and
replaces this process when one is missed. Output is cut off at a bound while it is produced.

Protocol: one JSON object per line on stdin, {"source": str, "variables": {...}, "limit": int}; one JSON object
per line on stdout, {"text": str} or {"error": "Kind: message"}.
"""

from __future__ import annotations

import json
import resource
import sys

MEMORY_BYTES = 256 * 1024 * 1024  # a message is a few KiB: a template reaching for far more fails at once


class TooLong(Exception):
    pass


def render(env, source: str, variables: dict, limit: int) -> str:
    parts, size = [], 0
    for chunk in env.from_string(source).generate(variables):
        size += len(chunk)
        if size > limit * 4:  # far past what is kept: the template is producing too much, stop it
            raise TooLong(f"the output passed {limit * 4} characters")
        parts.append(chunk)
    return "".join(parts)[:limit]


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    out = sys.stdout
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = {"text": render(env, request["source"], request["variables"], int(request["limit"]))}
        except MemoryError:
            answer = {"error": "MemoryError: the template needs more memory than a template may use"}
        except RecursionError:
            answer = {"error": "RecursionError: the template calls itself too deeply"}
        except Exception as exc:  # any failure of the template is the answer, never the end of this process
            answer = {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
