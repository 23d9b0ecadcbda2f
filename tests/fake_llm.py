"""A fake LLM server: a real HTTP process speaking both protocols, scriptable by tests.

Run: python tests/fake_llm.py --port 9000 [--keep-alive SECONDS] [--fin-delay SECONDS]
     [--recap WORDS]

--keep-alive: close idle kept-alive connections after this long (uvicorn's own
default is 5 s, and vLLM runs on uvicorn). --fin-delay: the closing takes this long
to reach the client, as over a network; a request the client sends on that
connection meanwhile (it does not know yet) is met by the close, unanswered. That
is the keep-alive race, which loopback alone makes too narrow to hit.

Protocols: OpenAI (`GET /v1/models`, `POST /v1/chat/completions`, stream or not) and
`simple` (`GET /health`, `POST /chat`, `POST /chat/stream`).

Control API (tests only):
- `POST /_control/script` with a JSON list of behaviours; each chat request takes the
  next one (FIFO). With the queue empty the reply is "Echo: <last user message>"
  (with --recap N: "Recap: <its last N words>", a short, telling summary).
- `GET /_control/requests` lists every chat request received (path, JSON body, the
  caller's `client_port`);
  a stream's entry also gets `closed_at` (time.time()) and `ended`: "completed", or
  "client_disconnected" when the caller closed the connection first (a stop).
- `POST /_control/tokenizer` `{"style": "none" | "llama.cpp" | "vllm" | "llama-cpp-python"}`
  serves that server's tokenize route (`POST /tokenize` or `/extras/tokenize/count`:
  one token per word); `GET /_control/tokenize_calls` lists the calls it got.
- `POST /_control/reset` clears all of it (the tokenizer back to none).

Usage is consistent with the tokenizer: a prompt's tokens are each message's words
plus 4 (a reply's plus 5), plus 3, plus 11 when there is no system message (a
template's default system prompt); a reply's, its words.

A behaviour is an object with any of:
  reply (str) | chunks (list[str])   the text, whole or as given pieces
  status (int), error (str)          answer this HTTP error instead
  code (str)                         with this error code (OpenAI style)
  delay (float)                      seconds before the response starts
  chunk_delay (float)                seconds between stream chunks
  finish_reason (str | null, "stop") null: no chunk says why the reply ended
  usage (bool, true)                 include OpenAI usage
  retry_after (str)                  with an error status: send this Retry-After header
  tool_calls (list of {name, arguments (str), id?})  after the text, call these tools
                                     (finish_reason `tool_calls` unless given); in a
                                     stream, each call's first piece names it and
  arguments_chunk (int, 0)           its arguments follow in pieces this long (0: whole)
  interleave (bool)                  parallel calls' pieces alternate, as vLLM's may
  no_tool_ids (bool)                 calls come without ids (some servers omit them)
  stall_after (int), stall (float)   after this many chunks, go silent this long
  fault: "malformed_json" | "no_done" | "break" | "not_sse" | "simple_plain"
         | "simple_no_done" | "empty" (a 200 event stream with no bytes at all:
         llama.cpp's answer to a streamed prompt over its context)
         | "error_event" (vLLM's `data: {"error": ...}` half-way through)
         | "malformed_sse" (lines that are no SSE field, and a bad `retry:`, between events)
         | "invalid_utf8" (the bytes FF FE inside the middle chunk's text)
         | "split_utf8" (each chunk's bytes written in two halves, cutting characters)
         | "close" (close the connection without answering: a kept-alive
           connection closed as the client reused it)
         | "reset" (the same with a TCP reset, as a proxy may)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MODEL = "fake-model"
# Each open connection's transport by the client's port, so that a route can close
# its own connection without answering (the "close" and "reset" faults).
TRANSPORTS: dict[int, asyncio.Transport] = {}
FIN_DELAY = [0.0]  # seconds; set from --fin-delay
RECAP_WORDS = [0]  # set from --recap


class TrackedConnections(HttpToolsProtocol):
    """uvicorn's HTTP protocol, noting each connection's transport in TRANSPORTS,
    with the keep-alive close delayed by FIN_DELAY[0] (see --fin-delay)."""

    closing = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            TRANSPORTS[self.client[1]] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client:
            TRANSPORTS.pop(self.client[1], None)
        super().connection_lost(exc)

    def timeout_keep_alive_handler(self) -> None:
        if not FIN_DELAY[0]:
            super().timeout_keep_alive_handler()
            return
        self.closing = True  # decided; the client learns of it FIN_DELAY later
        asyncio.get_running_loop().call_later(FIN_DELAY[0], super().timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        if self.closing:  # a request that crossed the close on the wire
            self.transport.close()
            return
        super().data_received(data)


def hang_up(request: Request, reset: bool) -> Response:
    """Close this request's connection with no answer: a FIN, or a RST with `reset`."""
    transport = TRANSPORTS[request.client.port if request.client else 0]
    if reset:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    return Response(status_code=500)  # never sent: the connection is gone


