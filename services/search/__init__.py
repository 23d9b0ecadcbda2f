"""Finding a conversation: full-text matches over titles and message text (query),
the snippet shown for a match (snippets), and GET /api/search (messages)."""
