"""Settings from the environment (``ARENA_*``), via pydantic-settings."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="ignore")

    redis_url: str | None = None  # unset: `arena demo` starts a private redis-server
    bot_slots: int = 8  # sandboxed bots one worker host runs at once


def settings() -> Settings:
    return Settings()
