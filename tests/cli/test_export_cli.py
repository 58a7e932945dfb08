"""`framewise export` / `framewise import` on SQLite projects: identical files after a round trip."""

import contextlib
import json
import os
import sqlite3

import pytest

from engine.cli import export as commands_export
from engine.cli.main import main
from engine.formats import FORMATS, IMPORT_FORMATS
from engine.ontology import Ontology
from engine.formats.coco import to_coco
from engine.project import Project
from engine.project.schema import PROJECT_FILE
from engine.types import Box, Label, LabelClass, MediaInfo
from tests.formats.test_export_samples import FOLDER, VIDEO, sample_dataset
from tests.project.test_project_store import V0_SCHEMA


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


@pytest.fixture
def project_dir(tmp_path, dataset):
    folder = tmp_path / "project"
    with Project.create(folder, dataset.ontology) as project:
        for info in dataset.media:
            project.add_media(info)
        with project.group("seed"):
            for label in dataset.labels:
                project.put(label)
            for (media, object_id), name in dataset.object_names.items():
                project.rename_object(media, object_id, name)
    return folder


def test_the_cli_offers_the_engine_formats():
    assert commands_export.FORMATS == FORMATS
    assert commands_export.IMPORT_FORMATS == IMPORT_FORMATS


def test_coco_export_import_export_gives_identical_files(capsys, tmp_path, project_dir, dataset):
    code, out, _ = run(capsys, "export", project_dir, "--format", "coco", "--out", tmp_path / "a", "--json")
    assert code == 0 and json.loads(out)["labels"] == len(dataset.labels)
    first = tmp_path / "a" / "annotations" / "instances_default.json"
    assert json.loads(first.read_text()) == to_coco(dataset)  # the project keeps shapes exactly
    code, out, _ = run(capsys, "import", tmp_path / "copy", "--format", "coco", first, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["created"] and summary["labels"] == len(dataset.labels) and summary["remapped_objects"] == []
    code, _, _ = run(capsys, "export", tmp_path / "copy", "--format", "coco", "--out", tmp_path / "b")
    assert code == 0
    assert (tmp_path / "b" / "annotations" / "instances_default.json").read_bytes() == first.read_bytes()


def test_cvat_export_import_export_gives_identical_files(capsys, tmp_path, project_dir):
    assert run(capsys, "export", project_dir, "--format", "cvat-video", "--out", tmp_path / "a")[0] == 0
    first = _files(tmp_path / "a")
    assert sorted(first) == ["frames.xml", "video.xml"]
    for name in first:
        code, _, err = run(capsys, "import", tmp_path / "copy", "--format", "cvat-video", tmp_path / "a" / name)
        assert code == 0, err
    assert run(capsys, "export", tmp_path / "copy", "--format", "cvat-video", "--out", tmp_path / "b")[0] == 0
    assert _files(tmp_path / "b") == first


def test_reimporting_replaces_and_is_one_undo_step(capsys, tmp_path, project_dir, dataset):
    assert run(capsys, "export", project_dir, "--format", "coco", "--out", tmp_path / "a")[0] == 0
    code, out, _ = run(capsys, "import", project_dir, "--format", "coco", tmp_path / "a" / "annotations" / "instances_default.json", "--json")
    assert code == 0
    summary = json.loads(out)
    assert not summary["created"] and summary["media_added"] == 0 and summary["remapped_objects"] == []
    with Project.open(project_dir) as project:
        assert len(project.labels()) == len(dataset.labels)  # replaced, not doubled
        assert project.undo().kind == "import"


def test_clashing_object_ids_get_fresh_ids(capsys, tmp_path, dataset):
    folder = tmp_path / "other"
    with Project.create(folder, dataset.ontology) as project:
        project.add_media(dataset.media[0])
        project.put(Label(1, 0, "leaf", Box(0, 0, 10, 10), media=VIDEO))  # object 1 is a leaf here
    source = tmp_path / "src.json"
    source.write_text(json.dumps(to_coco(dataset)))
    code, out, _ = run(capsys, "import", folder, "--format", "coco", source, "--json")
    assert code == 0
    remapped = {(r["media"], r["from"]): r["to"] for r in json.loads(out)["remapped_objects"]}
    assert list(remapped) == [(VIDEO, 1)]
    assert remapped[(VIDEO, 1)] not in {l.object_id for l in dataset.labels}  # free in project and import
    with Project.open(folder) as project:
        assert project.get(VIDEO, 0, 1).class_name == "leaf"
        assert project.get(VIDEO, 0, remapped[(VIDEO, 1)]).class_name == "ball"
        names = {(o.media, o.object_id): o.name for o in project.objects()}
        assert names[(VIDEO, remapped[(VIDEO, 1)])] == "the ball"


def test_media_option_and_the_other_formats(capsys, tmp_path, project_dir):
    out_dir = tmp_path / "m"
    code, out, _ = run(capsys, "export", project_dir, "--format", "mot", "--out", out_dir, "--media", "frames", "--json")
    assert code == 0 and json.loads(out)["media"] == 1
    assert sorted(_files(tmp_path / "m")) == ["frames/gt/gt.txt", "frames/gt/labels.txt", "frames/seqinfo.ini"]
    assert run(capsys, "export", project_dir, "--format", "yolo", "--out", tmp_path / "y")[0] == 0
    assert (tmp_path / "y" / "data.yaml").is_file() and (tmp_path / "y" / "labels" / "train" / "frames" / "frame_7.txt").is_file()
    assert run(capsys, "export", project_dir, "--format", "davis", "--out", tmp_path / "d", "--media", FOLDER)[0] == 0
    # one PNG per labelled frame (FOLDER_FRAMES), none for the 21 unlabelled ones
    assert sorted(p.name for p in (tmp_path / "d" / "frames").glob("*.png")) == ["00000.png", "00001.png", "00007.png"]


def test_errors_are_one_line(capsys, tmp_path, project_dir, dataset):
    code, _, err = run(capsys, "export", tmp_path / "none", "--format", "coco", "--out", tmp_path / "o")
    assert code == 2 and "not a framewise project" in err
    code, _, err = run(capsys, "export", project_dir, "--format", "coco", "--out", tmp_path / "o", "--media", "nope")
    assert code == 2 and "no media 'nope'" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    code, _, err = run(capsys, "import", tmp_path / "new", "--format", "coco", bad)
    assert code == 2 and f"{bad}: top level: missing key 'categories'" in err
    assert not (tmp_path / "new").exists()  # nothing created for a file that does not parse
    source = tmp_path / "src.json"
    source.write_text(json.dumps(to_coco(dataset)))
    folder = tmp_path / "boxes_only"
    Project.create(folder, Ontology([LabelClass("leaf", "bounding_box")])).close()
    code, _, err = run(capsys, "import", folder, "--format", "coco", source)
    assert code == 2 and "class 'ball' (polygon) is not in the project" in err
    assert len(err.strip().splitlines()) == 1


# -- nothing below --out is written through a symbolic link (issue #17, item 5) -------------

# The stem of CLIP is "clip": DAVIS writes clip/00000.png, MOT clip/gt/gt.txt, YOLO labels/train/000000.txt (one media: no media folder).
CLIP = "clip.mp4"


@pytest.fixture
def small_project(tmp_path):
    folder = tmp_path / "small"
    with Project.create(folder, Ontology([LabelClass("leaf", "bounding_box")])) as project:
        project.add_media(MediaInfo(CLIP, "fp", 8, 6, 3, 1.0))
        project.put(Label(1, 0, "leaf", Box(0, 0, 4, 4), media=CLIP))
    return folder


def _tree(folder):
    """Every entry below ``folder`` (links as links) with its content or link target."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        found[key] = ("->", os.readlink(path)) if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
    return found


@pytest.mark.parametrize(
    "fmt, link, real",
    [
        # a symlinked subfolder on the way to the files
        ("davis", "clip", ""),
        ("mot", "clip", ""),
        ("mot", "clip/gt", "clip"),
        ("yolo", "labels", ""),
        ("yolo", "labels/train", "labels"),
        # a symlinked target file
        ("coco", "annotations", ""),
        ("coco", "annotations/instances_default.json", "annotations"),
        ("cvat-video", "clip.xml", ""),
        ("davis", "clip/00000.png", "clip"),
        ("mot", "clip/gt/gt.txt", "clip/gt"),
        ("yolo", "data.yaml", ""),
    ],
)
def test_export_never_writes_through_a_symlink_below_out(capsys, tmp_path, small_project, fmt, link, real):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("untouched\n")
    out = tmp_path / "out"
    (out / real).mkdir(parents=True, exist_ok=True)
    target = outside / "keep.txt" if "." in link.rsplit("/", 1)[-1] else outside
    os.symlink(target, out / link)
    before_out, before_outside = _tree(out), _tree(outside)
    code, _, err = run(capsys, "export", small_project, "--format", fmt, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{out / link}: is a symbolic link" in err and "nothing was written" in err
    assert _tree(outside) == before_outside  # the link's target is unchanged
    assert _tree(out) == before_out  # nothing half-written, no staging folder left


def test_links_elsewhere_in_out_and_a_linked_out_are_fine(capsys, tmp_path, small_project):
    real = tmp_path / "real"
    (real / "other").mkdir(parents=True)
    os.symlink(tmp_path, real / "unrelated")  # not on the way to any file written
    os.symlink(real, tmp_path / "out")  # --out itself may be a link: the user chose it
    code, _, err = run(capsys, "export", small_project, "--format", "mot", "--out", tmp_path / "out")
    assert code == 2 and "the folder is not empty (2 entries: other, unrelated)" in err  # (issue 19)
    code, _, err = run(capsys, "export", small_project, "--format", "mot", "--out", tmp_path / "out", "--overwrite")
    assert code == 0, err
    assert sorted(p.relative_to(real).as_posix() for p in real.rglob("*") if p.is_file()) == [
        "clip/gt/gt.txt", "clip/gt/labels.txt", "clip/seqinfo.ini"
    ]
    assert (small_project / "project.sqlite").is_file()  # --overwrite removed the link, not what it points to


# -- export reads the project and never changes it (issue #17, item 11) ---------------------


@pytest.mark.parametrize("read_only", [False, True])
def test_export_of_an_old_schema_project_leaves_its_file_byte_identical(capsys, tmp_path, read_only):
    folder = tmp_path / "old"
    folder.mkdir()
    with contextlib.closing(sqlite3.connect(folder / PROJECT_FILE)) as db:
        db.executescript(V0_SCHEMA)  # schema 0: exporting used to migrate it in place
    if read_only:  # (which used to be refused: "needs upgrading, but the project file is read-only")
        (folder / PROJECT_FILE).chmod(0o444)
    before = _tree(folder)
    code, out, err = run(capsys, "export", folder, "--format", "coco", "--out", tmp_path / "out", "--json")
    assert code == 0, err
    assert _tree(folder) == before  # same bytes, no -wal / -shm left next to it
    data = json.loads((tmp_path / "out" / "annotations" / "instances_default.json").read_text())
    (annotation,) = data["annotations"]
    assert (annotation["track_id"], annotation["bbox"], annotation["review"]) == (5, [1.5, 2.0, 28.5, 38.25], False)
    assert data["objects"] == [{"video": "clip.mp4", "id": 5, "name": "old car"}]
    with sqlite3.connect(folder / PROJECT_FILE) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("0",)
    db.close()
