"""Load generators: wrk for whole JSON replies, an asyncio client for streams.

wrk (Debian package `wrk`) sends the non-streamed POSTs: it is C, so it measures
the server and not itself. Its Lua script either repeats one body or, for the
service, rotates through a file of session ids, so each turn lands in a session
that already holds history and no two connections share a session (a second turn
on a busy session is a 409 by design).

Streams are read by `stream_turns`: plain asyncio connections with httptools'
response parser (chunked decoding in C) that timestamp the first byte, every
token and the last byte of each response. A token is a `data:` chunk with content
from the LLM server, or an `event: delta` from the service.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%(body)s]]
local ids = {}
local keys = {}
local sessions = "%(sessions)s"
if sessions ~= "" then
  for line in io.lines(sessions) do
    local id, key = line:match("^([^\t]+)\t(.+)$")
    ids[#ids + 1] = id or line
    keys[#keys + 1] = key
  end
end
local n = 0
request = function()
  if #ids == 0 then return wrk.format() end
  n = n + 1
  local at = (n %% #ids) + 1
  local body = string.format('%(template)s', ids[at])
  local headers = nil
  if keys[at] then
    headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. keys[at]}
  end
  return wrk.format(nil, nil, headers, body)
end
"""
# The body of a turn in session %s: /api/chat's (others: bench/openai_door.py).
CHAT_TEMPLATE = '{"session_id":"%s","message":"hello"}'
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    body: str,
    connections: int,
    seconds: float,
    session_ids: list[str] | None = None,
    template: str = CHAT_TEMPLATE,
) -> dict[str, Any]:
    """One wrk run (one thread): requests/s, p50/p99 latency in ms, failed responses."""
    with tempfile.TemporaryDirectory() as tmp:
        sessions = Path(tmp) / "sessions.txt"
        if session_ids:
            sessions.write_text("\n".join(session_ids) + "\n")
        script = Path(tmp) / "post.lua"
        script.write_text(
            WRK_SCRIPT
            % {
                "body": body,
                "sessions": str(sessions) if session_ids else "",
                "template": template,
            }
        )
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(seconds, 1):.0f}s", "--latency"]
        argv += ["-s", str(script), url]
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict[str, Any]:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        return float(found.group(1)) * UNITS[found.group(2)] if found else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
        output,
    )
    return {
        "rps": float(rate.group(1)) if rate else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "failed": int(failed.group(1)) if failed else 0,
        "socket_errors": sum(map(int, socket.groups())) if socket else 0,
    }


@dataclass
class StreamSample:
    """One response, times in seconds from sending its request."""

    status: int = 0
    first_byte: float = 0.0
    token_times: list[float] = field(default_factory=list)
    last_byte: float = 0.0

    @property
    def first_token(self) -> float:
        return self.token_times[0] if self.token_times else self.last_byte

    def gaps(self) -> list[float]:
        times = self.token_times
        return [later - earlier for earlier, later in itertools.pairwise(times)]


class _Response:
    """httptools callbacks for one response on a keep-alive connection."""

    def __init__(self, marker: bytes, started: float) -> None:
        self.marker, self.started = marker, started
        self.sample = StreamSample()
        self.done = asyncio.get_running_loop().create_future()
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.sample.status = self.parser.get_status_code()
        self.sample.first_byte = time.perf_counter() - self.started

    def on_body(self, body: bytes) -> None:
        now = time.perf_counter() - self.started
        self.sample.token_times.extend([now] * body.count(self.marker))

    def on_message_complete(self) -> None:
        self.sample.last_byte = time.perf_counter() - self.started
        if not self.done.done():
            self.done.set_result(None)


async def _one_connection(
    host: str,
    port: int,
    request_for: Callable[[int], bytes],
    marker: bytes,
    deadline: float,
    turns: int,
    samples: list[StreamSample],
    counter: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline and counter[0] < turns:
            counter[0] += 1
            response = _Response(marker, time.perf_counter())
            writer.write(request_for(counter[0]))
            while not response.done.done():
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                response.parser.feed_data(data)
            samples.append(response.sample)
    finally:
        writer.close()


def http_post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


async def stream_turns(
    url: str,
    request_for: Callable[[int], bytes],
    marker: bytes,
    concurrency: int,
    seconds: float = 3600.0,
    turns: int = 1 << 60,
) -> tuple[list[StreamSample], float]:
    """`concurrency` keep-alive connections sending requests until `seconds` or
    `turns` have passed; the samples and the wall time they took."""
    host, port = url.removeprefix("http://").split(":")
    samples: list[StreamSample] = []
    counter = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _one_connection(host, int(port), request_for, marker, deadline, turns, samples, counter)
            for _ in range(concurrency)
        )
    )
    return samples, time.perf_counter() - started


def percentile(values: list[float], percent: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
