"""Runtime settings, read once from the environment.

Everything has an embedded default so that one command runs the whole product on a
laptop; production sets DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", PROJECT_ROOT / "var"))


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    policy_path: Path
    rasa_url: str
    rasa_replicas: tuple[str, ...]  # every Rasa server a new model must reach (production: several)
    action_port: int
    rasa_port: int
    gateway_port: int


def settings(env: Mapping[str, str] = os.environ) -> Settings:
    """The settings in force for `env` (default: this process's environment)."""
    var_dir = Path(env.get("SHOP_VAR_DIR", VAR_DIR))
    rasa_port = int(env.get("RASA_PORT", "5005"))
    rasa_url = env.get("RASA_URL", f"http://127.0.0.1:{rasa_port}")
    return Settings(
        var_dir=var_dir,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'shop.db'}",
        policy_path=Path(env.get("SHOP_POLICY", PROJECT_ROOT / "shop_policy.yml")),
        rasa_url=rasa_url,
        rasa_replicas=tuple(u.strip() for u in env.get("RASA_REPLICAS", rasa_url).split(",") if u.strip()),
        action_port=int(env.get("ACTION_PORT", "5055")),
        rasa_port=rasa_port,
        gateway_port=int(env.get("GATEWAY_PORT", "8080")),
    )
