"""Prometheus metrics: what an operator graphs and alerts on (GET /metrics).

One Metrics object per app, built in the lifespan with a registry of its own. Under
gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before any worker starts:
prometheus-client then keeps every value in a file per worker, and a scrape, whichever
worker answers it, adds up every worker's (counters, histograms, the replies
generating) through its MultiProcessCollector. The upstream servers' state is read at
scrape time from the answering worker's own pool (each worker keeps its own breaker).

Names and labels are bounded: outcomes and error codes are the service's own; models
are what the LLM servers name (a handful); servers are LLM_SERVER_URL's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models.message import TokenUsage

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
# Each upstream server as the pool sees it: (url, breaker closed, failures in a row).
UpstreamStates = Callable[[], list[tuple[str, bool, int]]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = self._counter(
            "chat_turns", "Turns ended, by outcome (the reply's status)", "outcome"
        )
        self.turn_errors = self._counter(
            "chat_turn_errors", "Turns that failed, by error code", "code"
        )
        self.http_errors = self._counter(
            "chat_http_errors", "Error responses, by status and code", "status", "code"
        )
        self.tokens = self._counter(
            "chat_tokens",
            "Tokens, by model and direction (prompt, completion)",
            "model",
            "direction",
        )
        self.first_token = self._histogram(
            "chat_time_to_first_token_seconds", "From a turn's start to its first text"
        )
        self.turn_seconds = self._histogram(
            "chat_turn_duration_seconds", "From a turn's start to its stored end"
        )
        self.generating = Gauge(
            "chat_replies_generating",
            "Replies being generated now",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.db_writes = self._histogram(
            "chat_db_write_seconds", "Write transactions, from asking to committed", WRITE_BUCKETS
        )
        self.jobs = self._counter(
            "chat_background_jobs", "Summary and title jobs, by kind and outcome", "kind", "outcome"
        )
        self._upstream: UpstreamStates | None = None

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(
        self, name: str, documentation: str, buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> Histogram:
        return Histogram(name, documentation, buckets=buckets, registry=self.registry)

    def watch_upstream(self, states: UpstreamStates) -> None:
        """Report the upstream servers' state at each scrape (this worker's view)."""
        self._upstream = states
        self.registry.register(_UpstreamCollector(states))

    def turn_ended(
        self, outcome: str, error: str | None, usage: TokenUsage | None, model: str | None
    ) -> None:
        self.turns.labels(outcome).inc()
        if error is not None:
            self.turn_errors.labels(error).inc()
        if usage is not None:
            name = model or "unknown"
            self.tokens.labels(name, "prompt").inc(usage.prompt_tokens)
            self.tokens.labels(name, "completion").inc(usage.completion_tokens)

    def job_ended(self, kind: str) -> Callable[[bool], None]:
        """A background runner's report: done (True) or failed (False)."""
        return lambda done: self.jobs.labels(kind, "done" if done else "failed").inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its content type."""
        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self._upstream is not None:
            registry.register(_UpstreamCollector(self._upstream))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _UpstreamCollector(Collector):
    def __init__(self, states: UpstreamStates) -> None:
        self.states = states

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "chat_upstream_up",
            "1 while the LLM server is in use, 0 while its breaker skips it",
            labels=["server"],
        )
        failures = GaugeMetricFamily(
            "chat_upstream_failures", "The LLM server's failures in a row", labels=["server"]
        )
        for url, closed, count in self.states():
            up.add_metric([url], 1.0 if closed else 0.0)
            failures.add_metric([url], float(count))
        yield up
        yield failures
