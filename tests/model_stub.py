"""A scripted stand-in for the model APIs, so real clients (Claude Code, Codex) run offline in tests.

It serves, on 127.0.0.1 and a free port, in a background thread:
- the Anthropic Messages API (POST /v1/messages, streamed as server-sent events or not, count_tokens, models),
  which Claude Code reaches through ANTHROPIC_BASE_URL;
- the OpenAI Responses API (POST /v1/responses, streamed), which Codex reaches through a provider with
  `wire_api = "responses"`.

Every request body is logged with the monotonic time it arrived: it is what the model would have seen (the
system prompt, hook contexts, channel blocks, tool results, the tool list). The model's side is a script, a list
of steps consumed one per conversation request (a request that offers tools; side requests such as a title
are answered with `side_reply`). A step is a text, a `Call` (or a list of them), or a callable that looks at the
request and returns one of those, or None to leave the step waiting (the request is answered with `idle_reply`).

    with ModelStub() as model:
        model.script([Call("mcp__team-table__send_message", to="bob", content="hi"), "sent"])
        ...  # start the client with model.anthropic_url / model.openai_url
        request = model.wait_for("Tool loaded", within=10)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_SEARCH = "ToolSearch"  # Claude Code 2.1.3xx defers MCP tools behind it


@dataclass(frozen=True)
class Call:
    """A tool call the model makes. For Claude Code, a tool not offered yet but deferred behind ToolSearch is
    loaded first (the stub answers with a ToolSearch call and keeps this step for the next request)."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)

    def __init__(self, name: str, input: dict[str, Any] | None = None, **arguments: Any) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "input", {**(input or {}), **arguments})


Reply = str | Call | list[Call]
Step = Reply | Callable[["ModelRequest"], Reply | None]


@dataclass
class ModelRequest:
    """One request a client made: which API, the path, the JSON body, and when it arrived (time.monotonic())."""

    index: int
    api: str  # "anthropic" | "openai" | "gemini" | "other"
    method: str
    path: str
    body: Any
    arrived: float
    headers: dict[str, str]
    answered: str = ""  # what the stub answered, in short ("text: ...", "call: name", "side", "idle")

    @property
    def text(self) -> str:
        """Every string the model reads in this request (system prompt, messages, tool results), tools excepted."""
        if not isinstance(self.body, dict):
            return ""
        return "\n".join(_strings({k: v for k, v in self.body.items() if k != "tools"}))

    @property
    def latest(self) -> str:
        """The strings of what came after the model's last turn: the new user input or tool results."""
        items = self._items()
        last = max((i for i, item in enumerate(items) if _by_model(item)), default=-1)
        return "\n".join(_strings(items[last + 1:]))

    @property
    def tools(self) -> list[str]:
        """The names of the tools offered (a namespace's tools as `namespace.name`)."""
        names = []
        for tool in (self.body or {}).get("tools") or [] if isinstance(self.body, dict) else []:
            names.extend(d.get("name", "") for d in tool.get("functionDeclarations") or [])  # Gemini
            if "functionDeclarations" in tool:
                continue
            name = tool.get("name") or (tool.get("function") or {}).get("name") or ""
            names.append(name)
            names.extend(f"{name}.{inner.get('name')}" for inner in tool.get("tools") or [])
        return names

    @property
    def conversational(self) -> bool:
        """A turn of the agent's loop (it offers tools), not a side request such as a title or a quota check."""
        return self.api in ("anthropic", "openai", "gemini") and bool(self.tools)

    def _items(self) -> list[Any]:
        if not isinstance(self.body, dict):
            return []
        key = {"anthropic": "messages", "openai": "input", "gemini": "contents"}.get(self.api, "")
        items = self.body.get(key)
        return items if isinstance(items, list) else [items] if items else []


def _by_model(item: Any) -> bool:
    return isinstance(item, dict) and (item.get("role") in ("assistant", "model") or item.get("type") in (
        "function_call", "reasoning", "custom_tool_call", "local_shell_call"))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _in_namespace(call: Call, offered: list[str]) -> Call:
    """`mcp__team_table__send_message` as Codex offers it: `send_message` in the namespace `mcp__team_table`."""
    if call.name in offered:
        return call
    inside = [name for name in offered if "." in name and name.replace(".", "__", 1) == call.name]
    return Call(inside[0], call.input) if inside else call


