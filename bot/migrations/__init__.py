"""The shop database's schema, kept current by the Alembic migrations in bot/migrations/versions.

`upgrade()` runs whenever the product opens its database (`./shop run`, `./shop init-db` and
the CLI commands that write): a new database gets every migration, an existing one the ones it
lacks, so upgrading the code never needs a hand-made `ALTER TABLE`. A database created before
migrations existed (earlier versions used `create_all`) is adopted when it matches the models.

A change to bot/models.py needs a migration; `./shop db-revision "what changed"` writes one from
the difference, and tests/test_migrations.py fails while the two disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot import db
from bot.models import Base, Money

HERE = Path(__file__).parent


class SchemaMismatch(RuntimeError):
    """The database holds the shop's tables, but not as the models describe them, and no migration says how."""


def _ours(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Only the shop's own tables: in production Rasa keeps its tracker store in the same PostgreSQL database."""
    return type_ != "table" or name in Base.metadata.tables


def configure_context(context: Any, connection: Connection) -> None:
    """How every migration run compares and renders (used by env.py)."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=_ours,
        compare_type=True,
        render_as_batch=True,  # SQLite can only change a column by copying its table; batch mode does that
        render_item=_render_item,
    )


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Money is whole fen in a BIGINT: migrations say so rather than import the models, which change later."""
    if type_ == "type" and isinstance(obj, Money):
        return "sa.BigInteger()"
    return False


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def differences(connection: Connection) -> list[Any]:
    """How the database differs from the models (Alembic's autogenerate diff); empty when they agree."""
    context = MigrationContext.configure(connection, opts={"include_name": _ours, "compare_type": True})
    return compare_metadata(context, Base.metadata)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str | None = None) -> None:
    """Bring the database at `url` (default DATABASE_URL) to the newest schema."""
    with db.engine(url).begin() as connection:
        existing = set(inspect(connection).get_table_names()) & set(Base.metadata.tables)
        if existing and current_revision(connection) is None:
            _adopt(connection)
        else:
            command.upgrade(_config(connection), "head")


def _adopt(connection: Connection) -> None:
    """Take over a database made by `create_all`: only tables added since may be missing; create them and stamp."""
    found = differences(connection)
    new_tables = {d[1].name for d in found if isinstance(d, tuple) and d[0] == "add_table"}
    other = [
        d
        for d in found
        if not (
            isinstance(d, tuple) and (d[0] == "add_table" or (d[0] == "add_index" and d[1].table.name in new_tables))
        )
    ]
    if other:  # refuse before changing anything (SQLite would not roll a CREATE TABLE back)
        listed = "; ".join(str(d) for d in other[:5])
        raise SchemaMismatch(
            f"The shop database was created before schema migrations and differs from the current models ({listed}). "
            "Back it up, then bring it to the current schema by hand, or recreate it "
            "(demo shop: delete var/shop.db and run ./shop run)."
        )
    Base.metadata.create_all(connection, tables=[Base.metadata.tables[name] for name in new_tables])
    command.stamp(_config(connection), "head")


def new_revision(message: str, url: str) -> Path | None:
    """Write the migration that takes a database at `url`, brought to head, to the models; None if nothing differs."""
    with db.engine(url).begin() as connection:
        command.upgrade(_config(connection), "head")
        if not differences(connection):
            return None
        number = len(list((HERE / "versions").glob("[0-9]*.py"))) + 1
        script = command.revision(_config(connection), message=message, autogenerate=True, rev_id=f"{number:04d}")
    return Path(script.path)  # type: ignore[union-attr]
