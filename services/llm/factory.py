"""Pick the protocol class the configuration names."""

from __future__ import annotations

import httpx

from config import Settings
from services.llm.base import LLMClient
from services.llm.openai import OpenAIClient
from services.llm.pool import LLMPool
from services.llm.simple import SimpleClient
from services.llm.transport import LLMTransport
from services.memory.counting import TokenCounter


def create_llm_pool(settings: Settings, http: httpx.AsyncClient) -> LLMPool:
    """One client per configured server, all on the app's one httpx client."""
    clients = [create_llm_client(settings, http, url) for url in settings.llm_server_urls]
    return LLMPool.of(clients, settings.llm_cooldown_seconds)


def create_llm_client(settings: Settings, http: httpx.AsyncClient, url: str) -> LLMClient:
    key, timeout = settings.llm_api_key, settings.llm_health_timeout
    if settings.llm_protocol == "simple":
        return SimpleClient(http, url, key, timeout)
    return OpenAIClient(http, url, key, timeout, model=settings.llm_model)


def create_summary_llm(
    settings: Settings, http: httpx.AsyncClient, pool: LLMPool
) -> LLMClient | LLMPool:
    """What summaries are asked of: SUMMARY_LLM_SERVER_URL, else the turns' servers."""
    if settings.summary_llm_server_url:
        return create_llm_client(settings, http, settings.summary_llm_server_url)
    return pool


def create_token_counter(
    settings: Settings, http: httpx.AsyncClient, pool: LLMPool
) -> TokenCounter:
    """TOKEN_COUNTER's counter, asking the first configured server (a pool serves
    one model; its first server is the one normally answering)."""
    first = pool.servers[0].client
    resolve = first.resolve_model if isinstance(first, OpenAIClient) else None
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    return TokenCounter(
        settings.token_counter,
        http,
        settings.llm_server_urls[0],
        resolve,
        headers,
        settings.llm_health_timeout,
        settings.llm_read_timeout,
    )


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    """The app's one pooled HTTP client for talking to the LLM server."""
    timeout = httpx.Timeout(
        connect=settings.llm_connect_timeout,
        read=settings.llm_read_timeout,
        write=settings.llm_connect_timeout,
        pool=settings.llm_read_timeout,
    )
    # A streaming turn holds its connection for the whole reply: the pool must be as
    # large as the number of turns generating at once, or turns wait for a slot.
    connections = settings.llm_max_connections
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=min(connections, 100)
    )
    # aiohttp's pool and parser under the httpx API (services/llm/transport.py)
    return httpx.AsyncClient(timeout=timeout, transport=LLMTransport(limits=limits))