class Script:
    def __init__(self) -> None:
        self.queue: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.tokenize_calls: list[dict[str, Any]] = []

    def next_behaviour(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.queue:
            return self.queue.pop(0)
        users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1] if users else ""
        if RECAP_WORDS[0]:
            return {"reply": "Recap: " + " ".join(last.split()[-RECAP_WORDS[0] :])}
        return {"reply": f"Echo: {last}"}


script = Script()


def pieces(behaviour: dict[str, Any]) -> list[str]:
    if "chunks" in behaviour:
        return list(behaviour["chunks"])
    words = behaviour.get("reply", "").split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]


async def take(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    body = await request.json()
    script.requests.append(
        {
            "path": request.url.path,
            "body": body,
            "authorization": request.headers.get("authorization"),
            # the caller's port: one port for many requests is one kept-alive connection
            "client_port": request.client.port if request.client else None,
            "received_at": time.time(),
        }
    )
    behaviour = script.next_behaviour(body)
    await asyncio.sleep(behaviour.get("delay", 0))
    return body, behaviour


def event_stream(events: AsyncIterator[str] | AsyncIterator[bytes]) -> StreamingResponse:
    """Stream `events`, noting in the request log how and when the stream ended."""
    record = script.requests[-1]

    async def recorded() -> AsyncIterator[str | bytes]:
        try:
            async for event in events:
                yield event
            record["ended"] = "completed"
        except (asyncio.CancelledError, GeneratorExit):
            record["ended"] = "client_disconnected"
            raise
        except Exception:
            record["ended"] = "broken"  # a scripted fault
            raise
        finally:
            record["closed_at"] = time.time()

    return StreamingResponse(recorded(), media_type="text/event-stream")


def error_response(behaviour: dict[str, Any]) -> Response | None:
    if "status" not in behaviour:
        return None
    error = {"message": behaviour.get("error", "fake failure")}
    if "code" in behaviour:
        error["code"] = behaviour["code"]
    headers = {"Retry-After": behaviour["retry_after"]} if "retry_after" in behaviour else None
    return JSONResponse({"error": error}, status_code=behaviour["status"], headers=headers)


# Its tokenizer: one token per whitespace-separated word. Its chat template: each
# message framed by 4 tokens (a reply by 5, as SmolLM2's frames them 5 and 6), 3 for
# the reply's header, and (as SmolLM2's does) a default system prompt of 7 tokens
# when the messages have none.
MESSAGE_FRAMING, REPLY_FRAMING, REPLY_HEADER, DEFAULT_SYSTEM = 4, 5, 3, 7
TOKENIZER = {"style": "none"}  # none | llama.cpp | vllm | llama-cpp-python


def words(text: str) -> int:
    return len(text.split())


def usage_of(body: dict[str, Any], text: str) -> dict[str, int]:
    messages = body.get("messages", [])
    prompt = REPLY_HEADER + sum(
        words(m.get("content") or "")
        + (REPLY_FRAMING if m.get("role") == "assistant" else MESSAGE_FRAMING)
        for m in messages
    )
    if not messages or messages[0].get("role") != "system":
        prompt += DEFAULT_SYSTEM + MESSAGE_FRAMING
    completion = words(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def chat_completions(request: Request) -> Response:
    body, behaviour = await take(request)
    if behaviour.get("fault") in ("close", "reset"):
        return hang_up(request, reset=behaviour["fault"] == "reset")
    failure = error_response(behaviour)
    if failure is not None:
        return failure
    text = "".join(pieces(behaviour))
    if not body.get("stream"):
        if behaviour.get("fault") == "malformed_json":
            return PlainTextResponse("{not json", media_type="application/json")
        reply: dict[str, Any] = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text}
                    | ({"tool_calls": whole_calls(behaviour)} if "tool_calls" in behaviour else {}),
                    "finish_reason": finish_reason(behaviour),
                }
            ],
        }
        if behaviour.get("usage", True):
            reply["usage"] = usage_of(body, text)
        return JSONResponse(reply)
    if behaviour.get("fault") == "not_sse":
        return JSONResponse({"unexpected": "json"})
    if behaviour.get("fault") == "empty":
        return Response(b"", media_type="text/event-stream")
    return event_stream(as_wire_bytes(openai_events(body, behaviour), behaviour.get("fault")))


