"""A scripted agent for the runner's tests: what an agent the hub runs does, over MCP, in steps named on its command
line. It reaches the hub as any agent the hub runs: TEAM_TABLE_URL with the bearer token in TEAM_TABLE_TOKEN.

    python scripted_agent.py STEP...

Steps, in order:
  report:PATH      append one JSON line to PATH: pid, process group, its environment, its prompt (stdin), its cwd
  next_task_done   claim the best task (next_task) and set it done; prints what it did
  claim_done       claim_task every task reserved for it, then set each done
  read             take its unread messages (get_messages)
  approve          approve every task waiting for its review
  whoami           list_members, to make one tool call; prints its name
  print:TEXT       print TEXT
  exit:N           exit with code N at once
  fail_once:PATH   the first time (PATH does not exist yet): create PATH and exit 1
  hang             print a line each 0.2 s until killed
  quiet            wait until killed, printing nothing
  ignore_term      ignore SIGTERM from now on
  spawn            start a child that ignores SIGTERM and sleeps (it must not outlive the run)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

# anyio, httpx2 and the MCP client are imported by the steps that reach the hub, when one does: a run that only
# prints, fails or hangs starts in a tenth of the CPU time (the runner's tests start many such runs).


async def call(client: Any, tool: str, **args) -> dict:
    result = await client.call_tool(tool, args)
    data = json.loads(result.content[0].text)
    if result.is_error:
        print(f"refused {tool}: {data.get('code')}", flush=True)
    return data


async def with_hub(steps: list[str]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    url, token = os.environ["TEAM_TABLE_URL"], os.environ["TEAM_TABLE_TOKEN"]
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http, \
            Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        for step in steps:
            await hub_step(client, step)


async def hub_step(client: Any, step: str) -> None:
    if step == "next_task_done":
        task = await call(client, "next_task")
        if task.get("id"):
            await call(client, "update_task", task_id=task["id"], status="done", result="done by the script")
            print(f"did task {task['id']}", flush=True)
        else:
            print("no task", flush=True)
    elif step == "claim_done":
        me = os.environ["TEAM_TABLE_AGENT"]
        for task in await call(client, "list_tasks", status="pending", assignee=me):
            await call(client, "claim_task", task_id=task["id"])
            await call(client, "update_task", task_id=task["id"], status="done", result="done")
            print(f"did task {task['id']}", flush=True)
    elif step == "read":
        found = await call(client, "get_messages")
        print(f"read {len(found)} messages", flush=True)
    elif step == "approve":
        me = os.environ["TEAM_TABLE_AGENT"]
        for task in await call(client, "list_tasks", status="awaiting_review"):
            if task.get("reviewer") == me:
                await call(client, "review_task", task_id=task["id"], approve=True, note="fine")
                print(f"approved task {task['id']}", flush=True)
    elif step == "whoami":
        await call(client, "list_members")
        print(f"I am {os.environ['TEAM_TABLE_AGENT']}", flush=True)


HUB_STEPS = {"next_task_done", "claim_done", "read", "approve", "whoami"}


def with_hub_now(steps: list[str]) -> None:
    import anyio

    anyio.run(with_hub, steps)


def main(steps: list[str]) -> None:
    prompt = sys.stdin.read()
    pending: list[str] = []
    for step in steps:
        if step in HUB_STEPS:
            pending.append(step)
            continue
        if pending:
            with_hub_now(pending)
            pending = []
        if step.startswith("report:"):
            with open(step.removeprefix("report:"), "a") as out:
                out.write(json.dumps({"pid": os.getpid(), "pgid": os.getpgid(0), "env": dict(os.environ),
                                      "prompt": prompt, "cwd": os.getcwd()}) + "\n")
        elif step.startswith("print:"):
            print(step.removeprefix("print:"), flush=True)
        elif step.startswith("exit:"):
            sys.exit(int(step.removeprefix("exit:")))
        elif step.startswith("fail_once:"):
            marker = step.removeprefix("fail_once:")
            if not os.path.exists(marker):
                open(marker, "w").close()
                print("failing this once", flush=True)
                sys.exit(1)
        elif step == "ignore_term":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif step == "spawn":
            child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                      "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
            print(f"child {child.pid}", flush=True)
        elif step == "hang":
            while True:
                print("still here", flush=True)
                time.sleep(0.2)
        elif step == "quiet":
            while True:
                time.sleep(60)
    if pending:
        with_hub_now(pending)


if __name__ == "__main__":
    main(sys.argv[1:])
