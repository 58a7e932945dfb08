"""The project database: tables, connection settings and schema migrations.

A project is a folder holding ``project.sqlite``. The schema version lives in the ``meta``
table; `connect` refuses files that are not framewise projects or come from a newer
framewise, and brings older ones up to `SCHEMA_VERSION` in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Callable

from engine.errors import ProjectError

PROJECT_FILE = "project.sqlite"
APPLICATION = "framewise"
SCHEMA_VERSION = 1
LABEL_SOURCES = ("manual", "sam", "propagated", "interpolated", "replayed")
BUSY_TIMEOUT_MS = 5000

_SOURCES_SQL = ", ".join(f"'{s}'" for s in LABEL_SOURCES)

# The current layout; `create_schema` writes it into an empty database.
_TABLES = f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE media (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,            -- Label.media: the path as the Editor opened it
    fingerprint TEXT NOT NULL,
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    frames INTEGER NOT NULL CHECK (frames >= 0),
    fps REAL NOT NULL,
    timestamps TEXT NOT NULL DEFAULT '[]',   -- JSON list of seconds, one per frame, or []
    frame_names TEXT NOT NULL DEFAULT '[]',  -- JSON list of file names (image folders) or []
    added REAL NOT NULL
);
CREATE TABLE classes (
    name TEXT PRIMARY KEY,
    shape TEXT NOT NULL,
    colour TEXT NOT NULL,
    hotkey TEXT UNIQUE,
    position INTEGER NOT NULL UNIQUE
);
CREATE TABLE objects (
    media_id INTEGER NOT NULL REFERENCES media(id),
    object_id INTEGER NOT NULL CHECK (object_id > 0),
    class_name TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE,
    name TEXT,
    PRIMARY KEY (media_id, object_id)
);
CREATE TABLE labels (
    media_id INTEGER NOT NULL,
    frame_index INTEGER NOT NULL CHECK (frame_index >= 0),
    object_id INTEGER NOT NULL,
    shape TEXT NOT NULL,                  -- engine.types.shape_to_json, exact floats
    source TEXT NOT NULL CHECK (source IN ({_SOURCES_SQL})),
    score REAL NOT NULL,
    confirmed INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    review INTEGER NOT NULL DEFAULT 0 CHECK (review IN (0, 1)),
    attributes TEXT NOT NULL DEFAULT '{{}}',
    updated REAL NOT NULL,
    PRIMARY KEY (media_id, frame_index, object_id),
    FOREIGN KEY (media_id, object_id) REFERENCES objects(media_id, object_id)
);
CREATE INDEX labels_by_object ON labels(media_id, object_id);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    media_id INTEGER REFERENCES media(id),
    kind TEXT NOT NULL,
    frame_index INTEGER,
    data TEXT NOT NULL,                   -- JSON object, coordinates normalised to [0, 1]
    time REAL NOT NULL
);
CREATE INDEX events_by_media ON events(media_id, seq);
"""

# Undo/redo: one change set per user-level change, its rows as JSON before/after (NULL:
# the row is absent). Change sets with undone = 1 form the redo branch.
HISTORY = """
CREATE TABLE IF NOT EXISTS changesets (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    event_seq INTEGER REFERENCES events(seq),
    undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    changeset_id INTEGER NOT NULL REFERENCES changesets(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    row_before TEXT,
    row_after TEXT,
    PRIMARY KEY (changeset_id, position)
);
CREATE INDEX IF NOT EXISTS changesets_by_state ON changesets(undone, id);
"""

SCHEMA = _TABLES + HISTORY


def execute_script(db: sqlite3.Connection, script: str) -> None:
    """Run DDL statement by statement inside the caller's transaction.

    (``executescript`` would commit the open transaction first.)
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:60]!r}")


def _v0_to_v1(db: sqlite3.Connection) -> None:
    """Version 0 (the prototype) had no review flag on labels and no undo history."""
    db.execute("ALTER TABLE labels ADD COLUMN review INTEGER NOT NULL DEFAULT 0 CHECK (review IN (0, 1))")
    execute_script(db, HISTORY)


# MIGRATIONS[v] turns a version v database into version v + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _v0_to_v1}
assert all(v in MIGRATIONS for v in range(SCHEMA_VERSION)), "a migration step is missing"


def configure(db: sqlite3.Connection) -> None:
    """Connection settings, applied on every open.

    WAL with synchronous=NORMAL: a commit appends to the write-ahead log with a write(),
    and syncs only at checkpoints. Once commit returns, the transaction is in the OS page
    cache, so killing the process (even SIGKILL mid-way through the next transaction)
    loses nothing; only an OS crash or power cut can drop the last commits, and even then
    the database stays consistent.
    """
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ProjectError(f"cannot switch the project database to WAL mode (got {mode!r})")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")


def create_database(path: Path, classes: list[tuple[str, str, str, str | None]]) -> None:
    """Write a new project file with the current schema and ``classes`` (name, shape, colour, hotkey).

    Built under a temporary name and renamed into place: a crash never leaves half a project.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                create_schema(db)
                db.executemany(
                    "INSERT INTO classes(name, shape, colour, hotkey, position) VALUES (?, ?, ?, ?, ?)",
                    [(*entry, position) for position, entry in enumerate(classes)],
                )
            finally:
                db.close()
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except (OSError, sqlite3.Error) as exc:
        raise ProjectError(f"{path}: cannot create the project ({exc})") from exc


def framewise_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("framewise")
    except PackageNotFoundError:
        return "unknown"


def create_schema(db: sqlite3.Connection) -> None:
    """Write the current schema and meta rows into an empty database (autocommit connection)."""
    db.execute("BEGIN IMMEDIATE")
    execute_script(db, SCHEMA)
    db.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?)",
        [
            ("application", APPLICATION),
            ("schema_version", str(SCHEMA_VERSION)),
            ("created", repr(time.time())),
            ("framewise_version", framewise_version()),
            ("last_object_id", "0"),
        ],
    )
    db.execute("COMMIT")


def schema_version(db: sqlite3.Connection, path: Path) -> int:
    """The version of a framewise project database; `ProjectError` for anything else."""
    try:
        rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('application', 'schema_version')"))
    except sqlite3.DatabaseError as exc:  # not SQLite at all, or SQLite without a meta table
        raise ProjectError(f"{path}: not a framewise project ({exc})") from exc
    if rows.get("application") != APPLICATION or "schema_version" not in rows:
        raise ProjectError(f"{path}: not a framewise project (no framewise meta rows)")
    try:
        return int(rows["schema_version"])
    except ValueError as exc:
        raise ProjectError(f"{path}: bad schema version {rows['schema_version']!r}") from exc


def check_not_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{path}: project schema {version} is newer than this framewise ({SCHEMA_VERSION}); upgrade framewise"
        )


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the database to `SCHEMA_VERSION` (all steps in one transaction); the old version."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db, path)  # again, under the write lock
        check_not_newer(version, path)
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](db)
        if version != SCHEMA_VERSION:
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('last_object_id', '0')")
        problems = db.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise ProjectError(f"{path}: broken references after migration: {problems[:3]}")
        db.execute("COMMIT")
        return version
    except BaseException as exc:
        db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.DatabaseError):
            raise ProjectError(f"{path}: cannot migrate the project ({exc})") from exc
        raise
