"""The SQLite project store: persistence, undo/redo, schema versions, and the Editor on it."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from engine.editing.editor import Editor
from engine.errors import EditorStateError, OntologyError, ProjectError, SessionFormatError
from engine.editing.events import denormalise_shape, normalise_shape
from engine.fileio import write_image
from engine.geometry import mask_to_polygon, polygon_to_mask
from engine.editing.labels import MemoryLabelStore
from engine.ontology import Ontology
from engine.project import PROJECT_FILE, SCHEMA_VERSION, Project
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Label, LabelClass, MediaInfo, Polygon, shape_from_json, shape_to_json

H, W = 120, 160


def make_ontology() -> Ontology:
    return Ontology(
        [
            LabelClass("car", "polygon", "#e6194b", "1"),
            LabelClass("person", "polygon", "#3cb44b", "2"),
            LabelClass("sign", "bounding_box", "#4363d8", "3"),
        ]
    )


def media_info(name: str = "clip.mp4", frames: int = 10) -> MediaInfo:
    return MediaInfo(name, "ab" * 32, W, H, frames, 25.0, tuple(i / 25 for i in range(frames)), ())


def disc_polygon(cx: float, cy: float, r: float) -> Polygon:
    yy, xx = np.mgrid[:H, :W]
    return mask_to_polygon((xx - cx) ** 2 + (yy - cy) ** 2 < r**2)


def odd_polygon(seed: int) -> Polygon:
    """Two parts, one with a hole, at coordinates no decimal rounding keeps."""
    rng = np.random.default_rng(seed)
    outer = np.array([[10, 10], [60, 12], [58, 70], [8, 66]]) + rng.random((4, 2))
    hole = np.array([[25, 25], [40, 26], [38, 45]]) + rng.random((3, 2)) / 3
    other = np.array([[100, 20], [140, 25], [120, 90]]) + rng.random((3, 2)) * np.pi
    return Polygon(((outer, hole), (other,)))


def label(object_id: int, frame_index: int, shape=None, class_name: str = "car", media: str = "clip.mp4", **kw) -> Label:
    return Label(object_id, frame_index, class_name, shape if shape is not None else odd_polygon(object_id), media=media, **kw)


def exact(item: Label | None) -> tuple | None:
    """Everything a label holds, shapes as exact JSON (labels hold arrays: no == on them)."""
    if item is None:
        return None
    return (item.media, item.frame_index, item.object_id, item.class_name, json.dumps(shape_to_json(item.shape, None)),
            item.source, item.score, item.confirmed, item.review, dict(item.attributes))


def state(store) -> list:
    return [exact(item) for item in store.labels()]


@pytest.fixture()
def project(tmp_path):
    with Project.create(tmp_path / "proj", make_ontology()) as project:
        project.add_media(media_info())
        yield project


@pytest.fixture(params=["memory", "project"])
def store(request, tmp_path):
    """Both stores: undo/redo follow the same rules."""
    if request.param == "memory":
        yield MemoryLabelStore()
        return
    with Project.create(tmp_path / "proj", make_ontology()) as project:
        project.add_media(media_info())
        yield project


# -- create, open, persistence ------------------------------------------------------------


def test_create_open_reopen_keeps_everything(tmp_path):
    folder = tmp_path / "deep" / "proj"
    written = [
        label(1, 0, review=True, score=0.75, attributes={"occluded": "yes"}),
        label(2, 0, Box(1.5, 2.25, 30.125, 40.0), class_name="sign", source="manual"),
        label(1, 3, disc_polygon(50, 60, 20), source="propagated", confirmed=False),
    ]
    with Project.create(folder, make_ontology()) as project:
        assert project.add_media(media_info()) == project.add_media(media_info())  # idempotent by name
        for item in written:
            project.put(item)
    assert (folder / PROJECT_FILE).is_file()
    with Project.open(folder) as project:
        assert state(project) == sorted(exact(item) for item in written)
        assert project.media() == [media_info()]
        assert [(c.name, c.shape, c.colour, c.hotkey) for c in project.ontology] == [
            (c.name, c.shape, c.colour, c.hotkey) for c in make_ontology()
        ]
        assert [(o.object_id, o.class_name) for o in project.objects("clip.mp4")] == [(1, "car"), (2, "sign")]
        assert project.integrity_check() == []
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(folder, make_ontology())


def test_labels_keep_exact_geometry_and_reexport_identically(project):
    polygon, box = odd_polygon(7), Box(0.1 + 0.2, 1 / 3, 100.000001, 99.99)
    project.put(label(1, 2, polygon))
    project.put(label(2, 2, box, class_name="sign"))
    stored_polygon = project.get("clip.mp4", 2, 1).shape
    for ours, theirs in zip([r for p in polygon.parts for r in p], [r for p in stored_polygon.parts for r in p]):
        assert ours.dtype == theirs.dtype == np.float64 and np.array_equal(ours, theirs)
    assert project.get("clip.mp4", 2, 2).shape == box
    for item, original in zip(project.labels(frame_index=2), [polygon, box]):
        assert shape_to_json(item.shape) == shape_to_json(original)  # the export JSON


def test_several_media_address_labels_by_media_frame_object(project):
    project.add_media(media_info("other.mp4", frames=5))
    project.put(label(1, 0, disc_polygon(40, 40, 10)))
    project.put(label(1, 0, disc_polygon(90, 60, 15), media="other.mp4"))
    project.put(label(2, 4, media="other.mp4"))
    assert [exact(i) for i in project.labels("other.mp4")] == [
        exact(project.get("other.mp4", 0, 1)), exact(project.get("other.mp4", 4, 2))
    ]
    mine, theirs = project.get("clip.mp4", 0, 1), project.get("other.mp4", 0, 1)
    assert not np.array_equal(polygon_to_mask(mine.shape, H, W), polygon_to_mask(theirs.shape, H, W))
    assert project.get("clip.mp4", 4, 2) is None
    assert project.delete("other.mp4", 0, 1) and not project.delete("other.mp4", 0, 1)
    assert exact(project.get("clip.mp4", 0, 1)) == exact(mine)
    assert [m.name for m in project.media()] == ["clip.mp4", "other.mp4"]
    with pytest.raises(ProjectError, match="unknown.mp4"):
        project.put(label(3, 0, media="unknown.mp4"))
    with pytest.raises(ProjectError, match="frame 10"):
        project.put(label(3, 10))


def test_changed_media_under_a_known_name_is_refused(project):
    changed = MediaInfo("clip.mp4", "cd" * 32, W, H, 10, 25.0)
    with pytest.raises(ProjectError, match="clip.mp4.*changed"):
        project.add_media(changed)


def test_invalid_labels_are_refused_and_leave_nothing(project):
    with pytest.raises(OntologyError, match="bus"):
        project.put(label(1, 0, class_name="bus"))
    with pytest.raises(ProjectError, match="source 'guessed'"):
        project.put(label(1, 0, source="guessed"))
    assert project.labels() == [] and project.objects() == [] and project.undo() is None


def test_foreign_keys_and_pragmas_are_on(project):
    db = project._db  # the project's own connection
    assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        db.execute(
            "INSERT INTO labels(media_id, frame_index, object_id, shape, source, score, confirmed, updated)"
            " VALUES (1, 0, 99, '{}', 'sam', 1, 1, 0)"
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute("INSERT INTO objects(media_id, object_id, class_name) VALUES (1, 1, 'car')")
        db.execute(
            "INSERT INTO labels(media_id, frame_index, object_id, shape, source, score, confirmed, updated)"
            " VALUES (1, 0, 1, '{}', 'guessed', 1, 1, 0)"
        )


# -- undo / redo ----------------------------------------------------------------------------


def test_undo_redo_apply_edit_delete_relabel_rename(store):
    snapshots = [state(store)]
    store.put(label(1, 0))  # apply
    snapshots.append(state(store))
    store.put(label(1, 0, disc_polygon(30, 30, 12), source="manual"))  # edit
    snapshots.append(state(store))
    store.put(label(1, 1))  # apply on another frame
    snapshots.append(state(store))
    store.set_object_class("clip.mp4", 1, "person")  # relabel: every frame of the object
    assert {i.class_name for i in store.labels()} == {"person"}
    snapshots.append(state(store))
    store.rename_object("clip.mp4", 1, "red car")
    assert store.object("clip.mp4", 1).name == "red car"
    store.delete("clip.mp4", 0, 1)
    snapshots.append(state(store))
    kinds = []
    for expected in reversed(snapshots[:-1]):
        changeset = store.undo()
        kinds.append(changeset.kind)
        if changeset.kind == "rename":
            assert store.object("clip.mp4", 1).name is None
            changeset = store.undo()
            kinds.append(changeset.kind)
        assert state(store) == expected
    assert kinds == ["delete", "rename", "relabel", "apply", "edit", "apply"]
    assert store.undo() is None and store.objects() == []
    for expected in snapshots[1:-1]:
        store.redo()
        assert state(store) == expected
    assert store.redo().kind == "rename" and store.redo().kind == "delete"
    assert state(store) == snapshots[-1] and store.redo() is None


def test_put_with_another_class_moves_the_object_and_undoes(store):
    store.put(label(1, 0))
    store.put(label(1, 1, class_name="person"))
    assert [i.class_name for i in store.labels()] == ["person", "person"]
    store.undo()
    assert [i.class_name for i in store.labels()] == ["car"]


def test_new_change_discards_the_redo_branch(store):
    store.put(label(1, 0))
    store.put(label(2, 0))
    store.undo()
    store.put(label(3, 0))
    assert store.redo() is None
    assert [i.object_id for i in store.labels()] == [1, 3]
    assert store.undo().labels[0].object_id == 3
    assert store.undo().labels[0].object_id == 1
    assert store.undo() is None


def test_group_is_one_undo_step_and_failures_roll_back(store):
    store.put(label(9, 0))
    with store.group("propagate"):
        for frame_index in range(1, 5):
            store.put(label(9, frame_index, source="propagated"))
    assert len(store.labels()) == 5
    assert store.undo().kind == "propagate" and len(store.labels()) == 1
    store.redo()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.delete("clip.mp4", 1, 9)
            store.put(label(4, 2))
            raise RuntimeError("boom")
    assert len(store.labels()) == 5 and store.object("clip.mp4", 4) is None
    assert store.undo().kind == "propagate"  # the history is back as it was too


def test_inner_failure_rolls_back_only_the_inner_part(store):
    with store.transaction():
        store.put(label(1, 0))
        with pytest.raises(OntologyError if isinstance(store, Project) else RuntimeError):
            with store.transaction():
                store.put(label(2, 0))
                if isinstance(store, Project):
                    store.put(label(3, 0, class_name="bus"))
                raise RuntimeError("inner")
        store.put(label(4, 0))
    assert [i.object_id for i in store.labels()] == [1, 4]
    assert [store.undo().labels[0].object_id for _ in range(2)] == [4, 1]
    assert store.undo() is None


def test_two_threads_share_a_project(project):
    """The UI applies on a worker thread while the Tk thread edits: no lost or mixed writes."""
    import threading

    def write(first: int) -> None:
        for object_id in range(first, first + 40):
            project.put(label(object_id, object_id % 10, disc_polygon(40, 40, 5 + object_id % 7)))

    worker = threading.Thread(target=write, args=(100,))
    worker.start()
    write(1)
    worker.join()
    assert len(project.labels()) == 80 and project.integrity_check() == []
    for _ in range(80):
        assert project.undo().kind == "apply"
    assert project.labels() == [] and project.undo() is None


def test_undo_and_redo_survive_reopen(tmp_path):
    folder = tmp_path / "proj"
    with Project.create(folder, make_ontology()) as project:
        project.add_media(media_info())
        project.put(label(1, 0))
        project.put(label(2, 0))
        project.set_object_class("clip.mp4", 2, "person")
        project.undo()
        after_undo = state(project)
    with Project.open(folder) as project:
        assert state(project) == after_undo
        assert project.redo().kind == "relabel"
        assert project.get("clip.mp4", 0, 2).class_name == "person"
        assert project.undo().kind == "relabel"
        assert project.undo().kind == "apply" and project.undo().kind == "apply"
        assert project.labels() == []
        assert project.next_object_id() == 3  # ids are never reused, even after undo


def test_object_ids_are_fresh_and_persisted(tmp_path):
    with Project.create(tmp_path / "p", make_ontology()) as project:
        project.add_media(media_info())
        first = project.next_object_id()
        project.put(label(first, 0))
        project.put(label(7, 0))
        assert project.next_object_id() == 8
    with Project.open(tmp_path / "p") as project:
        assert project.next_object_id() == 9


# -- schema versions and foreign files ------------------------------------------------------


def test_newer_schema_is_refused(tmp_path):
    Project.create(tmp_path / "p", make_ontology()).close()
    path = tmp_path / "p" / PROJECT_FILE
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(ProjectError) as error:
        Project.open(tmp_path / "p")
    assert str(error.value) == (
        f"{path}: project schema 7 is newer than this framewise ({SCHEMA_VERSION}); upgrade framewise"
    )


def test_files_that_are_not_projects_are_refused(tmp_path):
    with pytest.raises(ProjectError, match="no project.sqlite"):
        Project.open(tmp_path)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / PROJECT_FILE).write_text("hello, not a database " * 100)
    with pytest.raises(ProjectError, match=f"{tmp_path / 'text' / PROJECT_FILE}: not a framewise project"):
        Project.open(tmp_path / "text")
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('application', 'something else')")
    db.close()
    with pytest.raises(ProjectError, match="foreign.sqlite: not a framewise project"):
        Project.open(foreign)
    with sqlite3.connect(foreign) as db:  # left as it was: not switched to WAL
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    db.close()


V0_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE media (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, fingerprint TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, frames INTEGER NOT NULL, fps REAL NOT NULL,
    timestamps TEXT NOT NULL DEFAULT '[]', frame_names TEXT NOT NULL DEFAULT '[]', added REAL NOT NULL);
CREATE TABLE classes (name TEXT PRIMARY KEY, shape TEXT NOT NULL, colour TEXT NOT NULL, hotkey TEXT UNIQUE,
    position INTEGER NOT NULL UNIQUE);
CREATE TABLE objects (media_id INTEGER NOT NULL REFERENCES media(id), object_id INTEGER NOT NULL,
    class_name TEXT NOT NULL REFERENCES classes(name), name TEXT, PRIMARY KEY (media_id, object_id));
CREATE TABLE labels (media_id INTEGER NOT NULL, frame_index INTEGER NOT NULL, object_id INTEGER NOT NULL,
    shape TEXT NOT NULL, source TEXT NOT NULL, score REAL NOT NULL, confirmed INTEGER NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}', updated REAL NOT NULL,
    PRIMARY KEY (media_id, frame_index, object_id),
    FOREIGN KEY (media_id, object_id) REFERENCES objects(media_id, object_id));
CREATE TABLE events (seq INTEGER PRIMARY KEY, media_id INTEGER REFERENCES media(id), kind TEXT NOT NULL,
    frame_index INTEGER, data TEXT NOT NULL, time REAL NOT NULL);
INSERT INTO meta VALUES ('application', 'framewise'), ('schema_version', '0'), ('created', '0'),
    ('framewise_version', '0.0.1');
INSERT INTO media VALUES (1, 'clip.mp4', 'abab', 160, 120, 10, 25.0, '[]', '[]', 0);
INSERT INTO classes VALUES ('car', 'polygon', '#e6194b', '1', 0);
INSERT INTO objects VALUES (1, 5, 'car', 'old car');
INSERT INTO labels VALUES (1, 2, 5, '{"type": "bounding_box", "box": [1.5, 2, 30, 40.25]}', 'sam', 0.5, 1, '{}', 0);
INSERT INTO events VALUES (1, 1, 'apply', 2, '{"object_id": 5}', 0);
"""


