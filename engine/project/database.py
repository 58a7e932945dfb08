"""`Database`: one SQLite connection shared by threads, its transactions and statements.

The UI calls the Editor from a worker thread and from the Tk thread: one connection shared
by both, every statement and every transaction under one re-entrant lock. Every SQLite error
becomes a one-line `ProjectError` naming the file (`schema.database_error`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.errors import ProjectError
from engine.project import schema

_D = TypeVar("_D", bound="Database")


class Database:
    """The connection to ``path`` and the statement helpers `Project` is built on.

    Subclasses may keep state tied to the open transaction through the hooks `_begin`,
    `_rolled_back`, `_committed` and `_commit_failed`.
    """

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        """Close the database (a checkpoint folds the write-ahead log into the file)."""
        with self._lock:
            self._db.close()

    def __enter__(self: _D) -> _D:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing, committed on leaving; nested calls are savepoints of the outer one."""
        with self._lock:
            depth, mark = self._depth, self._begin()
            self._execute(f"SAVEPOINT sp{depth}" if depth else "BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth = depth
                self._rolled_back(mark)
                if self._db.in_transaction:  # (SQLite ends it by itself after some errors)
                    self._execute(f"ROLLBACK TO sp{depth}" if depth else "ROLLBACK")
                    if depth:
                        self._execute(f"RELEASE sp{depth}")
                raise
            self._depth = depth
            if depth:
                self._execute(f"RELEASE sp{depth}")
                return
            self._committed()
            try:
                self._execute("COMMIT")
            except ProjectError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._commit_failed()
                raise

    # -- transaction hooks (no-ops here) --------------------------------------------

    def _begin(self) -> int:
        """Called as a transaction or savepoint opens; the mark `_rolled_back` gets back."""
        return 0

    def _rolled_back(self, mark: int) -> None:
        """The transaction or savepoint opened at ``mark`` was rolled back."""

    def _committed(self) -> None:
        """The outermost transaction is about to commit."""

    def _commit_failed(self) -> None:
        """COMMIT failed and everything since BEGIN was rolled back."""

    # -- statements -----------------------------------------------------------------

    def _execute(self, sql: str, args=()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._db.execute(sql, _plain(args))
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from exc
            except UnicodeDecodeError as exc:
                raise schema.not_utf8_error(self.path, exc) from exc

    def _execute_many(self, sql: str, rows_args: list[tuple]) -> None:
        with self._lock:
            try:
                self._db.executemany(sql, rows_args)
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from exc
            except UnicodeDecodeError as exc:
                raise schema.not_utf8_error(self.path, exc) from exc

    def _rows(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, _plain(args)).fetchall()
            except sqlite3.Error as exc:
                raise schema.database_error(self.path, exc) from exc
            except UnicodeDecodeError as exc:
                raise schema.not_utf8_error(self.path, exc) from exc

    def _one(self, sql: str, args=()) -> tuple | None:
        rows_found = self._rows(sql, args)
        return rows_found[0] if rows_found else None

    def _value(self, sql: str, args=()) -> Any:
        """The first column of a query that always gives one row (an aggregate, a meta key)."""
        row = self._one(sql, args)
        if row is None:
            raise ProjectError(f"{self.path}: the project database lacks a row ({sql})")
        return row[0]

    def _insert(self, sql: str, args=()) -> int:
        """Run an INSERT; the new row's id."""
        rowid = self._execute(sql, args).lastrowid
        assert rowid is not None, "an INSERT sets lastrowid"
        return rowid


def _plain(args) -> tuple:
    """Statement arguments with numpy scalars (np.int64 ids, float32 scores) as Python numbers."""
    return tuple(a.item() if isinstance(a, np.generic) else a for a in args)
