"""Fixtures: a real, freshly seeded shop database (SQLite, and the local PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot import db
from bot.config import PROJECT_ROOT
from bot.models import Base
from bot.policy import policy
from bot.seed import seed_shop

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def postgres_or_skip() -> None:
    """Skip when PostgreSQL is down, unless CI demands it (SHOP_REQUIRE_SERVICES=1)."""
    try:
        with create_engine(POSTGRES_ADMIN_URL, future=True).connect():
            return
    except OperationalError as exc:
        if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session."""
    postgres_or_skip()
    name = f"shop_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    db.dispose_all()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_shop(url: str, now: datetime | None = None) -> dict[str, int]:
    engine = db.engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with db.session_scope(url) as session:
        return seed_shop(session, policy(), now=now)


def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """For a fixture parametrised with "sqlite" / "postgresql": a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture(params=["sqlite", "postgresql"])
def shop_url(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL of a freshly seeded demo shop, once on SQLite and once on PostgreSQL."""
    url = database_url(request, tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    fresh_shop(url)
    yield url
    db.dispose_all()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for one module of browser tests (tests/browser.py says how)."""
    from tests.browser import chromium  # imported here: only the browser tests need Playwright

    with chromium() as browser:
        yield browser