def openai_chunk(delta: dict[str, Any], finish: str | None = None, model: str = MODEL) -> str:
    payload = {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"  # raw UTF-8, as servers send


INVALID_UTF8_MARK = "<<FFFE>>"


def as_wire_bytes(events: AsyncIterator[str], fault: str | None) -> AsyncIterator[bytes]:
    """The events as bytes, with the byte-level faults applied."""

    async def wire() -> AsyncIterator[bytes]:
        async for event in events:
            raw = event.encode().replace(INVALID_UTF8_MARK.encode(), b"\xff\xfe")
            if fault == "split_utf8" and len(raw) > 1:
                yield raw[: len(raw) // 2]
                await asyncio.sleep(0.01)  # two TCP writes, so two reads
                yield raw[len(raw) // 2 :]
            else:
                yield raw

    return wire()


async def openai_events(body: dict[str, Any], behaviour: dict[str, Any]) -> AsyncIterator[str]:
    fault = behaviour.get("fault")
    model = body.get("model") or MODEL
    yield openai_chunk({"role": "assistant", "content": ""}, model=model)
    parts = pieces(behaviour)
    for index, part in enumerate(parts):
        if index:
            await asyncio.sleep(behaviour.get("chunk_delay", 0))
        if index == behaviour.get("stall_after"):
            await asyncio.sleep(behaviour.get("stall", 60))
        middle = index == len(parts) // 2
        if fault == "break" and middle:
            raise RuntimeError("fake connection break")
        if fault == "malformed_json" and middle:
            yield "data: {this is not json\n\n"
        if fault == "error_event" and middle:
            yield 'data: {"error": {"message": "fake engine crash", "code": 500}}\n\n'
        if fault == "malformed_sse":
            yield "this line is no sse field\nretry: soon\n:a comment\n\n"
        if fault == "invalid_utf8" and middle:
            part = part + INVALID_UTF8_MARK
        yield openai_chunk({"content": part}, model=model)
    for piece in tool_call_pieces(behaviour):
        await asyncio.sleep(behaviour.get("chunk_delay", 0))
        yield openai_chunk({"tool_calls": [piece]}, model=model)
    yield openai_chunk({}, finish_reason(behaviour), model)
    if behaviour.get("usage", True) and body.get("stream_options", {}).get("include_usage"):
        usage = {"id": "cmpl-1", "choices": [], "usage": usage_of(body, "".join(parts))}
        yield f"data: {json.dumps(usage)}\n\n"
    if fault != "no_done":
        yield "data: [DONE]\n\n"


def finish_reason(behaviour: dict[str, Any]) -> str | None:
    default = "tool_calls" if behaviour.get("tool_calls") else "stop"
    reason: str | None = behaviour.get("finish_reason", default)
    return reason


def whole_calls(behaviour: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": call.get("id", f"call_{index}"),
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for index, call in enumerate(behaviour["tool_calls"])
    ]


def tool_call_pieces(behaviour: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls as OpenAI streams them: a first piece with the index, id and name,
    then argument fragments keyed by the index; interleaved across calls if asked."""
    size = behaviour.get("arguments_chunk", 0)
    per_call: list[list[dict[str, Any]]] = []
    for index, call in enumerate(behaviour.get("tool_calls", [])):
        arguments = call["arguments"]
        fragments = (
            [arguments[i : i + size] for i in range(0, len(arguments), size)] if size else []
        )
        first: dict[str, Any] = {"index": index, "type": "function"}
        if not behaviour.get("no_tool_ids"):
            first["id"] = call.get("id", f"call_{index}")
        first["function"] = {"name": call["name"], "arguments": "" if size else arguments}
        rest = [{"index": index, "function": {"arguments": f}} for f in fragments]
        per_call.append([first, *rest])
    if not behaviour.get("interleave"):
        return [piece for pieces_ in per_call for piece in pieces_]
    longest = max((len(p) for p in per_call), default=0)
    return [p[i] for i in range(longest) for p in per_call if i < len(p)]


async def simple_chat(request: Request) -> Response:
    _, behaviour = await take(request)
    failure = error_response(behaviour)
    if failure is not None:
        return failure
    if behaviour.get("fault") == "malformed_json":
        return PlainTextResponse("<html>oops</html>", media_type="application/json")
    key = behaviour.get("reply_key", "response")
    return JSONResponse({key: "".join(pieces(behaviour))})


async def simple_stream(request: Request) -> Response:
    _, behaviour = await take(request)
    failure = error_response(behaviour)
    if failure is not None:
        return failure

    async def events() -> AsyncIterator[str]:
        for index, part in enumerate(pieces(behaviour)):
            if index:
                await asyncio.sleep(behaviour.get("chunk_delay", 0))
            if behaviour.get("fault") == "simple_plain":
                yield f"data: {part}\n\n"
            else:
                yield f"data: {json.dumps({'token': part})}\n\n"
        if behaviour.get("fault") != "simple_no_done":
            yield "data: [DONE]\n\n"

    return event_stream(events())


async def models(_: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})


async def health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def control_script(request: Request) -> Response:
    script.queue.extend(await request.json())
    return JSONResponse({"queued": len(script.queue)})


async def control_requests(_: Request) -> Response:
    return JSONResponse(script.requests)


async def control_reset(_: Request) -> Response:
    script.queue.clear()
    script.requests.clear()
    script.tokenize_calls.clear()
    TOKENIZER["style"] = "none"
    return JSONResponse({"reset": True})


async def control_tokenizer(request: Request) -> Response:
    TOKENIZER["style"] = (await request.json())["style"]
    return JSONResponse(TOKENIZER)


async def control_tokenize_calls(_: Request) -> Response:
    return JSONResponse(script.tokenize_calls)


async def tokenize(request: Request) -> Response:
    """llama.cpp's `{"content"}` -> `{"tokens"}`, or vLLM's `{"prompt"}` -> `{"count",
    "tokens"}`, as the control API says; 404 for a server without it."""
    style, body = TOKENIZER["style"], await request.json()
    script.tokenize_calls.append({"path": request.url.path, "body": body})
    if style == "llama.cpp":
        return JSONResponse({"tokens": list(range(words(body["content"])))})
    if style == "vllm":
        count = words(body["prompt"])
        return JSONResponse({"count": count, "tokens": list(range(count)), "max_model_len": 2048})
    return JSONResponse({"detail": "Not Found"}, status_code=404)


async def tokenize_count(request: Request) -> Response:
    """llama-cpp-python's `{"input"}` -> `{"count"}`."""
    body = await request.json()
    script.tokenize_calls.append({"path": request.url.path, "body": body})
    if TOKENIZER["style"] == "llama-cpp-python":
        return JSONResponse({"count": words(body["input"])})
    return JSONResponse({"detail": "Not Found"}, status_code=404)


app = Starlette(
    routes=[
        Route("/v1/models", models),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/health", health),
        Route("/chat", simple_chat, methods=["POST"]),
        Route("/chat/stream", simple_stream, methods=["POST"]),
        Route("/_control/script", control_script, methods=["POST"]),
        Route("/_control/requests", control_requests),
        Route("/_control/reset", control_reset, methods=["POST"]),
        Route("/_control/tokenizer", control_tokenizer, methods=["POST"]),
        Route("/_control/tokenize_calls", control_tokenize_calls),
        Route("/tokenize", tokenize, methods=["POST"]),
        Route("/extras/tokenize/count", tokenize_count, methods=["POST"]),
    ]
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keep-alive", type=float, default=5.0)
    parser.add_argument("--fin-delay", type=float, default=0.0)
    parser.add_argument("--recap", type=int, default=0)
    args = parser.parse_args()
    FIN_DELAY[0] = args.fin_delay
    RECAP_WORDS[0] = args.recap
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        http=TrackedConnections,
        timeout_keep_alive=args.keep_alive,
    )
