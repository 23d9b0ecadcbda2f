"""The services one app instance uses, built once in the lifespan from its resources."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from config import Settings
from services.audit import AuditLog
from services.branches import BranchService
from services.bus import NoBus, create_bus
from services.chat import ChatService
from services.drain import Drain
from services.fork import ForkService
from services.health import HealthService
from services.history import HistoryService
from services.imports.service import ImportService
from services.keys import KeyService
from services.llm import LLMPool, create_llm_pool
from services.llm.factory import create_summary_llm, create_token_counter
from services.memory.summaries import SummaryService
from services.memory.summarizer import Summarizer
from services.metrics import Metrics
from services.openai.completions import OpenAIChat
from services.openai.conversations import OpenAIConversations
from services.openai.profile_models import ProfileModels
from services.openai.response_sessions import ResponseSessions
from services.openai.responses import OpenAIResponses
from services.openai.unstored import Unstored
from services.profiles.service import ProfileService
from services.rate_limits import RequestRate, storage_for
from services.search.indexer import SearchIndexer
from services.search.messages import MessageSearch
from services.search.titles import Titler
from services.sessions import SessionService
from services.storage import Database
from services.turns.admission import TurnAdmission
from services.turns.remote import RemoteTurns
from services.turns.replay import TurnReplay
from services.turns.runner import TurnRunner
from services.turns.status import TurnStatusReader
from services.turns.stops import TurnStops
from services.turns.store import TurnStore
from services.turns.turn import TurnService


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    llm: LLMPool
    sessions: SessionService
    history: HistoryService
    turns: TurnService
    runner: TurnRunner
    admission: TurnAdmission
    replay: TurnReplay
    chat: ChatService
    turn_status: TurnStatusReader
    health: HealthService
    drain: Drain
    keys: KeyService
    audit: AuditLog
    branches: BranchService
    forks: ForkService
    request_rate: RequestRate
    summaries: SummaryService
    search: MessageSearch
    indexer: SearchIndexer
    imports: ImportService
    summarizer: Summarizer
    titler: Titler
    metrics: Metrics
    profiles: ProfileService
    openai: OpenAIChat
    responses: OpenAIResponses
    conversations: OpenAIConversations
    bus: NoBus


def _metrics(database: Database, llm: LLMPool) -> Metrics:
    """The app's metrics, told of every database write and reading the pool's state."""
    metrics = Metrics()
    database.observe_write = metrics.db_writes.observe
    metrics.watch_upstream(llm.breaker_states)
    return metrics


def build_services(settings: Settings, database: Database, http: httpx.AsyncClient) -> Services:
    llm = create_llm_pool(settings, http)
    counter = create_token_counter(settings, http, llm)
    sessions = SessionService(
        database, settings.session_timeout_hours, settings.idempotency_ttl_hours, counter
    )
    drain = Drain(settings.shutdown_grace_seconds)
    store = TurnStore(database, sessions, settings.rate_limit_concurrent_streams)
    metrics = _metrics(database, llm)
    indexer = SearchIndexer(database)
    sessions.indexer = indexer
    background_llm = create_summary_llm(settings, http, llm)
    summarizer = Summarizer(database, background_llm, counter, settings)
    summarizer.jobs.report = metrics.job_ended("summary")
    titler = Titler(database, background_llm, settings.summary_model or None)
    titler.jobs.report = metrics.job_ended("title")
    turns = TurnService(
        store,
        llm,
        settings,
        drain,
        counter,
        summarizer,
        titler if settings.auto_title else None,
        metrics,
    )
    bus = create_bus(database.url, database.engine.dialect.name)
    runner = TurnRunner(turns, TurnStops(database, sessions), RemoteTurns(bus))
    replay = TurnReplay(database, sessions, runner, drain)
    chat = ChatService(turns, runner, replay)
    profiles = ProfileService(database, counter)
    profile_models = ProfileModels(profiles)
    branches = BranchService(database, sessions)
    history = HistoryService(database, sessions)
    return Services(
        settings=settings,
        llm=llm,
        sessions=sessions,
        history=history,
        turns=turns,
        runner=runner,
        admission=TurnAdmission(settings.turn_start_slots),
        replay=replay,
        chat=chat,
        turn_status=TurnStatusReader(database, sessions),
        health=HealthService(database, llm, drain, counter),
        drain=drain,
        keys=KeyService(database, settings.api_key_cache_seconds),
        audit=AuditLog(database),
        branches=branches,
        forks=ForkService(database, sessions),
        request_rate=RequestRate(
            settings.rate_limit,
            storage_for(settings.rate_limit_storage_url, database.engine.dialect.name),
            database,
        ),
        summaries=SummaryService(database, sessions),
        search=MessageSearch(database, sessions, indexer),
        indexer=indexer,
        imports=ImportService(
            database, sessions, settings.max_import_messages, settings.max_reply_chars
        ),
        summarizer=summarizer,
        titler=titler,
        metrics=metrics,
        profiles=profiles,
        openai=OpenAIChat(chat, sessions, profile_models, llm),
        conversations=OpenAIConversations(sessions, history, branches, database),
        responses=OpenAIResponses(
            chat,
            sessions,
            replay,
            runner,
            branches,
            profile_models,
            database,
            Unstored(sessions, branches, runner),
            ResponseSessions(sessions, branches),
        ),
        bus=bus,
    )
