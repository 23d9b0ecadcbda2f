"""Profiles' errors, as the client sees them (services/errors.py has the tree)."""

from __future__ import annotations

from services.errors import ServiceError


class ProfileNotFound(ServiceError):
    """Unknown, deleted, or another key's profile (exactly as absent)."""

    status_code = 404
    code = "profile_not_found"

    def __init__(self, profile_id: str) -> None:
        super().__init__(f"Profile {profile_id} not found")


class ProfileNameTaken(ServiceError):
    status_code = 409
    code = "profile_name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"You already have a profile named {name!r}: names are unique per key")


class InvalidProfile(ServiceError):
    """A session names a profile the caller does not have."""

    status_code = 422
    code = "invalid_profile"

    def __init__(self, profile_id: str) -> None:
        super().__init__(f"profile_id: no profile {profile_id} of yours")
