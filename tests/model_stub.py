"""A scripted stand-in for the model APIs, so that real clients run offline in tests: the Anthropic Messages API
(Claude Code, through ANTHROPIC_BASE_URL), the OpenAI Responses API (Codex, a provider with `wire_api =
"responses"`) and the Gemini API (Gemini CLI, through GOOGLE_GEMINI_BASE_URL), on 127.0.0.1, in a thread.

Every request is logged with the monotonic time it arrived: its body is what the model would have seen (system
prompt, hook contexts, channel blocks, tool results, the tool list). The model's side is a script of steps, one
consumed per conversation request (one that offers tools; side requests, such as a title, get `side_reply`, or
the smallest value of the JSON schema they ask for). A step is a text, a `Call` (or a list of them), or a callable
that looks at the request and returns one of those, or None to wait (the request then gets `idle_reply`).

    with ModelStub() as model:
        model.script([Call("mcp__team-table__send_message", recipient="bob", content="hi"), "Sent."])
        ...  # start the client with its model API at model.url
        request = model.wait_for('"sender":"alice"', within=10)
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

import anyio.to_thread

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
        body = self.body if isinstance(self.body, dict) else {}
        return "\n".join(_strings({k: v for k, v in body.items() if k != "tools"}))

    @property
    def latest(self) -> str:
        """The strings of what came after the model's last turn: the new user input or tool results."""
        items = self._items()
        last = max((i for i, item in enumerate(items) if _by_model(item)), default=-1)
        return "\n".join(_strings(items[last + 1:]))

    @property
    def tools(self) -> list[str]:
        """The names of the tools offered (a namespace's tools as `namespace.name`: Codex's MCP servers)."""
        names = []
        for tool in self.body.get("tools") or [] if isinstance(self.body, dict) else []:
            if "functionDeclarations" in tool:  # Gemini
                names.extend(d.get("name", "") for d in tool["functionDeclarations"])
            else:
                names += [tool.get("name", ""), *(f"{tool.get('name')}.{t.get('name')}" for t in tool.get("tools", []))]
        return names

    @property
    def conversational(self) -> bool:
        """A turn of the agent's loop (it offers tools), not a side request such as a title or a quota check."""
        return self.api in ("anthropic", "openai", "gemini") and bool(self.tools)

    def _items(self) -> list[Any]:
        key = {"anthropic": "messages", "openai": "input", "gemini": "contents"}.get(self.api, "")
        items = self.body.get(key) if isinstance(self.body, dict) else None
        return items if isinstance(items, list) else [items] if items else []


def _calls(reply: Reply) -> list[Call]:
    return [reply] if isinstance(reply, Call) else reply if isinstance(reply, list) else []


def _by_model(item: Any) -> bool:
    return isinstance(item, dict) and (item.get("role") in ("assistant", "model") or item.get("type") in (
        "function_call", "reasoning", "custom_tool_call", "local_shell_call"))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _in_namespace(call: Call, offered: list[str]) -> Call:
    """`mcp__team_table__send_message` as Codex offers it: `send_message` in the namespace `mcp__team_table`."""
    inside = [name for name in offered if "." in name and name.replace(".", "__", 1) == call.name]
    return Call(inside[0], call.input) if inside and call.name not in offered else call


