"""Finding a conversation: a session's `title`, `pinned` and `archived`, and full-text
indexes over titles and message text (models/search.py names them). Bringing history
in: `import_key`, what an imported session was imported from (a re-import of the same
conversation finds it instead of making another).

SQLite: two FTS5 tables with external content (the text stays in `messages` and
`sessions`; the index holds only the words), kept by triggers, so that every write
path (turns, edits, deletes, imports, copies) keeps them without knowing of them. A
reply being generated is not indexed until it ends: its checkpoints rewrite its text
many times a second. New messages wait in `search_backlog` and are indexed in
batches, off the turn's path; a delete takes the words out at once. The indexes are
keyed by rowid; the service never VACUUMs and its backups copy pages, so rowids hold.
A later migration that copies `messages` or `sessions` (alembic's batch mode) drops
these triggers and must rebuild both.

PostgreSQL: GIN indexes over `to_tsvector('simple', ...)`, partial like SQLite's
(no reply being generated, no session without a title). `simple` does no stemming
and knows no stop words: it matches the words as written, in every language, as the
SQLite tokenizer (unicode61, diacritics kept) does.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXED = "status <> 'streaming'"
SQLITE_UP = [
    "CREATE VIRTUAL TABLE message_fts USING fts5(content, content='messages',"
    " content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')",
    # Messages to index: filled by the triggers, emptied in batches by the indexer
    # (services/search/indexer.py), so a turn's transactions pay a row here, not FTS5's
    # segment flush (75 us a turn, measured).
    "CREATE TABLE search_backlog (message_rowid INTEGER PRIMARY KEY)",
    f"""CREATE TRIGGER message_fts_insert AFTER INSERT ON messages
        WHEN new.{INDEXED} BEGIN
        INSERT OR IGNORE INTO search_backlog VALUES (new.rowid); END""",
    # One trigger, its statements in order: the old words go (if they were indexed:
    # not still waiting in the backlog) before the message waits to be indexed anew.
    f"""CREATE TRIGGER message_fts_update AFTER UPDATE OF content, status ON messages
        WHEN old.{INDEXED} OR new.{INDEXED} BEGIN
        INSERT INTO message_fts(message_fts, rowid, content)
        SELECT 'delete', old.rowid, old.content WHERE old.{INDEXED}
        AND NOT EXISTS (SELECT 1 FROM search_backlog WHERE message_rowid = old.rowid);
        DELETE FROM search_backlog WHERE message_rowid = old.rowid;
        INSERT INTO search_backlog SELECT new.rowid WHERE new.{INDEXED}; END""",
    f"""CREATE TRIGGER message_fts_delete AFTER DELETE ON messages
        WHEN old.{INDEXED} BEGIN
        INSERT INTO message_fts(message_fts, rowid, content)
        SELECT 'delete', old.rowid, old.content
        WHERE NOT EXISTS (SELECT 1 FROM search_backlog WHERE message_rowid = old.rowid);
        DELETE FROM search_backlog WHERE message_rowid = old.rowid; END""",
    "CREATE VIRTUAL TABLE session_fts USING fts5(title, content='sessions',"
    " content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')",
    """CREATE TRIGGER session_fts_insert AFTER INSERT ON sessions
        WHEN new.title IS NOT NULL BEGIN
        INSERT INTO session_fts(rowid, title) VALUES (new.rowid, new.title); END""",
    """CREATE TRIGGER session_fts_update AFTER UPDATE OF title ON sessions
        WHEN old.title IS NOT NULL OR new.title IS NOT NULL BEGIN
        INSERT INTO session_fts(session_fts, rowid, title)
        SELECT 'delete', old.rowid, old.title WHERE old.title IS NOT NULL;
        INSERT INTO session_fts(rowid, title)
        SELECT new.rowid, new.title WHERE new.title IS NOT NULL; END""",
    """CREATE TRIGGER session_fts_delete AFTER DELETE ON sessions
        WHEN old.title IS NOT NULL BEGIN
        INSERT INTO session_fts(session_fts, rowid, title)
        VALUES ('delete', old.rowid, old.title); END""",
    # The messages already stored (no title exists yet).
    f"INSERT INTO message_fts(rowid, content) SELECT rowid, content FROM messages WHERE {INDEXED}",
]
SQLITE_DOWN = [
    *(
        f"DROP TRIGGER IF EXISTS {table}_fts_{event}"
        for table in ("message", "session")
        for event in ("insert", "update", "delete")
    ),
    "DROP TABLE IF EXISTS message_fts",
    "DROP TABLE IF EXISTS session_fts",
    "DROP TABLE IF EXISTS search_backlog",
]
POSTGRES_UP = [
    "CREATE INDEX ix_messages_fts ON messages USING gin (to_tsvector('simple', content))"
    f" WHERE {INDEXED}",
    "CREATE INDEX ix_sessions_fts ON sessions USING gin (to_tsvector('simple', title))"
    " WHERE title IS NOT NULL",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_messages_fts", "DROP INDEX IF EXISTS ix_sessions_fts"]


def upgrade() -> None:
    op.add_column("sessions", sa.Column("title", sa.String(length=200), nullable=True))
    op.add_column(
        "sessions", sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "sessions", sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("sessions", sa.Column("import_key", sa.String(length=64), nullable=True))
    op.create_index("ix_sessions_owner_created", "sessions", ["owner", "created_at", "session_id"])
    op.create_index("ix_sessions_import", "sessions", ["owner", "import_key"], unique=True)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
    op.drop_index("ix_sessions_import", table_name="sessions")
    op.drop_index("ix_sessions_owner_created", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("import_key")
        batch.drop_column("archived")
        batch.drop_column("pinned")
        batch.drop_column("title")
