"""Runtime settings, read once from the environment.

Everything has an embedded default so that one command runs the whole product on a
laptop; production sets DATABASE_URL (PostgreSQL) and REDIS_URL.
"""

from __future__ import annotations

import os
import zlib
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
    rasa_url: str  # the first (or only) Rasa server; a conversation's server is `rasa_for(conversation_id)`
    rasa_shards: tuple[str, ...]  # the Rasa servers conversations are spread over (see `rasa_for`)
    rasa_replicas: tuple[str, ...]  # every Rasa server a new model must reach (every shard; production: several)
    action_port: int
    rasa_port: int
    gateway_port: int

    def rasa_for(self, conversation_id: str) -> str:
        """The Rasa server that serves this conversation: always the same one for the same id.

        Embedded mode runs RASA_PROCESSES Rasa servers (one cannot keep up with a busy
        shop on its own); each keeps the locks and recent sessions of its conversations
        in memory, so every turn of a conversation must reach the same one. CRC-32 of the
        id, not Python's `hash`, which differs between processes.
        """
        if len(self.rasa_shards) == 1:
            return self.rasa_shards[0]
        return self.rasa_shards[zlib.crc32(conversation_id.encode("utf-8")) % len(self.rasa_shards)]


def settings(env: Mapping[str, str] = os.environ) -> Settings:
    """The settings in force for `env` (default: this process's environment)."""
    var_dir = Path(env.get("SHOP_VAR_DIR", VAR_DIR))
    rasa_port = int(env.get("RASA_PORT", "5005"))
    if env.get("RASA_URL"):
        shards: tuple[str, ...] = (env["RASA_URL"],)  # one server (or a balancer) at that address
    else:
        # Embedded mode: RASA_PROCESSES servers on consecutive ports (production: one per replica).
        default_processes = "1" if env.get("SHOP_MODE", "embedded") == "production" else "2"
        processes = max(1, int(env.get("RASA_PROCESSES") or default_processes))
        shards = tuple(f"http://127.0.0.1:{rasa_port + i}" for i in range(processes))
    rasa_url = shards[0]
    return Settings(
        var_dir=var_dir,
        database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'shop.db'}",
        policy_path=Path(env.get("SHOP_POLICY", PROJECT_ROOT / "shop_policy.yml")),
        rasa_url=rasa_url,
        rasa_shards=shards,
        rasa_replicas=tuple(u.strip() for u in env.get("RASA_REPLICAS", "").split(",") if u.strip()) or shards,
        action_port=int(env.get("ACTION_PORT", "5055")),
        rasa_port=rasa_port,
        gateway_port=int(env.get("GATEWAY_PORT", "8080")),
    )