def test_version_0_project_is_migrated_on_open(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    with sqlite3.connect(folder / PROJECT_FILE) as db:
        db.executescript(V0_SCHEMA)
    db.close()
    with Project.open(folder) as project:
        (old,) = project.labels()
        assert (old.object_id, old.frame_index, old.class_name, old.review) == (5, 2, "car", False)
        assert old.shape == Box(1.5, 2.0, 30.0, 40.25)
        assert project.object("clip.mp4", 5).name == "old car"
        assert [e.kind for e in project.events("clip.mp4")] == ["apply"]
        project.put(label(6, 0, disc_polygon(50, 50, 9), review=True))  # the v1 column and the history work
        assert project.get("clip.mp4", 0, 6).review is True
        assert project.next_object_id() == 7
        assert project.undo().kind == "apply" and len(project.labels()) == 1
        assert project.integrity_check() == []
    with sqlite3.connect(folder / PROJECT_FILE) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    db.close()


# -- shapes as JSON -------------------------------------------------------------------------


def test_shape_json_round_trip_and_errors():
    polygon = odd_polygon(3)
    back = shape_from_json(json.loads(json.dumps(shape_to_json(polygon, decimals=None))))
    assert shape_to_json(back, decimals=None) == shape_to_json(polygon, decimals=None)
    for bad, match in [
        ({"type": "circle"}, "unknown shape type"),
        ({"type": "polygon", "parts": [[[[0, 0], [1, 1]]]]}, "at least 3"),
        ({"type": "bounding_box", "box": [0, 1, 2]}, "4 finite"),
        ({"type": "polygon"}, "malformed polygon"),
    ]:
        with pytest.raises(SessionFormatError, match=match):
            shape_from_json(bad)
    shape = denormalise_shape(normalise_shape(polygon, W, H), W, H)
    assert all(np.allclose(a, b, atol=1e-9) for a, b in zip(shape.parts[0], polygon.parts[0]))


# -- the Editor on a project ----------------------------------------------------------------


def scene(tmp_path):
    """A red disc and a blue square on grey; the image path."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:H, :W]
    image = np.clip(rng.normal(120, 10, (H, W, 3)), 0, 255)
    image[(xx - 50) ** 2 + (yy - 60) ** 2 < 25**2] = (210, 40, 40)
    image[30:70, 100:140] = (40, 60, 210)
    return write_image(tmp_path / "scene.png", image.astype(np.uint8))


@pytest.mark.parametrize("kind", ["memory", "project"])
def test_editor_changes_undo_and_events_persist(tmp_path, kind):
    path = scene(tmp_path)
    project = Project.create(tmp_path / "proj", make_ontology()) if kind == "project" else None
    store = project if project is not None else MemoryLabelStore()
    with Editor(ClassicSegmenter(), make_ontology(), store=store, quality=1.0) as editor:
        editor.open(path)
        editor.toggle_sam()
        editor.click(50, 60)
        disc = editor.apply()
        editor.set_class("sign")
        editor.click(120, 50)
        square = editor.apply()
        assert isinstance(square.shape, Box)
        edited = editor.edit_label(disc.object_id, disc_polygon(52, 60, 20))
        assert edited.source == "manual" and exact(store.get(editor.media_name, 0, disc.object_id)) == exact(edited)
        with pytest.raises(EditorStateError, match="bounding_box"):
            editor.change_class(disc.object_id, "sign")  # a polygon cannot become a box class
        editor.change_class(disc.object_id, "person")
        editor.delete_label(square.object_id)
        assert [i.object_id for i in editor.labels()] == [disc.object_id]
        assert editor.undo().kind == "delete" and len(editor.labels()) == 2
        assert editor.undo().kind == "relabel" and store.get(editor.media_name, 0, disc.object_id).class_name == "car"
        assert editor.undo().kind == "edit" and exact(store.get(editor.media_name, 0, disc.object_id)) == exact(disc)
        assert editor.redo().kind == "edit"
        with pytest.raises(EditorStateError, match="no label of object 99"):
            editor.delete_label(99)
        kinds = editor.log.kinds()
        assert kinds[-7:] == ["edit", "relabel", "delete", "undo", "undo", "undo", "redo"]
        if project is not None:
            assert [m.name for m in project.media()] == [editor.media_name]
            stored = project.events(editor.media_name)
            assert [e.to_json() for e in stored] == [json.loads(json.dumps(e.to_json())) for e in editor.log.events]
    if project is not None:
        project.close()
        with sqlite3.connect(tmp_path / "proj" / PROJECT_FILE) as db:  # each change set knows its event
            tied = db.execute("SELECT c.kind, e.kind FROM changesets c JOIN events e ON e.seq = c.event_seq").fetchall()
            assert sorted(tied) == sorted([("apply", "apply")] * 2 + [("edit", "edit"), ("relabel", "relabel"), ("delete", "delete")])
        db.close()
        with Project.open(tmp_path / "proj") as project:
            assert [exact(i) for i in project.labels()] == [exact(edited), exact(square)]
            assert project.undo().kind == "edit"  # the history continues after reopening
