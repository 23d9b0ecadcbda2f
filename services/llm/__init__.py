"""Clients for the LLM serving process: one interface, one class per protocol."""

from services.llm.base import LLMClient, LLMRequest, StreamChunk, Usage
from services.llm.factory import create_llm_client

__all__ = ["LLMClient", "LLMRequest", "StreamChunk", "Usage", "create_llm_client"]
