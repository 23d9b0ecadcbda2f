"""The domain: sessions, history, the context window, the turn and the LLM client."""
