"""`Project`: a labelling project in one SQLite file, and the Editor's persistent label store.

Every change (a label, its event and its undo record) is one transaction committed before
the call returns, so killing the process at any moment loses no applied label.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from engine.editing.events import Event
from engine.editing.history import Change, ChangeSet, ObjectRecord, RecordingStore
from engine.errors import OntologyError, ProjectError
from engine.limits import MAX_ID
from engine.ontology import Ontology, default_ontology
from engine.project import rows, schema
from engine.project.database import Database
from engine.project.files import check_database_files
from engine.types import Label, LabelClass, MediaInfo, shape_to_json

_LABEL_COLUMNS = "l.frame_index, l.object_id, o.class_name, l.shape, l.source, l.score, l.confirmed, l.review, l.attributes"
_LABEL_JOIN = "labels l JOIN objects o USING (media_id, object_id) JOIN media m ON m.id = l.media_id"


class Project(Database, RecordingStore):
    """A project folder holding ``project.sqlite``: media, ontology, objects, labels, events, history.

    It is a `LabelStore` (labels addressed by (media name, frame index, object id)) with
    undo/redo, so ``Editor(segmenter, project.ontology, store=project)`` labels straight
    into it. Make one with `Project.create` or `Project.open`; both work as context managers.
    """

    def __init__(self, path: Path, db: sqlite3.Connection, *, read_only: bool = False) -> None:
        super().__init__(path, db)
        self.read_only = read_only  # opened with read_only_ok on a project it must not write
        self._pending: list[int] = []  # change sets of the open transaction, not yet tied to an event
        self._media_ids: dict[str, int] = {}
        self._ontology = self._read_ontology()

    # -- create / open / close ------------------------------------------------------

    @classmethod
    def create(cls, folder: str | Path, ontology: Ontology | None = None) -> Project:
        """Make a new project in ``folder`` (created if needed) with ``ontology``'s classes."""
        folder = Path(folder)
        path = folder / schema.PROJECT_FILE
        if path.exists():
            raise ProjectError(f"{path}: a project already exists here")
        check_database_files(path)  # (a dangling link, a leftover -wal link: not written through)
        ontology = ontology or default_ontology()
        schema.create_database(path, [(c.name, c.shape, c.colour, c.hotkey) for c in ontology])
        return cls.open(folder)

    @classmethod
    def open(cls, folder: str | Path, *, read_only_ok: bool = False, read_only: bool = False) -> Project:
        """Open the project in ``folder`` (or the ``project.sqlite`` file itself), migrating it.

        A project that must not be written (`schema.read_only_reason`: read-only file or
        folder) raises `ProjectError`, unless ``read_only_ok`` (for commands that only
        read): it is then opened read-only, ``project.read_only`` is True and writes raise.
        ``read_only`` (exports): opened read-only whatever the permissions, so the file is
        never changed; an older schema is migrated in a private in-memory copy
        (`schema.migrated_copy`) instead of in place.
        """
        folder = Path(folder)
        path = folder if folder.is_file() else folder / schema.PROJECT_FILE
        check_database_files(path)
        if not path.is_file():
            raise ProjectError(f"{folder}: not a framewise project (no {schema.PROJECT_FILE})")
        reason = schema.read_only_reason(path)
        if reason is not None and not (read_only_ok or read_only):
            raise ProjectError(f"{path}: {reason}; this command writes to the project (make it writable or use a copy)")
        read_only = read_only or reason is not None
        db = schema.connect(path, read_only=read_only)
        try:
            # Check first: journal_mode=WAL would rewrite a database that is not ours.
            version = schema.schema_version(db, path)
            schema.refuse_foreign_schema(db, path)
            schema.check_not_newer(version, path)
            schema.configure(db, read_only=read_only)
            if version < schema.SCHEMA_VERSION:
                if read_only:
                    db = schema.migrated_copy(db, path)
                else:
                    schema.migrate(db, path)
            return cls(path, db, read_only=read_only)
        except sqlite3.Error as exc:
            db.close()
            raise schema.database_error(path, exc, "cannot open the project") from exc
        except UnicodeDecodeError as exc:
            db.close()
            raise schema.not_utf8_error(path, exc) from exc
        except BaseException:
            db.close()
            raise

    @property
    def folder(self) -> Path:
        return self.path.parent

    def __repr__(self) -> str:
        return f"Project({str(self.folder)!r})"

    def _begin(self) -> int:
        return len(self._pending)

    def _rolled_back(self, mark: int) -> None:
        del self._pending[mark:]
        self._media_ids.clear()  # ids read inside the rolled-back part may be gone

    def _committed(self) -> None:
        self._pending.clear()

    def _commit_failed(self) -> None:
        self._media_ids.clear()

    # -- media, ontology, objects ---------------------------------------------------

    def add_media(self, info: MediaInfo) -> int:
        """Register a media (idempotent by name); its id. Refuses a changed file under an old name."""
        content = (
            info.fingerprint, info.width, info.height, info.frames, info.fps,
            rows.dumps(list(info.timestamps)), rows.dumps(list(info.frame_names)),
        )
        with self.transaction():
            row = self._one("SELECT id, fingerprint FROM media WHERE name = ?", (info.name,))
            if row is not None:
                if not row[1] and info.fingerprint:
                    # Known by name only (imported from a COCO/CVAT file): now we know its content.
                    self._execute(
                        "UPDATE media SET fingerprint = ?, width = ?, height = ?, frames = ?, fps = ?, "
                        "timestamps = ?, frame_names = ? WHERE id = ?",
                        (*content, row[0]),
                    )
                    return int(row[0])
                if row[1] != info.fingerprint:
                    raise ProjectError(
                        f"{self.path}: media {info.name!r} changed since it was added "
                        f"(fingerprint {info.fingerprint[:12]}, project has {row[1][:12]})"
                    )
                return int(row[0])
            return self._insert(
                "INSERT INTO media(name, fingerprint, width, height, frames, fps, timestamps, frame_names, added)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (info.name, *content, time.time()),
            )

    def media(self) -> list[MediaInfo]:
        """The registered media, oldest first."""
        query = "SELECT name, fingerprint, width, height, frames, fps, timestamps, frame_names FROM media ORDER BY id"
        return [rows.media_from_row(row, where=str(self.path)) for row in self._rows(query)]

    @property
    def ontology(self) -> Ontology:
        return self._ontology

    def object(self, media: str, object_id: int) -> ObjectRecord | None:
        row = self._one(
            "SELECT o.class_name, o.name FROM objects o JOIN media m ON m.id = o.media_id WHERE m.name = ? AND o.object_id = ?",
            (media, object_id),
        )
        return None if row is None else ObjectRecord(media, int(object_id), row[0], row[1])

    def objects(self, media: str | None = None) -> list[ObjectRecord]:
        """Objects sorted by (media, object id), optionally of one media."""
        query = "SELECT m.name, o.object_id, o.class_name, o.name FROM objects o JOIN media m ON m.id = o.media_id"
        args: tuple = ()
        if media is not None:
            query, args = query + " WHERE m.name = ?", (media,)
        return [ObjectRecord(*row) for row in self._rows(query + " ORDER BY m.name, o.object_id", args)]

    def next_object_id(self) -> int:
        """An object id never used in this project (ids start at 1 and are not reused)."""
        with self.transaction():
            last = int(self._value("SELECT value FROM meta WHERE key = 'last_object_id'"))
            top = self._value("SELECT max(object_id) FROM objects") or 0
            value = max(last, top) + 1
            if value > MAX_ID:  # (an import may bring the largest id SQLite holds)
                raise ProjectError(f"{self.path}: no object id is left above {max(last, top)}")
            self._execute("UPDATE meta SET value = ? WHERE key = 'last_object_id'", (str(value),))
        return value

    def import_record(self, key: str) -> str | None:
        """What was remembered of the imported file ``key`` (`engine.formats.project_io`), or None."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (f"import:{key}",))
        return None if row is None else str(row[0])

    def set_import_record(self, key: str, value: str) -> None:
        """Remember ``value`` for the imported file ``key`` (a ``meta`` row; not undone by undo)."""
        with self.transaction():
            self._execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"import:{key}", value),
            )

    # -- labels ---------------------------------------------------------------------

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None:
        row = self._one(
            f"SELECT {_LABEL_COLUMNS} FROM {_LABEL_JOIN} WHERE m.name = ? AND l.frame_index = ? AND l.object_id = ?",
            (media, frame_index, object_id),
        )
        return None if row is None else rows.label_from_row(row, media, where=str(self.path))

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]:
        """Labels sorted by (media, frame, object), optionally filtered."""
        conditions: list[str] = []
        args: list[object] = []
        if media is not None:
            conditions.append("m.name = ?")
            args.append(media)
        if frame_index is not None:
            conditions.append("l.frame_index = ?")
            args.append(frame_index)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        query = f"SELECT m.name, {_LABEL_COLUMNS} FROM {_LABEL_JOIN}{where} ORDER BY m.name, l.frame_index, l.object_id"
        return [rows.label_from_row(row[1:], row[0], where=str(self.path)) for row in self._rows(query, args)]

    def label_flags(self, media: str, first: int | None = None, last: int | None = None) -> list[tuple[int, str, bool]]:
        """(frame index, source, review) of each label of ``media`` on frames ``first`` to
        ``last`` (inclusive; None: unbounded), by frame; one indexed query, no shape decoded."""
        query = "SELECT l.frame_index, l.source, l.review FROM labels l JOIN media m ON m.id = l.media_id WHERE m.name = ?"
        args: list = [media]
        if first is not None:
            query, args = query + " AND l.frame_index >= ?", [*args, first]
        if last is not None:
            query, args = query + " AND l.frame_index <= ?", [*args, last]
        return [(int(f), str(s), bool(r)) for f, s, r in self._rows(query + " ORDER BY l.frame_index", args)]

    def label_tracks(self, media: str, first: int | None = None, last: int | None = None) -> list[tuple[int, int, str, bool]]:
        """(object id, frame index, source, review) of each label of ``media`` on frames
        ``first`` to ``last`` (inclusive; None: unbounded), by object and frame; one query,
        no shape decoded (the editor's track panel)."""
        bounds = [(" AND l.frame_index >= ?", first), (" AND l.frame_index <= ?", last)]
        query = ("SELECT l.object_id, l.frame_index, l.source, l.review FROM labels l JOIN media m ON m.id = l.media_id"
                 " WHERE m.name = ?" + "".join(sql for sql, value in bounds if value is not None)
                 + " ORDER BY l.object_id, l.frame_index")
        args = [media, *(value for _, value in bounds if value is not None)]
        return [(int(o), int(f), str(s), bool(r)) for o, f, s, r in self._rows(query, args)]

    def history_state(self) -> tuple[bool, bool]:
        """(there is a change set to undo, there is one to redo), without reading their rows."""
        row = self._one(
            "SELECT EXISTS(SELECT 1 FROM changesets WHERE undone = 0), EXISTS(SELECT 1 FROM changesets WHERE undone = 1)"
        )
        return (bool(row[0]), bool(row[1])) if row is not None else (False, False)

    # -- events ---------------------------------------------------------------------

    def record_event(self, event: Event, media: str | None = None) -> int:
        """Store one Editor event (of ``media``, or of none); its sequence number. (This
        makes a project an `engine.editing.labels.EventSink`: the Editor logs into it.)

        Inside a transaction it is tied to the change sets made there, so an undo record
        always knows the call that made it.
        """
        with self.transaction():
            media_id = None if not media else self._media_id(media)
            seq = self._insert(
                "INSERT INTO events(media_id, kind, frame_index, data, time) VALUES (?, ?, ?, ?, ?)",
                (media_id, event.kind, event.frame_index, rows.dumps(event.data), event.time),
            )
            if self._pending:
                marks = ",".join("?" * len(self._pending))
                self._execute(f"UPDATE changesets SET event_seq = ? WHERE id IN ({marks})", (seq, *self._pending))
                self._pending.clear()
        return int(seq)

    def events(self, media: str | None = None) -> list[Event]:
        """Recorded events in order, all or those of one media."""
        query = "SELECT e.seq, e.kind, e.frame_index, e.data, e.time FROM events e"
        args: tuple = ()
        if media is not None:
            query, args = query + " JOIN media m ON m.id = e.media_id WHERE m.name = ?", (media,)
        return [rows.event_from_row(row, where=str(self.path)) for row in self._rows(query + " ORDER BY e.seq", args)]

    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's integrity and foreign-key checks (empty when sound)."""
        problems = [row[0] for row in self._rows("PRAGMA integrity_check")]
        problems = [] if problems == ["ok"] else problems
        return problems + [f"broken reference: {tuple(row)}" for row in self._rows("PRAGMA foreign_key_check")]

    # -- RecordingStore primitives --------------------------------------------------

    def _check_label(self, label: Label) -> None:
        media_id = self._media_id(label.media)
        self.ontology[label.class_name]  # OntologyError naming the classes
        if label.source not in schema.LABEL_SOURCES:
            raise ProjectError(f"label source {label.source!r} is not one of {', '.join(schema.LABEL_SOURCES)}")
        frames = self._value("SELECT frames FROM media WHERE id = ?", (media_id,))
        if not 0 <= label.frame_index < max(frames, 1) or label.object_id < 1:
            raise ProjectError(
                f"label ({label.media!r}, frame {label.frame_index}, object {label.object_id}) is out of range: "
                f"the media has {frames} frames and object ids start at 1"
            )

    def _check_class(self, class_name: str) -> None:
        self.ontology[class_name]

    def _object_label_count(self, media: str, object_id: int) -> int:
        query = "SELECT count(*) FROM labels WHERE media_id = ? AND object_id = ?"
        return int(self._value(query, (self._media_id(media), object_id)))

    def _write(self, change: Change) -> None:
        row = change.after if change.after is not None else change.before
        if row is None:  # only a damaged history row gives this
            raise ProjectError(f"{self.path}: the undo history is damaged (a change with no row before or after it)")
        media_id = self._media_id(row.media)
        if isinstance(row, ObjectRecord):
            if change.after is None:
                self._execute("DELETE FROM objects WHERE media_id = ? AND object_id = ?", (media_id, row.object_id))
            else:
                self._execute(
                    "INSERT INTO objects(media_id, object_id, class_name, name) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(media_id, object_id)"
                    " DO UPDATE SET class_name = excluded.class_name, name = excluded.name",
                    (media_id, row.object_id, row.class_name, row.name),
                )
                # ids are never handed out again, even after this object is undone
                self._execute(
                    "UPDATE meta SET value = CAST(max(CAST(value AS INTEGER), ?) AS TEXT) WHERE key = 'last_object_id'",
                    (row.object_id,),
                )
        elif change.after is None:
            self._execute(
                "DELETE FROM labels WHERE media_id = ? AND frame_index = ? AND object_id = ?",
                (media_id, row.frame_index, row.object_id),
            )
        else:
            self._execute(
                "INSERT INTO labels(media_id, frame_index, object_id, shape, source, score, confirmed, review,"
                " attributes, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(media_id, frame_index, object_id) DO UPDATE SET shape = excluded.shape,"
                " source = excluded.source, score = excluded.score, confirmed = excluded.confirmed,"
                " review = excluded.review, attributes = excluded.attributes, updated = excluded.updated",
                (
                    media_id,
                    row.frame_index,
                    row.object_id,
                    rows.dumps(shape_to_json(row.shape, decimals=None)),
                    row.source,
                    float(row.score),
                    int(bool(row.confirmed)),
                    int(bool(row.review)),
                    rows.dumps(dict(row.attributes)),
                    time.time(),
                ),
            )

    def _push(self, changeset: ChangeSet) -> ChangeSet:
        self._execute("DELETE FROM changesets WHERE undone = 1")  # the redo branch (changes cascade)
        changeset_id = self._insert("INSERT INTO changesets(kind, undone, time) VALUES (?, 0, ?)", (changeset.kind, time.time()))
        self._execute_many(
            "INSERT INTO changes(changeset_id, position, row_before, row_after) VALUES (?, ?, ?, ?)",
            [
                (changeset_id, position, rows.row_to_json(change.before), rows.row_to_json(change.after))
                for position, change in enumerate(changeset.changes)
            ],
        )
        self._pending.append(changeset_id)
        return ChangeSet(changeset.kind, changeset.changes, changeset_id)

    def _top(self, undone: bool) -> ChangeSet | None:
        order = "ASC" if undone else "DESC"
        row = self._one(f"SELECT id, kind FROM changesets WHERE undone = ? ORDER BY id {order} LIMIT 1", (int(undone),))
        if row is None:
            return None
        where = f"{self.path}: change set {row[0]}"
        changes = tuple(
            Change(rows.row_from_json(before, where=where), rows.row_from_json(after, where=where))
            for before, after in self._rows(
                "SELECT row_before, row_after FROM changes WHERE changeset_id = ? ORDER BY position", (row[0],)
            )
        )
        return ChangeSet(row[1], changes, int(row[0]))

    def _mark(self, changeset: ChangeSet, undone: bool) -> None:
        self._execute("UPDATE changesets SET undone = ? WHERE id = ?", (int(undone), changeset.id))

    # -- internals ------------------------------------------------------------------

    def _media_id(self, name: str) -> int:
        if name not in self._media_ids:
            row = self._one("SELECT id FROM media WHERE name = ?", (name,))
            if row is None:
                raise ProjectError(f"{self.path}: media {name!r} is not in the project; add it with add_media first")
            self._media_ids[name] = int(row[0])
        return self._media_ids[name]

    def _read_ontology(self) -> Ontology:
        query = "SELECT name, shape, colour, hotkey FROM classes ORDER BY position"
        found = self._rows(query)
        for row in found:
            if not all(isinstance(value, str) for value in row[:3]) or not isinstance(row[3], (str, type(None))):
                raise ProjectError(f"{self.path}: the project's classes are unusable (a row that is not text: {row!r:.120})")
        try:
            return Ontology([LabelClass(*row) for row in found])
        except OntologyError as exc:
            raise ProjectError(f"{self.path}: the project's classes are unusable ({exc})") from exc
