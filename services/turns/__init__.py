"""The turn's life: prepare it (turn.py), store it (store.py), run it server-side
(runner.py, live.py), checkpoint it (checkpoint.py), stop it (stops.py), end it
(ends.py), replay and follow it (replay.py), and read its status (status.py)."""
