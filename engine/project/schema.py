"""The project database: tables, connection settings and schema migrations.

A project is a folder holding ``project.sqlite``. The schema version lives in the ``meta``
table; `connect` refuses files that are not framewise projects or come from a newer
framewise, and brings older ones up to `SCHEMA_VERSION` in one transaction.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from engine.errors import ProjectError
from engine.types import LabelSource

PROJECT_FILE = "project.sqlite"
APPLICATION = "framewise"
SCHEMA_VERSION = 1
LABEL_SOURCES = tuple(source.value for source in LabelSource)
"""The values of `Label.source` (`engine.types.LabelSource`) the labels table accepts."""
BUSY_TIMEOUT_MS = 5000
"""How long a statement waits for another connection's write lock before the project is
reported busy; ``$FRAMEWISE_BUSY_TIMEOUT_MS`` overrides it (tests make it short)."""
BUSY_TIMEOUT_ENV = "FRAMEWISE_BUSY_TIMEOUT_MS"

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


def busy_timeout_ms() -> int:
    """`BUSY_TIMEOUT_MS`, or ``$FRAMEWISE_BUSY_TIMEOUT_MS`` when set (milliseconds, >= 0)."""
    text = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not text:
        return BUSY_TIMEOUT_MS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ProjectError(f"${BUSY_TIMEOUT_ENV}: expected milliseconds (an integer >= 0), got {text!r}")
    return value


def read_only_reason(path: Path) -> str | None:
    """Why framewise must not write the project file ``path``, or None when it may.

    A project file, its folder or its write-ahead log that is not writable (permission bits
    or ``os.access``) makes the project read-only. The permission bits count even for
    root, who could write anyway: a project made read-only means "leave it as it is".
    """
    checks = [(path, "the project file", os.W_OK), (path.parent, f"its folder {path.parent}", os.W_OK | os.X_OK)]
    checks += [(Path(f"{path}{suffix}"), f"its {path.name}{suffix}", os.W_OK) for suffix in ("-wal", "-shm")]
    for target, what, mode in checks:
        try:
            bits = target.stat().st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"cannot check {target} ({exc.strerror or exc})"
        if not bits & 0o222 or not os.access(target, mode):
            return f"{what} is read-only"
    return None


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the project file (autocommit, shared across threads).

    ``read_only``: opened with SQLite's ``mode=ro``; without a write-ahead log next to the
    file it is also ``immutable`` (no lock or ``-shm`` file is needed or created, so a
    project in a read-only folder can still be read).
    """
    timeout = busy_timeout_ms() / 1000
    try:
        if not read_only:
            db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        else:
            immutable = not Path(f"{path}-wal").exists()
            uri = path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
            db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        harden(db)
        return db
    except sqlite3.Error as exc:
        raise database_error(path, exc, "cannot open the project") from exc


def harden(db: sqlite3.Connection) -> None:
    """Treat the database file as untrusted input (a project may come from someone else).

    - ``trusted_schema = OFF``: SQL functions with side effects cannot run from the
      schema (views, triggers, CHECK constraints, defaults, generated columns);
    - extension loading stays off (`load_extension` from SQL is refused);
    - SQLite's *defensive* mode (no ``writable_schema`` tricks that corrupt the file on
      purpose) where Python offers ``Connection.setconfig`` (3.12+); on 3.11 there is no
      safe way to set it, so `refuse_foreign_schema` refuses what it would guard against.
    - ``cell_size_check``: damaged pages are reported as corrupt instead of misread.
    """
    db.execute("PRAGMA trusted_schema = OFF")
    db.execute("PRAGMA cell_size_check = ON")
    if hasattr(db, "enable_load_extension"):  # absent when SQLite was built without it
        db.enable_load_extension(False)
    if hasattr(db, "setconfig") and hasattr(sqlite3, "SQLITE_DBCONFIG_DEFENSIVE"):
        db.setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)


def refuse_foreign_schema(db: sqlite3.Connection, path: Path) -> None:
    """`ProjectError` for a database holding triggers or views: framewise never creates
    them, so they were put there by someone else, and a trigger would run on our writes."""
    found = db.execute("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY type, name").fetchall()
    if found:
        kind, name = found[0]
        raise ProjectError(
            f"{path}: refusing to open: the database holds a {kind} {name!r} ({len(found)} trigger(s)/view(s) in "
            "all), which framewise never creates; it was altered outside framewise"
        )


