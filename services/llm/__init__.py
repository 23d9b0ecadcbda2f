"""Clients for the LLM serving process: one interface, one class per protocol."""

from services.llm.base import LLMClient, LLMRequest, StreamChunk, Usage
from services.llm.factory import create_llm_pool
from services.llm.pool import LLMPool

__all__ = ["LLMClient", "LLMPool", "LLMRequest", "StreamChunk", "Usage", "create_llm_pool"]
