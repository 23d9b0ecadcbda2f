"""Concurrent clients for the concurrency proofs (tests/test_concurrency.py and
bench/concurrency.py): real HTTP, one asyncio task per client.

`many_sessions`: N clients share M sessions; each creates its sessions and drives
them turn by turn (one turn at a time per session, as a well-behaved client does).
`one_session_rounds`: many clients fire a turn at one session at the same instant,
round after round: the 409 rule must let exactly one through each time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class LoadReport:
    clients: int
    sessions: int
    turns: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    session_ids: list[str] = field(default_factory=list)
    bad_histories: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "sessions": self.sessions,
            "turns": self.turns,
            "seconds": round(self.seconds, 2),
            "turns_per_second": round(self.turns / self.seconds, 1) if self.seconds else 0,
            "statuses": dict(sorted(self.statuses.items())),
            "5xx": self.server_errors,
            "incomplete_or_disordered_histories": len(self.bad_histories),
        }


def _client(url: str | None, clients: int) -> httpx.AsyncClient:
    """No keep-alive: every request is a new connection, which the kernel hands to any
    worker, so the clients' requests spread over the workers and race across them."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=url or "", timeout=120, limits=limits)


async def many_sessions(
    url: str | list[str], clients: int, sessions: int, turns: int
) -> LoadReport:
    """`clients` tasks drive `sessions` sessions of `turns` turns each; then every
    history is read back and checked (see check_history). Several URLs (instances
    behind a load balancer): each request goes to the next one, so the turns of one
    session reach every instance."""
    report = LoadReport(clients, sessions)
    bases = [url] if isinstance(url, str) else url
    turn_of_the_balancer = itertools.count()

    def at(path: str) -> str:
        return bases[next(turn_of_the_balancer) % len(bases)] + path

    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(sessions):
        queue.put_nowait(number)
    started = time.perf_counter()
    async with _client(None, clients) as http:

        async def drive() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                created = await http.post(at("/api/sessions"), json={"metadata": {"n": number}})
                report.statuses[created.status_code] += 1
                if created.status_code != 201:
                    continue
                session_id = created.json()["session_id"]
                report.session_ids.append(session_id)
                for turn in range(turns):
                    body = {"session_id": session_id, "message": f"s{number} t{turn}"}
                    reply = await http.post(at("/api/chat"), json=body)
                    report.statuses[reply.status_code] += 1
                    report.turns += reply.status_code == 200

        await asyncio.gather(*(drive() for _ in range(clients)))
        report.seconds = time.perf_counter() - started
        for session_id in report.session_ids:
            problem = check_history(await _history(http, at(""), session_id), turns)
            if problem:
                report.bad_histories.append(f"{session_id}: {problem}")
    return report


async def _history(http: httpx.AsyncClient, base: str, session_id: str) -> list[dict[str, Any]]:
    response = await http.get(f"{base}/api/sessions/{session_id}/messages", params={"limit": 500})
    response.raise_for_status()
    return list(response.json()["items"])


def check_history(messages: list[dict[str, Any]], turns: int) -> str | None:
    """None when the history is `turns` whole turns in order: user, its echo, user...
    Otherwise what is wrong."""
    if len(messages) != 2 * turns:
        return f"{len(messages)} messages, expected {2 * turns}"
    for index in range(0, len(messages), 2):
        user, reply = messages[index], messages[index + 1]
        if (user["role"], reply["role"]) != ("user", "assistant"):
            return f"roles out of order at {index}"
        if reply["status"] != "complete" or reply["content"] != f"Echo: {user['content']}":
            return f"reply {index + 1} is {reply['status']} {reply['content']!r}"
        if index and not user["content"].endswith(f"t{index // 2}"):
            return f"turn {index // 2} out of order: {user['content']!r}"
    return None


async def one_session_rounds(url: str, clients: int, rounds: int) -> tuple[str, list[Counter[int]]]:
    """Each round, `clients` turns on one new session at once: the session, and the
    statuses of each round."""
    results: list[Counter[int]] = []
    async with _client(url, clients) as http:
        created = await http.post("/api/sessions", json={})
        session_id = created.json()["session_id"]
        for round_number in range(rounds):
            gate = asyncio.Event()
            messages = [f"r{round_number} c{client}" for client in range(clients)]
            tasks = [
                asyncio.create_task(_turn_at(gate, http, session_id, message))
                for message in messages
            ]
            await asyncio.sleep(0.05)  # every task waits at the gate
            gate.set()
            results.append(Counter(await asyncio.gather(*tasks)))
    return session_id, results


async def _turn_at(
    gate: asyncio.Event, http: httpx.AsyncClient, session_id: str, message: str
) -> int:
    await gate.wait()
    body = {"session_id": session_id, "message": message}
    return (await http.post("/api/chat", json=body)).status_code
