"""Chat profiles: named turn configurations owned like sessions (models/profile.py)."""
