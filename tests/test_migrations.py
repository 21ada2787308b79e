"""Schema migrations: they build exactly the models' schema, upgrade in place, and adopt or refuse older databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

from bot import db, migrations
from bot.cli import main
from bot.models import Base, Product
from tests.conftest import database_url, fresh_shop


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL of an empty database, once on SQLite and once on PostgreSQL."""
    url = database_url(request, tmp_path)
    empty(url)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    empty(url)  # the PostgreSQL database is shared by the session's tests (production mode puts Rasa's events there)
    db.dispose_all()


def empty(url: str) -> None:
    with db.engine(url).begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        connection.execute(text("DROP TABLE IF EXISTS events"))


def state(url: str) -> tuple[str | None, list[Any]]:
    with db.engine(url).connect() as connection:
        return migrations.current_revision(connection), migrations.differences(connection)


def test_the_migrations_build_exactly_the_schema_the_models_describe(empty_url: str) -> None:
    # Fails when bot/models.py changed without a migration: run ./shop db-revision "what changed".
    migrations.upgrade(empty_url)
    revision, differences = state(empty_url)
    assert revision is not None and differences == []
    migrations.upgrade(empty_url)  # a second start changes nothing
    assert state(empty_url) == (revision, [])


def test_init_db_migrates_and_seeds_an_empty_database(empty_url: str) -> None:
    assert main(["init-db"]) == 0
    assert state(empty_url)[1] == []
    with db.session_scope(empty_url) as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 20


def test_a_shop_created_before_migrations_is_adopted_with_its_data(empty_url: str) -> None:
    fresh_shop(empty_url)  # create_all + seed, as earlier versions made every shop
    with db.engine(empty_url).begin() as connection:
        connection.execute(text("DROP TABLE inbox_decision"))  # a table added in a later version
    migrations.upgrade(empty_url)
    revision, differences = state(empty_url)
    assert revision is not None and differences == []
    assert "inbox_decision" in inspect(db.engine(empty_url)).get_table_names()
    with db.session_scope(empty_url) as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 20


def test_an_older_shop_that_differs_from_the_models_is_refused_and_left_untouched(
    empty_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_shop(empty_url)
    with db.engine(empty_url).begin() as connection:
        connection.execute(text("ALTER TABLE conversation_message DROP COLUMN confidence"))
        connection.execute(text("DROP TABLE inbox_decision"))
    with pytest.raises(migrations.SchemaMismatch, match="conversation_message"):
        migrations.upgrade(empty_url)
    revision, differences = state(empty_url)
    assert revision is None and differences  # not stamped: the next start refuses again
    assert "inbox_decision" not in inspect(db.engine(empty_url)).get_table_names()  # nothing created either
    assert main(["init-db"]) == 2  # the operator gets the reason, not a traceback
    assert "created before schema migrations" in capsys.readouterr().err


def test_rasa_tables_in_the_same_database_are_neither_compared_nor_touched(empty_url: str) -> None:
    with db.engine(empty_url).begin() as connection:
        connection.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255))"))
    migrations.upgrade(empty_url)
    assert state(empty_url)[1] == []
    assert "events" in inspect(db.engine(empty_url)).get_table_names()