def _asked_schema(body: Any) -> dict | None:
    """The JSON schema a side request wants its answer to follow (Gemini's router, a structured output), if any."""
    if not isinstance(body, dict):
        return None
    gemini, openai = body.get("generationConfig") or {}, (body.get("text") or {}).get("format") or {}
    return gemini.get("responseJsonSchema") or gemini.get("responseSchema") or openai.get("schema") \
        or (body.get("output_format") or {}).get("schema")


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
    return lambda request: reply if contains in (request.latest if latest else request.text) else None


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

    def start(self) -> ModelStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
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

    __enter__ = start

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """ANTHROPIC_BASE_URL for Claude Code, GOOGLE_GEMINI_BASE_URL for Gemini CLI; Codex's provider: url + /v1."""
        assert self._server is not None, "the stub is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, steps: Iterable[Step]) -> None:
        """Append steps to the script (what the model answers to the next conversation requests)."""
        with self._changed:
            self._steps.extend(steps)

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
                calls = _calls(reply)
                hidden = [c.name for c in calls if c.name not in request.tools]
                if hidden and TOOL_SEARCH in request.tools:  # load them first; the step waits, decided
                    self._steps[0] = reply
                    return Call(TOOL_SEARCH, query="select:" + ",".join(hidden), max_results=len(hidden))
                self._steps.pop(0)
                if not calls:
                    return reply
                return [_in_namespace(c, request.tools) for c in calls]
        return self.done_reply

    def wait_for(self, contains: str | Callable[[ModelRequest], bool], within: float = 10, after: int = 0,
                 latest: bool = False) -> ModelRequest:
        """The first request from index `after` on whose text (or new input, `latest`) contains `contains` (or
        that satisfies it, if a predicate); waits at most `within` seconds, else AssertionError."""
        matches = contains if callable(contains) else \
            lambda request: contains in (request.latest if latest else request.text)
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

    def do_GET(self) -> None:  # none of the pinned clients asks for anything: logged, refused
        self._record(None)
        self._json({"type": "error", "error": {"type": "not_found_error", "message": self.path}}, 404)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path, size = self.path.split("?")[0], max(1, len(raw) // 4)
        api = next((name for suffix, name in APIS if path.endswith(suffix)), None)
        if api is None:
            self._record(body)
            if path.endswith(("count_tokens", "countTokens")):
                self._json({"input_tokens": size, "totalTokens": size})
            else:
                self._json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)
            return
        request = self._record(body, api)
        reply = self.owner._reply_to(request)
        request.answered = "side" if not request.conversational else \
            "call: " + ", ".join(c.name for c in _calls(reply)) if _calls(reply) else f"text: {str(reply)[:60]}"
        number = next(self.owner._ids)
        if api == "anthropic":
            message = _anthropic_message(reply, self.owner.model, number)
            streamed = isinstance(body, dict) and body.get("stream")
            self._sse(_anthropic_events(message)) if streamed else self._json(message)
        elif api == "openai":
            self._sse(_openai_events(reply, self.owner.model, number))
        else:
            answer = _gemini_response(reply)
            self._sse([("", answer)]) if path.endswith(":streamGenerateContent") else self._json(answer)

    def _record(self, body: Any, api: str = "other") -> ModelRequest:
        with self.owner._changed:
            request = ModelRequest(len(self.owner.requests), api, self.command, self.path, body, time.monotonic(),
                                   {k.lower(): v for k, v in self.headers.items()})
            self.owner.requests.append(request)
            self.owner._changed.notify_all()
        return request

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, "application/json", [json.dumps(data).encode()])

    def _sse(self, events: list[tuple[str, dict]]) -> None:
        self._send(200, "text/event-stream", [(f"event: {name}\n" if name else "").encode()
                                              + f"data: {json.dumps(data)}\n\n".encode() for name, data in events])

    def _send(self, status: int, kind: str, chunks: list[bytes]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n")
        self.wfile.flush()


# Which API a POST is for, by how its path ends.
APIS = (("/v1/messages", "anthropic"), ("/responses", "openai"), (":streamGenerateContent", "gemini"),
        (":generateContent", "gemini"))


def _anthropic_message(reply: Reply, model: str, number: int) -> dict:
    """The Messages API's answer: text, or tool_use blocks."""
    calls = _calls(reply)
    content = [{"type": "tool_use", "id": f"toolu_stub{number}_{i}", "name": c.name, "input": c.input}
               for i, c in enumerate(calls)] or [{"type": "text", "text": str(reply)}]
    return {"id": f"msg_stub{number}", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}


def _anthropic_events(message: dict) -> list[tuple[str, dict]]:
    """The same message as the stream of server-sent events the Messages API sends."""
    start = {**message, "content": [], "stop_reason": None}
    events: list[tuple[str, dict]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        empty, delta = ({**block, "text": ""}, {"type": "text_delta", "text": block["text"]}) if "text" in block \
            else ({**block, "input": {}}, {"type": "input_json_delta", "partial_json": json.dumps(block["input"])})
        events += [("content_block_start", {"type": "content_block_start", "index": index, "content_block": empty}),
                   ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                   ("content_block_stop", {"type": "content_block_stop", "index": index})]
    return [*events, ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 5},
                                        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None}}),
            ("message_stop", {"type": "message_stop"})]


def _openai_events(reply: Reply, model: str, number: int) -> list[tuple[str, dict]]:
    """The Responses API's stream: a message, or function_call items (in a namespace: Codex's MCP servers)."""
    items: list[dict] = []
    for index, call in enumerate(_calls(reply)):
        namespace, _, name = call.name.rpartition(".")
        items.append({"type": "function_call", "id": f"fc_stub{number}_{index}", "name": name,
                      "call_id": f"call_stub{number}_{index}", "arguments": json.dumps(call.input),
                      "status": "completed", **({"namespace": namespace} if namespace else {})})
    items = items or [{"type": "message", "id": f"msg_stub{number}", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": str(reply), "annotations": []}]}]
    response = {"id": f"resp_stub{number}", "object": "response", "created_at": int(time.time()), "model": model,
                "status": "in_progress", "output": []}
    events: list[tuple[str, dict]] = [("response.created", {"type": "response.created", "response": response})]
    for index, item in enumerate(items):
        events.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": index,
                                                      "item": item}))
        if item["type"] == "message":
            events.append(("response.output_text.delta", {
                "type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                "content_index": 0, "delta": item["content"][0]["text"]}))
        events.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": index,
                                                     "item": item}))
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}
    return [*events, ("response.completed", {"type": "response.completed", "response": {
        **response, "status": "completed", "output": items, "usage": usage}})]


def _gemini_response(reply: Reply) -> dict:
    """The Gemini API's answer (streamed as one event): text, or functionCall parts."""
    parts = [{"functionCall": {"name": c.name, "args": c.input}} for c in _calls(reply)] or [{"text": str(reply)}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}}
