"""Every text of summary memory, in one place: what the LLM is asked, and how a
summary rides in a turn's prompt.

Asking: a system message with SUMMARY_INSTRUCTION, then one user message holding
the previous summary (if any) and the newly left-out messages as "role: text"
lines. The instruction asks for facts, not style, so the summary keeps what later
turns need (names, numbers, decisions, open questions) and stays short.

Sending: the summary joins the system message, after the system prompt and a blank
line, introduced by SUMMARY_HEADING; with no system prompt it is the system message
alone. One system message, first, is the only shape every chat template accepts
(several reject a second system message or one after the first).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.memory.window import ChatMessage

SUMMARY_INSTRUCTION = (
    "You keep the memory of a long conversation between a user and an assistant. "
    "Write a running summary of it: start from the previous summary, if there is one, "
    "and add what the new messages say. Keep the facts later replies need: names, "
    "numbers, dates, code identifiers, decisions, the user's preferences and open "
    "questions. Drop greetings and repetition. Write plain prose in the conversation's "
    "language, at most a few short paragraphs, and nothing but the summary."
)
SUMMARY_HEADING = "Summary of the earlier conversation:"
SEPARATOR = "\n\n"


def summary_request_text(previous: str | None, messages: Sequence[ChatMessage]) -> str:
    """The user message of a summary request."""
    lines = "\n".join(transcript_line(message) for message in messages)
    if previous:
        return f"Previous summary:\n{previous}\n\nNew messages:\n{lines}"
    return f"Messages:\n{lines}"


def transcript_line(message: ChatMessage) -> str:
    """A message as the summarizer reads it: its text, and the tools it called or the
    results it holds, so that facts a tool brought in are kept too."""
    if message.tool_results:
        results = "; ".join(result["content"] for result in message.tool_results)
        return f"tool results: {results}"
    calls = ", ".join(
        f"{call['function']['name']}({call['function']['arguments']})"
        for call in message.tool_calls or ()
    )
    text = " ".join(part for part in (message.content, calls and f"[called {calls}]") if part)
    return f"{message.role}: {text}"


def summary_part(text: str) -> str:
    """The summary as it is appended to the system message (and counted, once, when
    stored): the separator, the heading, the text."""
    return f"{SEPARATOR}{SUMMARY_HEADING}\n{text}"


def with_summary(system: ChatMessage | None, summary: ChatMessage) -> ChatMessage:
    """The one system message carrying the system prompt (if any) and the summary;
    `summary.content` is summary_part()'s text."""
    if system is None:
        return ChatMessage("system", summary.content.removeprefix(SEPARATOR))
    return ChatMessage("system", system.content + summary.content)
