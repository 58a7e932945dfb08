"""Bad input on the command line: `export`, `import`, `session export`, `replay` (and `annotate`
for ontologies) fail with one line on stderr and exit 2, and leave nothing half-written:
no new folder, no partial file, the project database unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.editing.events import Event
from engine.formats.coco import to_coco
from engine.formats.cvat_video import to_cvat_video
from engine.formats.dataset import Dataset
from engine.formats.project_io import dataset_from_project
from engine.geometry import mask_to_polygon
from engine.media.fingerprint import media_info
from engine.media.open import open_media
from engine.ontology import default_ontology
from engine.project import PROJECT_FILE, Project
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Label, MediaInfo

ROOT = Path(__file__).resolve().parents[2]
STILL = ROOT / "sample_media" / "still.jpg"
FRAMES = ROOT / "sample_media" / "frames"
BUSY_MS = "200"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` with its content hash (SQLite's -shm index,
    which readers update in place, left out)."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_dir():
            found[key] = "folder"
        elif not path.name.endswith("-shm"):
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def fails(capsys, root: Path, *argv, words: tuple[str, ...] = ()) -> str:
    """Run a command that must fail: exit 2, one ``framewise: error:`` line naming ``words``,
    and everything under ``root`` exactly as it was."""
    before = snapshot(root)
    code, out, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("framewise: error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    assert snapshot(root) == before
    return lines[0]


# -- a small project, its COCO export and its session, made once -----------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """(project folder, COCO file, session file) of a project with the still image, a box and
    a polygon label and two events."""
    base = tmp_path_factory.mktemp("template")
    with open_media(STILL) as source:
        info = media_info(source, str(STILL))
    yy, xx = np.mgrid[: info.height, : info.width]
    disc = mask_to_polygon((xx - 300) ** 2 + (yy - 200) ** 2 < 60**2)
    with Project.create(base / "project", default_ontology()) as project:
        project.add_media(info)
        project.record_event(Event("open", 0, {"media": info.name, "frames": 1, "size": [info.width, info.height],
                                               "backend": "classic", "model": ClassicSegmenter.model,
                                               "quality": 0.4}), info.name)
        project.record_event(Event("class", 0, {"name": "box"}), info.name)
        with project.group("seed"):
            project.put(Label(1, 0, "box", Box(10.0, 20.0, 110.0, 90.0), media=info.name))
            project.put(Label(2, 0, "object", disc, media=info.name))
        dataset = dataset_from_project(project)
    coco = base / "annotations.json"
    coco.write_text(json.dumps(to_coco(dataset)))
    assert main(["session", "export", str(base / "project"), "--out", str(base / "S.json")]) == 0
    return base / "project", coco, base / "S.json"


@pytest.fixture
def project(template, tmp_path):
    """A fresh copy of the template project under tmp_path / "p"."""
    folder = tmp_path / "p"
    shutil.copytree(template[0], folder)
    return folder


def commands(template, project: Path, tmp_path: Path) -> dict[str, list]:
    _, coco, session = template
    return {
        "export": ["export", project, "--format", "coco", "--out", tmp_path / "out"],
        "import": ["import", project, "--format", "coco", coco],
        "session export": ["session", "export", project, "--out", tmp_path / "S2.json"],
        "replay": ["replay", session, STILL, "--project", project],
    }


READERS = ("export", "session export")
WRITERS = ("import", "replay")


def reference_outputs(capsys, template, tmp_path: Path) -> dict[str, bytes]:
    """What the reading commands write for the untouched template."""
    out = {}
    base = tmp_path / "reference"
    base.mkdir()
    assert run(capsys, "export", template[0], "--format", "coco", "--out", base / "out")[0] == 0
    assert run(capsys, "session", "export", template[0], "--out", base / "S2.json")[0] == 0
    out["export"] = (base / "out" / "annotations" / "instances_default.json").read_bytes()
    out["session export"] = (base / "S2.json").read_bytes()
    shutil.rmtree(base)
    return out


def written(name: str, tmp_path: Path) -> bytes:
    return (tmp_path / "out" / "annotations" / "instances_default.json" if name == "export" else tmp_path / "S2.json").read_bytes()


# -- not a project ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", READERS)
def test_reading_commands_refuse_a_folder_without_a_project(capsys, template, tmp_path, name):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        argv = commands(template, folder, tmp_path)[name]
        fails(capsys, tmp_path, *argv, words=(str(folder), "not a framewise project (no project.sqlite)"))
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("name", READERS + WRITERS)
def test_a_foreign_sqlite_file_is_not_a_project_and_stays_untouched(capsys, template, tmp_path, name):
    folder = tmp_path / "other"
    folder.mkdir()
    with sqlite3.connect(folder / PROJECT_FILE) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    fails(capsys, tmp_path, *commands(template, folder, tmp_path)[name], words=("not a framewise project",))
    with sqlite3.connect(folder / PROJECT_FILE) as db:  # not switched to WAL either
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    db.close()


@pytest.mark.parametrize("name", WRITERS)
def test_writing_commands_refuse_a_project_path_that_is_a_file(capsys, template, tmp_path, name):
    path = tmp_path / "p.txt"
    path.write_text("not a folder")
    fails(capsys, tmp_path, *commands(template, path, tmp_path)[name], words=(f"{path}: not a folder",))


# -- corrupt databases -----------------------------------------------------------------------


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(path.stat().st_size))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("name", READERS + WRITERS)
@pytest.mark.parametrize(
    "damage, words",
    [(_random_bytes, "not a framewise project"), (_truncated, "corrupt"), (_empty, "not a framewise project")],
    ids=["random bytes", "truncated", "empty file"],
)
def test_a_damaged_database_fails_cleanly(capsys, template, project, tmp_path, name, damage, words):
    damage(project / PROJECT_FILE)
    fails(capsys, tmp_path, *commands(template, project, tmp_path)[name], words=(str(project / PROJECT_FILE), words))


@pytest.mark.parametrize("name", ["export", "import"])
def test_a_damaged_labels_table_is_reported_corrupt_and_left_alone(capsys, template, project, tmp_path, name):
    path = project / PROJECT_FILE
    with sqlite3.connect(path) as db:
        (root_page,) = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'labels'").fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with open(path, "r+b") as handle:  # the table's b-tree page: no valid page type any more
        handle.seek((root_page - 1) * page_size)
        handle.write(b"\xff" * page_size)
    line = fails(capsys, tmp_path, *commands(template, project, tmp_path)[name], words=("corrupt",))
    assert "restore project.sqlite from a backup" in line


# -- a locked database -----------------------------------------------------------------------


@pytest.fixture
def busy_timeout(monkeypatch):
    monkeypatch.setenv("FRAMEWISE_BUSY_TIMEOUT_MS", BUSY_MS)


def _hold_write_lock(path: Path, *, exclusive: bool) -> sqlite3.Connection:
    """Another connection in the middle of a write transaction (uncommitted insert)."""
    db = sqlite3.connect(path, isolation_level=None)
    if exclusive:  # no other connection may even read
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE")
    db.execute("INSERT INTO meta(key, value) VALUES ('held', 'by another program')")
    return db


@pytest.mark.parametrize("name", READERS + WRITERS)
def test_a_write_transaction_of_another_program_blocks_writers_not_readers(
    capsys, template, project, tmp_path, busy_timeout, name
):
    reference = reference_outputs(capsys, template, tmp_path)
    before = (project / PROJECT_FILE).read_bytes()
    holder = _hold_write_lock(project / PROJECT_FILE, exclusive=False)
    try:
        argv = commands(template, project, tmp_path)[name]
        if name in WRITERS:
            line = fails(capsys, tmp_path, *argv, words=("the project is busy", f"waited {int(BUSY_MS) / 1000:g} s"))
            assert str(project / PROJECT_FILE) in line
        else:  # WAL: readers see the last committed state, without the held insert
            code, _, err = run(capsys, *argv)
            assert code == 0, err
            assert written(name, tmp_path) == reference[name]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (project / PROJECT_FILE).read_bytes() == before
    assert sorted(p.name for p in project.iterdir()) == [PROJECT_FILE]


@pytest.mark.parametrize("name", READERS + WRITERS)
def test_an_exclusive_lock_makes_every_command_report_a_busy_project(capsys, template, project, tmp_path, busy_timeout, name):
    holder = _hold_write_lock(project / PROJECT_FILE, exclusive=True)
    try:
        fails(capsys, tmp_path, *commands(template, project, tmp_path)[name], words=("the project is busy",))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_busy_timeout_setting_is_checked(capsys, template, project, tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEWISE_BUSY_TIMEOUT_MS", "soon")
    fails(capsys, tmp_path, *commands(template, project, tmp_path)["export"],
          words=("$FRAMEWISE_BUSY_TIMEOUT_MS: expected milliseconds", "'soon'"))


# -- read-only projects ----------------------------------------------------------------------


@pytest.fixture(params=["file", "folder"])
def read_only(request, project):
    """The project made read-only by its permission bits: the file (0444) or its folder (0555).

    framewise honours the bits even for root (who could write anyway), so this works in CI
    containers running as root as well as for ordinary users."""
    target = project / PROJECT_FILE if request.param == "file" else project
    mode = target.stat().st_mode
    target.chmod(0o444 if request.param == "file" else 0o555)
    yield request.param
    target.chmod(mode)


@pytest.mark.parametrize("name", READERS + WRITERS)
def test_a_read_only_project_can_be_read_but_not_written(capsys, template, project, tmp_path, read_only, name):
    reference = reference_outputs(capsys, template, tmp_path)
    argv = commands(template, project, tmp_path)[name]
    if name in WRITERS:
        what = "the project file is read-only" if read_only == "file" else f"its folder {project} is read-only"
        fails(capsys, tmp_path, *argv, words=(what, "this command writes to the project"))
    else:
        before = snapshot(project)
        code, _, err = run(capsys, *argv)
        assert code == 0, err
        assert written(name, tmp_path) == reference[name]
        assert snapshot(project) == before  # not even a -wal or -shm file appeared
        assert sorted(p.name for p in project.iterdir()) == [PROJECT_FILE]


def test_a_new_project_is_not_created_in_a_read_only_folder(capsys, template, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        fails(capsys, tmp_path, "import", parent / "p", "--format", "coco", template[1],
              words=(f"the folder {parent} is read-only",))
    finally:
        parent.chmod(0o755)


# -- database files that are links or not files (issue #17) --------------------------------------


@pytest.mark.parametrize("name", READERS + WRITERS)
@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal", ""])
def test_a_symlinked_database_file_is_refused_naming_it(capsys, template, project, tmp_path, name, suffix):
    """A linked ``project.sqlite-wal`` only said "unable to open database file" (a linked
    ``-shm`` even exported): each link is refused by name, and its target stays untouched."""
    link = project / f"{PROJECT_FILE}{suffix}"
    target = tmp_path / "elsewhere" / f"target{suffix}"
    target.parent.mkdir()
    if suffix:
        target.write_bytes(b"not a part of the project\n")
    else:
        link.rename(target)  # the database itself lives elsewhere and is linked in
    os.symlink(target, link)
    fails(capsys, tmp_path, *commands(template, project, tmp_path)[name],
          words=(f"{project}: {PROJECT_FILE}{suffix} is a symbolic link", "does not follow links", "remove it"))


@pytest.mark.parametrize("name", ["export", "import"])
def test_a_folder_in_place_of_the_write_ahead_log_is_refused(capsys, template, project, tmp_path, name):
    (project / f"{PROJECT_FILE}-wal").mkdir()
    fails(capsys, tmp_path, *commands(template, project, tmp_path)[name],
          words=(f"{PROJECT_FILE}-wal is a folder, not a regular file",))


def test_a_new_project_is_not_created_through_a_dangling_link(capsys, template, tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere" / "db", folder / PROJECT_FILE)
    code, out, err = run(capsys, "import", folder, "--format", "coco", template[1])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{folder}: {PROJECT_FILE} is a symbolic link" in err
    assert list((tmp_path / "elsewhere").iterdir()) == []  # SQLite did not create a database through it
    assert sorted(p.name for p in folder.iterdir()) == [PROJECT_FILE]


# -- ontologies ------------------------------------------------------------------------------

BAD_ONTOLOGIES = {
    "duplicate names": ([{"name": "car", "shape": "polygon"}, {"name": "car", "shape": "bounding_box"}],
                        "duplicate class name 'car'"),
    "unknown shape": ([{"name": "car", "shape": "circle"}], "unknown shape 'circle'"),
}


@pytest.mark.parametrize("case", BAD_ONTOLOGIES)
@pytest.mark.parametrize("name", ["import", "replay", "annotate"])
def test_a_bad_ontology_file_fails_before_a_project_exists(capsys, monkeypatch, template, tmp_path, case, name):
    from ui.cli import main as ui_main

    # Headless: with a display (the GUI tests' Xvfb, when they ran first) annotate would show
    # the error in a dialog and wait for a person.
    monkeypatch.delenv("DISPLAY", raising=False)

    entries, words = BAD_ONTOLOGIES[case]
    ontology = tmp_path / "ontology.json"
    ontology.write_text(json.dumps(entries))
    new = tmp_path / "new" / "p"
    argv = {
        "import": ["import", new, "--format", "coco", template[1], "--ontology", ontology],
        "replay": ["replay", template[2], STILL, "--project", new, "--ontology", ontology],
        "annotate": ["annotate", STILL, "--project", new, "--ontology", ontology],
    }[name]
    before = snapshot(tmp_path)
    code = ui_main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(ontology) in err and words in err, err
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", BAD_ONTOLOGIES)
def test_bad_classes_inside_an_import_file_fail_before_a_project_exists(capsys, template, tmp_path, case):
    entries, words = BAD_ONTOLOGIES[case]
    coco = json.loads(template[1].read_text())
    coco["categories"] = [
        {"id": index + 1, "name": entry["name"], "shape": entry["shape"]} for index, entry in enumerate(entries)
    ]
    coco["annotations"] = []
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(coco))
    fails(capsys, tmp_path, "import", tmp_path / "new", "--format", "coco", path, words=("categories", words))


# -- failures after the project was created or opened ----------------------------------------


@pytest.mark.parametrize("existing_folder", [False, True])
def test_an_import_whose_merge_fails_leaves_no_project_behind(capsys, template, tmp_path, existing_folder):
    ontology = tmp_path / "ontology.json"
    ontology.write_text(json.dumps([{"name": "object", "shape": "polygon"}]))  # no 'box' class
    target = tmp_path / "empty" if existing_folder else tmp_path / "a" / "b" / "p"
    if existing_folder:
        target.mkdir()
    fails(capsys, tmp_path, "import", target, "--format", "coco", template[1], "--ontology", ontology,
          words=("class 'box'", "is not in the project"))
    assert existing_folder == target.exists() and not (tmp_path / "a").exists()


def test_a_replay_that_fails_midway_leaves_an_existing_project_unchanged(capsys, template, project, tmp_path, monkeypatch):
    import engine.sessions.replay
    from engine.errors import MediaError

    real = engine.sessions.replay.replay_session
    calls = []

    def replay_then_fail(session, media, editor, **kw):
        report = real(session, media, editor, **kw)  # opens the media, records its events...
        calls.append(len(editor.store.events()))
        raise MediaError("decoding stopped at frame 0 (simulated)")

    monkeypatch.setattr(engine.sessions.replay, "replay_session", replay_then_fail)
    with Project.open(project) as opened:
        events_before = len(opened.events())
    fails(capsys, tmp_path, *commands(template, project, tmp_path)["replay"], words=("simulated",))
    assert calls and calls[0] > events_before  # events were written, then rolled back
    fails(capsys, tmp_path, "replay", template[2], STILL, "--project", tmp_path / "fresh" / "p", words=("simulated",))
    assert not (tmp_path / "fresh").exists()


# -- sessions and media ----------------------------------------------------------------------


def test_session_export_of_media_the_project_lacks_lists_its_media(capsys, template, project, tmp_path):
    fails(capsys, tmp_path, "session", "export", project, "--out", tmp_path / "S2.json", "--media", "other.mp4",
          words=("no media matches --media 'other.mp4'", f"media: {STILL}"))


def test_replay_on_another_media_is_allowed_and_noted(capsys, template, tmp_path):
    code, out, err = run(capsys, "replay", template[2], FRAMES, "--project", tmp_path / "a", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["same_media"] is False
    (note,) = result["notes"]
    assert f"not the media the session was recorded on ({STILL}" in note and "scaled to 640x360" in note
    code, out, err = run(capsys, "replay", template[2], FRAMES, "--project", tmp_path / "b")
    assert code == 0 and "\n  note: " in out
    code, out, err = run(capsys, "replay", template[2], STILL, "--project", tmp_path / "c", "--json")
    assert code == 0 and json.loads(out)["same_media"] is True and json.loads(out)["notes"] == []


# -- media names from import files are names, never paths ------------------------------------

EVIL = "../../etc/passwd"


def _evil_coco(path: Path, name: str) -> Path:
    data = {
        "categories": [{"id": 1, "name": "thing", "shape": "bounding_box"}],
        "videos": [{"name": name, "width": 64, "height": 48, "frames": 3, "fps": 10.0}],
        "images": [{"id": 1, "file_name": "x/000000.jpg", "width": 64, "height": 48, "video": name, "frame_index": 0}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 12], "track_id": 1}],
    }
    path.write_text(json.dumps(data))
    return path


def _evil_cvat(path: Path, name: str) -> Path:
    info = MediaInfo(name, "", 64, 48, 3, 10.0)
    dataset = Dataset(default_ontology(), [info], [Label(1, 1, "box", Box(1, 2, 11, 14), media=name)])
    path.write_text(to_cvat_video(dataset, name))
    return path


_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # permanent, but records only while a test sets _opened


@pytest.mark.parametrize("fmt, make", [("coco", _evil_coco), ("cvat-video", _evil_cvat)])
def test_media_names_with_dot_dot_are_kept_as_names_and_never_opened(capsys, tmp_path, monkeypatch, fmt, make):
    global _opened

    def no_media(*args, **kwargs):
        raise AssertionError(f"a media was opened: {args}")

    monkeypatch.setattr("engine.media.open_media", no_media)
    monkeypatch.setattr("engine.media.media_info", no_media)
    work = tmp_path / "work"
    work.mkdir()
    source = make(work / ("in.json" if fmt == "coco" else "in.xml"), EVIL)
    _opened = []
    try:
        code, out, err = run(capsys, "import", work / "p", "--format", fmt, source)
        assert code == 0, err
        for export_format in ("coco", "yolo", "cvat-video", "mot", "davis"):
            code, out, err = run(capsys, "export", work / "p", "--format", export_format, "--out", work / "out" / export_format)
            assert code == 0, err
    finally:
        opened, _opened = _opened, None
    # The name as a path (../../etc/passwd) is never opened; files named after it (passwd.xml,
    # labels/passwd/…) are written inside the outputs only. (Bare names are shutil.rmtree
    # opening folders relative to their parent's descriptor.)
    assert not [path for path in opened if "etc/passwd" in path]
    named = [path for path in opened if "passwd" in path and "/" in path]
    assert named and all((work / "out").resolve() in Path(path).resolve().parents for path in named)
    with Project.open(work / "p") as project:
        assert [info.name for info in project.media()] == [EVIL]  # stored as the name it is
    everything = [p.resolve() for p in tmp_path.rglob("*")]
    assert all(work.resolve() in p.parents or p == work.resolve() for p in everything)
    assert sorted(p.name for p in (work / "out" / "cvat-video").iterdir()) == ["passwd.xml"]


@pytest.mark.parametrize("name, words", [("clip\n.mp4", "control characters"), ("   ", "non-empty media name"),
                                         ("x" * 5000, "5000 characters")])
def test_unusable_media_names_are_refused(capsys, tmp_path, name, words):
    for fmt, make in (("coco", _evil_coco), ("cvat-video", _evil_cvat)):
        source = make(tmp_path / ("in.json" if fmt == "coco" else "in.xml"), name)
        fails(capsys, tmp_path, "import", tmp_path / "p", "--format", fmt, source, words=(words,))
        source.unlink()
