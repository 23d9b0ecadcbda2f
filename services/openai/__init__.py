"""The OpenAI-compatible door (/v1): OpenAI's wire format over our sessions.

A request in OpenAI's shape becomes one of our turns (the same ChatService the /api
routes use: same storage, owners, memory, stop and resume), and the turn's reply or
events go back in OpenAI's shape. Nothing here talks HTTP or SQL.
"""
