"""Runtime settings, read once from the environment.

Everything has an embedded default so that one command runs the whole product on a
laptop; production sets DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", PROJECT_ROOT / "var"))


@dataclass(frozen=True)
class Settings:
    database_url: str
    policy_path: Path
    rasa_url: str
    action_port: int
    rasa_port: int


def settings() -> Settings:
    """The settings in force for this process (environment first, then defaults)."""
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    return Settings(
        database_url=os.environ.get("DATABASE_URL")
        or f"sqlite:///{VAR_DIR / 'shop.db'}",
        policy_path=Path(
            os.environ.get("SHOP_POLICY", PROJECT_ROOT / "shop_policy.yml")
        ),
        rasa_url=os.environ.get("RASA_URL", f"http://127.0.0.1:{rasa_port}"),
        action_port=int(os.environ.get("ACTION_PORT", "5055")),
        rasa_port=rasa_port,
    )
