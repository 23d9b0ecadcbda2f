"""Titles the LLM writes: after a turn of a session that has none, in the background.

The request is the turn's user message and reply, cut short, under an instruction
that asks for a few words and nothing else; what comes back is cleaned (quotes,
"Title:", trailing punctuation) and stored only while the session still has no
title, so one set by PATCH in the meantime is never overwritten. A title that fails
(the LLM down, an empty answer) is logged; the session's next turn asks again.
AUTO_TITLE=false turns it off. Asked of SUMMARY_LLM_SERVER_URL when set (a cheaper
model), else of the turns' servers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from models.session import MAX_TITLE_CHARS, sessions_table
from services.background import LatestPerSession
from services.llm import LLMRequest
from services.llm.base import Streams
from services.storage import Database

log = logging.getLogger(__name__)
S = sessions_table.c
TITLE_INSTRUCTION = (
    "Write a title for the conversation below: at most six words, in the language of"
    " the conversation. Answer with the title alone, without quotes."
)
TITLE_MAX_TOKENS = 24
TITLE_TEMPERATURE = 0.2
EXCERPT_CHARS = 1000  # of the user message and of the reply, each
WRAPPERS = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb*#_ "  # quotes of several kinds
LABEL = re.compile(r"^\s*title\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TitleJob:
    """A turn of an untitled session that ended with a reply."""

    session_id: str
    user_text: str
    reply_text: str


class Titler:
    def __init__(self, database: Database, llm: Streams, model: str | None) -> None:
        self.database, self.llm, self.model = database, llm, model
        self.jobs: LatestPerSession[TitleJob] = LatestPerSession(self._title, "title")

    def after_turn(self, job: TitleJob) -> None:
        """Title the session soon, in the background."""
        self.jobs.submit(job.session_id, job)

    async def _title(self, job: TitleJob) -> None:
        if await self._titled(job.session_id):
            return  # a job queued behind the one that wrote it, or a title set by PATCH
        request = LLMRequest(
            messages=[
                {"role": "system", "content": TITLE_INSTRUCTION},
                {"role": "user", "content": _conversation(job)},
            ],
            max_tokens=TITLE_MAX_TOKENS,
            temperature=TITLE_TEMPERATURE,
            model=self.model,
        )
        parts = [piece.text async for piece in self.llm.stream(request)]
        title = clean_title("".join(parts))
        if not title:
            raise ValueError("the LLM wrote an empty title")
        if await self.database.write(store_title, job.session_id, title):
            log.info("session %s titled", job.session_id)

    async def _titled(self, session_id: str) -> bool:
        async with self.database.read() as db:
            title = await db.scalar(select(S.title).where(S.session_id == session_id))
        return title is not None


def _conversation(job: TitleJob) -> str:
    return f"User: {job.user_text[:EXCERPT_CHARS]}\n\nAssistant: {job.reply_text[:EXCERPT_CHARS]}"


def clean_title(text: str) -> str:
    """The title in an LLM's answer: its first line without a "Title:" label, quotes,
    markdown marks or a closing full stop, spaces collapsed, at most MAX_TITLE_CHARS
    (cut at a word)."""
    lines = [line for line in text.splitlines() if line.strip(WRAPPERS)]
    if not lines:
        return ""
    title = " ".join(LABEL.sub("", lines[0]).split()).strip(WRAPPERS).rstrip(".。")
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0]
    return title.strip(WRAPPERS)


def store_title(db: Connection, session_id: str, title: str) -> bool:
    """Set the title unless the session has one (or is gone); whether it was set."""
    statement = (
        update(sessions_table)
        .where(S.session_id == session_id, S.title.is_(None))
        .values(title=title)
    )
    return db.execute(statement).rowcount > 0
