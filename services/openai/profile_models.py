"""`model` on the door: an upstream model, or `profile:<name>` for a chat profile."""

from __future__ import annotations

from models.auth import Caller
from models.openai import PROFILE_MODEL_PREFIX
from services.openai.errors import UnknownProfileModel
from services.profiles.service import ProfileService


def profile_name(model: str | None) -> str | None:
    if model is not None and model.startswith(PROFILE_MODEL_PREFIX):
        return model.removeprefix(PROFILE_MODEL_PREFIX)
    return None


class ProfileModels:
    def __init__(self, profiles: ProfileService) -> None:
        self.profiles = profiles

    async def profile_id(self, model: str | None, caller: Caller) -> str | None:
        """The profile `model` names (None for an upstream model); UnknownProfileModel
        when no profile of the caller has that name."""
        name = profile_name(model)
        if name is None:
            return None
        profile = await self.profiles.named(name, caller)
        if profile is None:
            raise UnknownProfileModel(str(model))
        return profile.profile_id

    @staticmethod
    def upstream_model(model: str | None) -> str | None:
        """The model to ask the LLM server for: None (the profile's or the default)
        for a profile."""
        return None if profile_name(model) is not None else model

    async def names(self, caller: Caller) -> list[str]:
        return [PROFILE_MODEL_PREFIX + name for name in await self.profiles.names(caller)]
