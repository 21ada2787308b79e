"""Production mode on the real services: two Rasa replicas share one PostgreSQL and one Redis.

A conversation started on one replica continues on the other, which only works if
conversations live in PostgreSQL and the replicas coordinate through Redis locks.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
import requests
from sqlalchemy import create_engine, text

from bot import db
from bot.config import settings
from bot.processes import action_server, rasa_server, service_env, start_all, stop_all
from bot.seed import DEMO_ORDERS
from bot.training import train_if_stale
from tests.conftest import REDIS_URL, fresh_shop
from tests.live import buttons, stack_ports, texts


def redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is required here but unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    return client


@pytest.fixture(scope="module")
def replicas(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    client = redis_or_skip()
    fresh_shop(postgres_database)
    prefix = f"shoptest{uuid.uuid4().hex[:8]}"
    ports = stack_ports(2)  # one port for each replica
    base = {
        "SHOP_MODE": "production",
        "DATABASE_URL": postgres_database,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "SHOP_VAR_DIR": str(tmp_path_factory.mktemp("prod")),
        "ACTION_PORT": str(ports["ACTION_PORT"]),
    }
    env_a = service_env({**base, "RASA_PORT": str(ports["RASA_PORT"])})
    env_b = service_env({**base, "RASA_PORT": str(ports["RASA_PORT"] + 1)})
    model = train_if_stale(env_a)
    processes = [action_server(env_a), rasa_server(model, env_a), rasa_server(model, env_b)]
    try:
        start_all(processes, timeout=240)
        yield {
            "a": settings(env_a).rasa_url,
            "b": settings(env_b).rasa_url,
            "prefix": prefix,
            "redis": client,
            "url": postgres_database,
        }
    finally:
        stop_all(processes)
        db.dispose_all()


def say(url: str, sender: str, message: str) -> list[dict]:
    body = {"sender": sender, "message": message, "metadata": {"buyer_id": "b0001"}}
    return requests.post(f"{url}/webhooks/rest/webhook", json=body, timeout=60).json()


def test_a_conversation_moves_between_replicas(replicas: dict) -> None:
    sender = f"prod-{uuid.uuid4().hex[:8]}"
    seen: list[bytes] = []
    stop = threading.Event()

    def watch_redis() -> None:
        with replicas["redis"].monitor() as monitor:
            for command in monitor.listen():
                if replicas["prefix"] in command["command"]:
                    seen.append(command["command"].encode())
                if stop.is_set():
                    return

    watcher = threading.Thread(target=watch_redis, daemon=True)
    watcher.start()
    asked = say(replicas["a"], sender, "我要退款")
    assert any(DEMO_ORDERS["delivered_recent"] in b["payload"] for b in buttons(asked))
    # The answer goes to the other replica: it must know the form is waiting for an order.
    reply = say(replicas["b"], sender, f'/inform_order_id{{"order_id":"{DEMO_ORDERS["delivered_recent"]}"}}')
    assert "怎么处理" in texts(reply)
    stop.set()
    replicas["redis"].ping()  # wakes the monitor so the thread can end
    watcher.join(timeout=5)
    assert seen, "the replicas took their conversation locks in Redis"

    engine = create_engine(replicas["url"], future=True)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}).scalar()
    engine.dispose()
    assert count and count > 4, "conversation events are stored in PostgreSQL"


def test_activating_a_model_switches_every_replica(replicas: dict) -> None:
    from bot.trainer.registry import hot_swap

    model = train_if_stale(service_env())
    hot_swap([replicas["a"], replicas["b"]], model)
    for url in (replicas["a"], replicas["b"]):
        status = requests.get(f"{url}/status", timeout=10).json()
        assert status["model_file"] == model.name, status
    with pytest.raises(RuntimeError, match="127.0.0.1:9 unreachable"):
        hot_swap([replicas["a"], "http://127.0.0.1:9"], model)  # the others still switch; the failure is named
    asked = say(replicas["b"], f"prod-{uuid.uuid4().hex[:8]}", "我要退款")
    assert any(DEMO_ORDERS["delivered_recent"] in b["payload"] for b in buttons(asked)), "the swapped replica serves"