def database_error(path: Path, exc: sqlite3.Error, doing: str = "") -> ProjectError:
    """A one-line `ProjectError` for an SQLite failure, saying what the user can do."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = " ".join(str(exc).split())  # one line: SQLite quotes schema text and cell values
    if len(text) > 240:
        text = text[:240] + "…"
    lowered = text.lower()
    prefix = f"{path}: {doing + ': ' if doing else ''}"
    if "could not decode to utf-8" in lowered:  # the message quotes the undecodable cell
        column = re.search(r"column '([^']*)'", text)
        where = f"column {column.group(1)!r}" if column else "a text cell"
        return ProjectError(
            f"{prefix}the project database holds text that is not UTF-8 ({where}); it is damaged: "
            f"restore {PROJECT_FILE} from a backup"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in lowered:
        return ProjectError(
            f"{prefix}the project is busy: another program is writing to it (waited "
            f"{busy_timeout_ms() / 1000:g} s for its lock); close it or try again later"
        )
    if name.startswith("SQLITE_READONLY") or "readonly database" in lowered:
        return ProjectError(f"{prefix}the project is read-only ({text}); nothing was changed")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in lowered:
        return ProjectError(f"{prefix}the project database is corrupt ({text}); restore {PROJECT_FILE} from a backup")
    if name.startswith("SQLITE_NOTADB") or "not a database" in lowered:
        return ProjectError(f"{prefix}not a framewise project ({text})")
    if name.startswith("SQLITE_FULL") or "disk is full" in lowered:
        return ProjectError(f"{prefix}the disk is full ({text}); nothing was changed")
    return ProjectError(f"{prefix}{text}")


def not_utf8_error(path: Path, exc: UnicodeDecodeError) -> ProjectError:
    """A one-line `ProjectError` for text in the database that is not UTF-8 (framewise
    writes only UTF-8: the file was damaged or edited by hand)."""
    return ProjectError(
        f"{path}: the project database holds text that is not UTF-8 (byte {exc.object[exc.start:exc.start + 1]!r} "
        f"at {exc.start}); it is damaged: restore {PROJECT_FILE} from a backup"
    )


def configure(db: sqlite3.Connection, *, read_only: bool = False) -> None:
    """Connection settings, applied on every open.

    WAL with synchronous=NORMAL: a commit appends to the write-ahead log with a write(),
    and syncs only at checkpoints. Once commit returns, the transaction is in the OS page
    cache, so killing the process (even SIGKILL mid-way through the next transaction)
    loses nothing; only an OS crash or power cut can drop the last commits, and even then
    the database stays consistent. A read-only connection keeps the journal mode it finds.
    """
    db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms()}")
    db.execute("PRAGMA foreign_keys = ON")
    if read_only:
        return
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ProjectError(f"cannot switch the project database to WAL mode (got {mode!r})")
    db.execute("PRAGMA synchronous = NORMAL")


def create_database(path: Path, classes: list[tuple[str, str, str, str | None]]) -> None:
    """Write a new project file with the current schema and ``classes`` (name, shape, colour, hotkey).

    Built under a temporary name and renamed into place: a crash never leaves half a project.
    A folder whose permission bits say read-only is refused (see `read_only_reason`).
    """
    existing = path.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.is_dir() and (not existing.stat().st_mode & 0o222 or not os.access(existing, os.W_OK | os.X_OK)):
        raise ProjectError(f"{path}: cannot create the project: the folder {existing} is read-only")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 would hide the project from the group; 0666 minus the umask.
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
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
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # SQLite, but not ours
            raise ProjectError(f"{path}: not a framewise project ({exc})") from exc
        raise database_error(path, exc) from exc
    except sqlite3.DatabaseError as exc:  # not SQLite at all, or a damaged file
        raise database_error(path, exc) from exc
    if rows.get("application") != APPLICATION or "schema_version" not in rows:
        raise ProjectError(f"{path}: not a framewise project (no framewise meta rows)")
    try:
        version = int(rows["schema_version"])
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"{path}: bad schema version {rows['schema_version']!r}") from exc
    if version < 0:
        raise ProjectError(f"{path}: bad schema version {version}")
    return version


def check_not_newer(version: int, path: Path) -> None:
    if version > SCHEMA_VERSION:
        raise ProjectError(f"{path}: project schema {version} is newer than this framewise ({SCHEMA_VERSION}); upgrade framewise")


def migrated_copy(db: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    """A private in-memory copy of the project ``db`` brought to `SCHEMA_VERSION`, for a
    command that only reads an older project: its file stays byte for byte as it was.
    ``db`` is closed when the copy is returned (the copy costs memory of the file's size)."""
    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        db.backup(copy)
        harden(copy)
        configure(copy, read_only=True)
        migrate(copy, path)
    except BaseException:
        copy.close()
        raise
    db.close()
    return copy


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
