"""The timeout of one request to the LLM server that waits longer than a turn's
default (a health probe, a token count), built from the shared client's own.

Its own module: services/llm and services/memory both use it, and services/llm's
package imports services/memory's counter."""

from __future__ import annotations

import httpx


def answer_within(http: httpx.AsyncClient, seconds: float) -> httpx.Timeout:
    """A request's own timeout: `seconds` for the answer, but connecting no longer
    than the client's connect timeout (LLM_CONNECT_TIMEOUT). A bare number would set
    the connect timeout too: a server that drops connection attempts would then hold
    every probe and count for its whole wait, where a turn gives up at once."""
    connect = http.timeout.connect
    return httpx.Timeout(seconds, connect=seconds if connect is None else min(seconds, connect))