def _asked_schema(body: Any) -> dict | None:
    """The JSON schema a side request wants its answer to follow (Gemini's router, a structured output), if any."""
    if not isinstance(body, dict):
        return None
    gemini = (body.get("generationConfig") or {})
    openai = ((body.get("text") or {}).get("format") or {})
    anthropic = (body.get("output_format") or {})
    return gemini.get("responseJsonSchema") or gemini.get("responseSchema") or openai.get("schema") \
        or anthropic.get("schema")


def _sample(schema: dict) -> Any:
    """The smallest value of a JSON schema's type: required properties filled, numbers 1, strings "stub"."""
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _sample(properties[key]) for key in schema.get("required", properties) if key in properties}
    return {"array": [], "string": "stub", "integer": 1, "number": 1, "boolean": False}.get(kind)


def when(contains: str, reply: Reply, *, latest: bool = True) -> Callable[[ModelRequest], Reply | None]:
    """A step that waits for a request whose new input (or, latest=False, whole text) contains `contains`."""
    def step(request: ModelRequest) -> Reply | None:
        return reply if contains in (request.latest if latest else request.text) else None

    step.__name__ = f"when {contains!r}"
    return step


class ModelStub:
    """The stub server. Use as a context manager (or start()/close()); it logs every request in `requests`."""

    def __init__(self, side_reply: str = "OK", idle_reply: str = "Nothing to do.", done_reply: str = "Done.",
                 model: str = "claude-sonnet-4-5") -> None:
        self.side_reply, self.idle_reply, self.done_reply, self.model = side_reply, idle_reply, done_reply, model
        self.requests: list[ModelRequest] = []
        self._steps: list[Step] = []
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()

    # ---- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> ModelStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="model-stub", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._changed:
            for conn in list(self._open):  # keep-alive connections of clients still running
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._changed.notify_all()
        assert self._thread is not None
        self._thread.join(5)
        self._server = None

    def __enter__(self) -> ModelStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "the stub is not started"
        return self._server.server_address[1]

    @property
    def anthropic_url(self) -> str:
        """ANTHROPIC_BASE_URL for Claude Code."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def gemini_url(self) -> str:
        """GOOGLE_GEMINI_BASE_URL for Gemini CLI."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """A Responses API provider's base_url (Codex appends /responses)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # ---- the script --------------------------------------------------------------------------------------

    def script(self, steps: Iterable[Step]) -> None:
        """Append steps to the script (what the model answers to the next conversation requests)."""
        with self._changed:
            self._steps.extend(steps)

    @property
    def pending(self) -> list[Step]:
        with self._changed:
            return list(self._steps)

    def _reply_to(self, request: ModelRequest) -> Reply:
        if not request.conversational:
            schema = _asked_schema(request.body)
            return json.dumps(_sample(schema)) if schema else self.side_reply
        with self._changed:
            while self._steps:
                step = self._steps[0]
                reply = step(request) if callable(step) else step
                if reply is None:
                    return self.idle_reply
                calls = [reply] if isinstance(reply, Call) else reply if isinstance(reply, list) else []
                hidden = [c.name for c in calls if c.name not in request.tools]
                if hidden and TOOL_SEARCH in request.tools:  # load them first; the step waits, decided
                    self._steps[0] = reply
                    return Call(TOOL_SEARCH, query="select:" + ",".join(hidden), max_results=len(hidden))
                self._steps.pop(0)
                if not calls:
                    return reply
                return [_in_namespace(c, request.tools) for c in calls]
        return self.done_reply

    # ---- the log -----------------------------------------------------------------------------------------

    def _log(self, request: ModelRequest) -> None:
        with self._changed:
            request.index = len(self.requests)
            self.requests.append(request)
            self._changed.notify_all()

    def wait_for(self, contains: str | Callable[[ModelRequest], bool], within: float = 10, after: int = 0,
                 latest: bool = False) -> ModelRequest:
        """The first request from index `after` on whose text (or new input, `latest`) contains `contains` (or
        that satisfies it, if a predicate); waits at most `within` seconds, else AssertionError."""
        def matches(request: ModelRequest) -> bool:
            if callable(contains):
                return contains(request)
            return contains in (request.latest if latest else request.text)

        deadline = time.monotonic() + within
        with self._changed:
            while True:
                for request in self.requests[after:]:
                    if matches(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0 or self._server is None:
                    seen = [f"{r.index} {r.method} {r.path} -> {r.answered}" for r in self.requests]
                    raise AssertionError(f"no model request matched {contains!r} within {within} s; seen:\n"
                                         + "\n".join(seen[-20:]))
                self._changed.wait(left)

    async def until(self, contains: str | Callable[[ModelRequest], bool], within: float = 10, after: int = 0,
                    latest: bool = False) -> ModelRequest:
        """wait_for, from async code (the wait runs in a worker thread; it is bounded by `within`)."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(lambda: self.wait_for(contains, within, after, latest))

    def mark(self) -> int:
        """The index the next request will have: `after=model.mark()` waits only for what comes next."""
        with self._changed:
            return len(self.requests)

    def conversation(self) -> list[ModelRequest]:
        return [r for r in list(self.requests) if r.conversational]


class _Handler(BaseHTTPRequestHandler):
    owner: ModelStub
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with self.owner._changed:
            self.owner._open.add(self.connection)

    def finish(self) -> None:
        with self.owner._changed:
            self.owner._open.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # the request log is the record, not stderr
        pass

    def do_GET(self) -> None:
        self._record(None)
        path = self.path.split("?")[0]
        if path.rstrip("/").endswith("/models"):
            model = {"id": self.owner.model, "type": "model", "display_name": self.owner.model,
                     "created_at": "2026-01-01T00:00:00Z", "object": "model", "created": 0, "owned_by": "stub"}
            self._json({"data": [model], "models": [], "has_more": False, "first_id": model["id"],
                        "last_id": model["id"], "object": "list"})
        else:
            self._json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)

    def do_HEAD(self) -> None:
        self._record(None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else self._read_chunked()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = self.path.split("?")[0]
        if path.endswith("/messages/count_tokens"):
            self._record(body)
            self._json({"input_tokens": max(1, len(json.dumps(body)) // 4)})
        elif path.endswith("/messages"):
            request = self._record(body, "anthropic")
            reply = self.owner._reply_to(request)
            request.answered = _summary(reply, request)
            anthropic = _anthropic_events(reply, self.owner.model, next(self.owner._ids))
            if isinstance(body, dict) and body.get("stream"):
                self._sse([(name, data) for name, data in anthropic])
            else:
                self._json(_anthropic_message(anthropic))
        elif path.endswith("/responses"):
            request = self._record(body, "openai")
            reply = self.owner._reply_to(request)
            request.answered = _summary(reply, request)
            self._sse(_openai_events(reply, self.owner.model, next(self.owner._ids)))
        elif path.endswith((":streamGenerateContent", ":generateContent")):
            request = self._record(body, "gemini")
            reply = self.owner._reply_to(request)
            request.answered = _summary(reply, request)
            answer = _gemini_response(reply)
            if path.endswith(":streamGenerateContent"):
                self._sse([("", answer)])
            else:
                self._json(answer)
        elif path.endswith(":countTokens"):
            self._record(body)
            self._json({"totalTokens": max(1, len(json.dumps(body)) // 4)})
        else:
            self._record(body)
            self._json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)

    def _read_chunked(self) -> bytes:
        if "chunked" not in (self.headers.get("Transfer-Encoding") or ""):
            return b""
        data = b""
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return data
            data += self.rfile.read(size)
            self.rfile.readline()

    def _record(self, body: Any, api: str = "other") -> ModelRequest:
        request = ModelRequest(0, api, self.command, self.path, body, time.monotonic(),
                               {k.lower(): v for k, v in self.headers.items()})
        self.owner._log(request)
        return request

    def _json(self, data: Any, status: int = 200) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _sse(self, events: list[tuple[str, dict]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for name, data in events:
            chunk = (f"event: {name}\n" if name else "").encode() + f"data: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _summary(reply: Reply, request: ModelRequest) -> str:
    if not request.conversational:
        return "side"
    calls = [reply] if isinstance(reply, Call) else reply if isinstance(reply, list) else []
    if calls:
        return "call: " + ", ".join(c.name for c in calls)
    return f"text: {reply[:60]}"


# ---- Anthropic Messages API ---------------------------------------------------------------------------------

def _anthropic_events(reply: Reply, model: str, number: int) -> list[tuple[str, dict]]:
    calls = [reply] if isinstance(reply, Call) else reply if isinstance(reply, list) else []
    usage = {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": {
        "id": f"msg_stub{number}", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": usage}})]
    if calls:
        for index, call in enumerate(calls):
            block = {"type": "tool_use", "id": f"toolu_stub{number}_{index}", "name": call.name, "input": {}}
            events += [
                ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}),
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(call.input)}}),
                ("content_block_stop", {"type": "content_block_stop", "index": index})]
        stop = "tool_use"
    else:
        events += [
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": str(reply)}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0})]
        stop = "end_turn"
    events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                  "usage": {"output_tokens": 5}}),
               ("message_stop", {"type": "message_stop"})]
    return events


def _anthropic_message(events: list[tuple[str, dict]]) -> dict:
    """The same answer as one JSON message, for a client that did not ask for a stream."""
    message = dict(events[0][1]["message"])
    content: list[dict] = []
    for name, data in events[1:]:
        if name == "content_block_start":
            content.append(dict(data["content_block"]))
        elif name == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                content[-1]["text"] += delta["text"]
            else:
                content[-1]["input"] = json.loads(delta["partial_json"])
        elif name == "message_delta":
            message["stop_reason"] = data["delta"]["stop_reason"]
    message["content"] = content
    return message


# ---- OpenAI Responses API -----------------------------------------------------------------------------------

def _openai_events(reply: Reply, model: str, number: int) -> list[tuple[str, dict]]:
    calls = [reply] if isinstance(reply, Call) else reply if isinstance(reply, list) else []
    response = {"id": f"resp_stub{number}", "object": "response", "created_at": int(time.time()), "model": model,
                "status": "in_progress", "output": []}
    events: list[tuple[str, dict]] = [("response.created", {"type": "response.created", "response": response})]
    items: list[dict] = []
    if calls:
        for index, call in enumerate(calls):
            namespace, _, name = call.name.rpartition(".")  # a namespace's tool (Codex's MCP servers)
            item = {"type": "function_call", "id": f"fc_stub{number}_{index}", "call_id": f"call_stub{number}_{index}",
                    "name": name, "arguments": json.dumps(call.input), "status": "completed"}
            items.append({**item, "namespace": namespace} if namespace else item)
    else:
        items.append({"type": "message", "id": f"msg_stub{number}", "role": "assistant", "status": "completed",
                      "content": [{"type": "output_text", "text": str(reply), "annotations": []}]})
    for index, item in enumerate(items):
        events.append(("response.output_item.added",
                       {"type": "response.output_item.added", "output_index": index, "item": item}))
        if item["type"] == "message":
            events.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"],
                                                          "output_index": index, "content_index": 0,
                                                          "delta": item["content"][0]["text"]}))
        events.append(("response.output_item.done",
                       {"type": "response.output_item.done", "output_index": index, "item": item}))
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
    events.append(("response.completed", {"type": "response.completed", "response": {
        **response, "status": "completed", "output": items, "usage": usage}}))
    return events


# ---- Gemini API (generateContent) ---------------------------------------------------------------------------

def _gemini_response(reply: Reply) -> dict:
    calls = [reply] if isinstance(reply, Call) else reply if isinstance(reply, list) else []
    parts = [{"functionCall": {"name": c.name, "args": c.input}} for c in calls] or [{"text": str(reply)}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
            "modelVersion": "gemini-stub"}
