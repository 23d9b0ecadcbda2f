"""A fast fake OpenAI-compatible LLM server for benchmarks (not for tests: no script).

    python bench/fast_llm.py --port 9100 [--tokens 32] [--ttft 0] [--token-delay 0]

The tests' fake (tests/fake_llm.py) is a Starlette app built to be scripted; at a few
hundred requests/s per core it would be the bottleneck a benchmark measures. This one
is an asyncio protocol over httptools' parser on uvloop, with every response prepared
once: several thousand requests/s on one core (bench/run.py measures it directly).

Serves `GET /v1/models` and `POST /v1/chat/completions`, streamed (SSE, chunked) or
whole, with HTTP/1.1 keep-alive. A reply is `--tokens` tokens (fewer when the body's
`max_tokens` is lower); a stream waits `--ttft` seconds before its first token and
`--token-delay` between tokens; with no delays the whole stream goes in one write,
as a server answering 32 tokens at once would. Usage is reported, as vLLM does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from functools import lru_cache
from typing import Any, cast

import httptools
import uvloop

MODEL = "bench-model"
TOKEN = "tok "
MODELS_BODY = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()


def _response(status: bytes, content_type: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
CHUNKED_END = b"0\r\n\r\n"
NOT_FOUND = _response(b"404 Not Found", b"application/json", b'{"error":"not found"}')
BAD_REQUEST = _response(b"400 Bad Request", b"application/json", b'{"error":"bad json"}')


def _usage(prompt_tokens: int, tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": tokens,
        "total_tokens": prompt_tokens + tokens,
    }


@lru_cache(maxsize=1024)
def whole_reply(tokens: int) -> bytes:
    body = {
        "id": "bench",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TOKEN * tokens},
                "finish_reason": "length",
            }
        ],
        "usage": _usage(10, tokens),
    }
    return _response(b"200 OK", b"application/json", json.dumps(body).encode())


def _event(payload: dict[str, Any]) -> bytes:
    return _chunked(b"data: " + json.dumps(payload).encode() + b"\n\n")


@lru_cache(maxsize=1024)
def stream_events(tokens: int) -> tuple[bytes, ...]:
    """The chunks of a streamed reply: one per token, then finish, usage, [DONE]."""

    def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _event({"id": "bench", "object": "chat.completion.chunk", "choices": [choice]})

    events = [chunk({"role": "assistant", "content": TOKEN})] if tokens else []
    events += [chunk({"content": TOKEN}) for _ in range(tokens - 1)]
    events.append(chunk({}, "length"))
    events.append(_event({"id": "bench", "choices": [], "usage": _usage(10, tokens)}))
    events.append(_chunked(b"data: [DONE]\n\n") + CHUNKED_END)
    return tuple(events)


def tokenized(raw: bytes) -> bytes:
    """llama.cpp's answer to POST /tokenize: a token per word of `content`."""
    words = len(str(json.loads(raw).get("content", "")).split())
    body = json.dumps({"tokens": list(range(words))}).encode()
    return _response(b"200 OK", b"application/json", body)


class Options:
    def __init__(
        self, tokens: int, ttft: float, token_delay: float, tokenize: bool = False
    ) -> None:
        self.tokens, self.ttft, self.token_delay = tokens, ttft, token_delay
        self.instant = ttft <= 0 and token_delay <= 0
        self.tokenize = tokenize  # serve llama.cpp's POST /tokenize (one token per word)


class LLMProtocol(asyncio.Protocol):
    """One connection: parse requests, answer each from prepared bytes."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        assert self.transport is not None
        if url == b"/v1/chat/completions":
            self.answer_chat(body)
        elif url == b"/v1/models" or url == b"/health":
            self.transport.write(_response(b"200 OK", b"application/json", MODELS_BODY))
        elif url == b"/tokenize" and self.options.tokenize:
            self.transport.write(tokenized(body))
        else:
            self.transport.write(NOT_FOUND)

    def answer_chat(self, raw: bytes) -> None:
        assert self.transport is not None
        try:
            request = json.loads(raw)
        except ValueError:
            self.transport.write(BAD_REQUEST)
            return
        tokens = min(self.options.tokens, int(request.get("max_tokens") or self.options.tokens))
        if not request.get("stream"):
            self.transport.write(whole_reply(tokens))
        elif self.options.instant:
            self.transport.write(STREAM_HEAD + b"".join(stream_events(tokens)))
        else:
            asyncio.get_running_loop().create_task(self.stream_slowly(tokens))

    async def stream_slowly(self, tokens: int) -> None:
        transport, options = self.transport, self.options
        assert transport is not None
        transport.write(STREAM_HEAD)
        events = stream_events(tokens)
        await asyncio.sleep(options.ttft)
        for index, event in enumerate(events):
            if transport.is_closing():
                return
            if 0 < index < tokens:
                await asyncio.sleep(options.token_delay)
            transport.write(event)


async def serve(host: str, port: int, options: Options) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: LLMProtocol(options), host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=32, help="tokens per reply")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument("--tokenize", action="store_true", help="serve POST /tokenize")
    args = parser.parse_args()
    options = Options(args.tokens, args.ttft, args.token_delay, args.tokenize)
    uvloop.run(serve(args.host, args.port, options))


if __name__ == "__main__":
    main()
