"""What the model sees of a session: the context window (window.py)."""
