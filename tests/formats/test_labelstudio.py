"""Label Studio JSON: files shaped as Label Studio exports them, keyframe interpolation as
Label Studio shows it, round trips, and malformed input refused with nothing written."""

import copy
import json

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import FormatWarning, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.labelstudio import to_label_studio
from engine.formats.labelstudio_import import from_label_studio, import_label_studio
from engine.formats.labelstudio_video import Keyframe, expand, keyframe_labels
from engine.formats.writers import export_dataset
from engine.ontology import Ontology
from engine.project import Project
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon
from tests.formats.test_export_samples import VIDEO, sample_dataset


def _task(task_id, image, result, *, cancelled=False, extra_annotations=()):
    """A task as Label Studio's JSON export writes it (fields of Label Studio 1.x)."""
    annotation = {
        "id": task_id,
        "completed_by": 1,
        "result": result,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2024-03-04T10:11:12.123456Z",
        "updated_at": "2024-03-04T10:11:12.123456Z",
        "draft_created_at": None,
        "lead_time": 12.5,
        "prediction": {},
        "result_count": 0,
        "unique_id": "0c8d1ac8-7ec1-4a1b-9b64-0f7f4b3e2a11",
        "import_id": None,
        "last_action": None,
        "task": task_id,
        "project": 1,
        "updated_by": 1,
        "parent_prediction": None,
        "parent_annotation": None,
        "last_created_by": None,
    }
    return {
        "id": task_id,
        "annotations": [annotation, *extra_annotations],
        "file_upload": image.rsplit("/", 1)[-1],
        "drafts": [],
        "predictions": [],
        "data": {"image": image},
        "meta": {},
        "created_at": "2024-03-04T10:00:00.000000Z",
        "updated_at": "2024-03-04T10:11:12.000000Z",
        "inner_id": task_id,
        "total_annotations": 1,
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 1,
        "updated_by": 1,
        "comment_authors": [],
    }


def _rectangle(region_id, x, y, w, h, label, rotation=0):
    return {
        "original_width": 800,
        "original_height": 600,
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]},
        "id": region_id,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "origin": "manual",
    }


def _polygon(region_id, points, label):
    return {
        "original_width": 800,
        "original_height": 600,
        "image_rotation": 0,
        "value": {"points": points, "closed": True, "polygonlabels": [label]},
        "id": region_id,
        "from_name": "label",
        "to_name": "image",
        "type": "polygonlabels",
        "origin": "manual",
    }


NATIVE_IMAGES = [
    _task(2, "/data/upload/1/5d7b4c91-frame_10.jpg", [_rectangle("n2ldmn1Adh", 50, 50, 25, 10, "Car")]),
    _task(
        1,
        "/data/upload/1/abc-frame_2.jpg",
        [
            _rectangle("Hd9ZLm0-qX", 12.5, 25, 50, 50, "Car"),
            _polygon("u5nfNq7yBR", [[10, 10], [20, 10], [20, 30.5]], "Person"),
            {"value": {"choices": ["Day"]}, "id": "aNc3k1", "from_name": "time", "to_name": "image",
             "type": "choices", "origin": "manual"},
        ],
        extra_annotations=[{"id": 9, "result": [], "was_cancelled": False}],
    ),
]


def test_a_label_studio_image_export_imports(tmp_path):
    path = tmp_path / "project-1-at-2024-03-04-10-12-3f1c2d9a.json"
    path.write_text(json.dumps(NATIVE_IMAGES), encoding="utf-8")
    with pytest.warns(FormatWarning) as caught:
        dataset = import_label_studio(path)
    notes = sorted(str(w.message) for w in caught)
    assert notes == [
        "label-studio: 1 further annotations of a task left out (the first one not cancelled is read)",
        "label-studio: 1 results of type 'choices' left out (not a box or polygon)",
    ]
    (info,) = dataset.media
    # the upload folder names the media; Label Studio's 8-hex upload prefix is taken off
    assert (info.name, info.width, info.height) == ("upload/1", 800, 600)
    assert info.frame_names == ("abc-frame_2.jpg", "frame_10.jpg")  # natural order
    assert [(c.name, c.shape) for c in dataset.ontology] == [("Car", "bounding_box"), ("Person", "polygon")]
    labels = {(l.frame_index, l.class_name): l for l in dataset.labels}
    assert labels[(0, "Car")].shape == Box(100.0, 150.0, 500.0, 450.0)  # percent of 800x600
    assert labels[(1, "Car")].shape == Box(400.0, 300.0, 600.0, 360.0)
    ring = labels[(0, "Person")].shape.parts[0][0]
    assert ring.tolist() == [[80.0, 60.0], [160.0, 60.0], [160.0, 183.0]]
    assert all((l.source, l.confirmed) == ("manual", True) for l in dataset.labels)
    assert len({l.object_id for l in dataset.labels}) == 3  # each region is its own object


def test_a_rotated_rectangle_becomes_the_upright_box_around_it():
    task = _task(1, "/data/local-files/?d=shots/a.jpg", [_rectangle("r1", 50, 50, 10, 10, "Car", rotation=90)])
    result = from_label_studio([task])
    assert result.notes == ["label-studio: 1 rotated rectangles imported as the upright box around them"]
    (label,) = result.dataset.labels
    # rotated 90° clockwise about its top-left corner (400, 300): 80 px wide becomes 80 px down
    assert label.shape == Box(340.0, 300.0, 400.0, 380.0)
    assert result.dataset.media[0].name == "shots"


# Label Studio's own video result (its editor's test fixture), frame 1 enabled, frame 3
# disabled, and a second region kept on to the end of the video.
NATIVE_VIDEO = [
    {
        "id": 7,
        "data": {"video": "/data/upload/3/0f3a9b12-opossum_intro.webm", "width": 1280, "height": 720},
        "annotations": [
            {
                "id": 11,
                "result": [
                    {
                        "value": {
                            "framesCount": 131,
                            "duration": 5.425,
                            "sequence": [
                                {"frame": 1, "enabled": True, "rotation": 0, "x": 20.54721030042918,
                                 "y": 15.665236051502147, "width": 58.90557939914163, "height": 68.6695278969957,
                                 "time": 0.041666666666666664},
                                {"x": 20.54721030042918, "y": 15.665236051502147, "width": 58.90557939914163,
                                 "height": 68.6695278969957, "rotation": 0, "enabled": False, "frame": 3,
                                 "time": 0.125},
                            ],
                            "labels": ["Label 1"],
                        },
                        "id": "RRxnu061g3",
                        "from_name": "box",
                        "to_name": "video",
                        "type": "videorectangle",
                        "origin": "manual",
                    },
                    {
                        "value": {
                            "framesCount": 131,
                            "duration": 5.425,
                            "sequence": [
                                {"frame": 10, "enabled": True, "rotation": 0, "x": 10, "y": 10, "width": 10,
                                 "height": 10, "time": 0.4166},
                                {"frame": 20, "enabled": True, "rotation": 0, "x": 30, "y": 10, "width": 20,
                                 "height": 10, "time": 0.8333},
                            ],
                            "labels": ["Label 2"],
                        },
                        "id": "k2Jd8s0PqA",
                        "from_name": "box",
                        "to_name": "video",
                        "type": "videorectangle",
                        "origin": "manual",
                    },
                ],
                "was_cancelled": False,
                "ground_truth": False,
            }
        ],
        "predictions": [],
    }
]


def test_a_label_studio_video_export_imports_with_interpolation():
    dataset = from_label_studio(NATIVE_VIDEO).dataset
    (info,) = dataset.media
    assert (info.name, info.frames, info.width, info.height) == ("upload/3/opossum_intro.webm", 131, 1280, 720)
    assert info.fps == pytest.approx(131 / 5.425)
    first = sorted((l for l in dataset.labels if l.class_name == "Label 1"), key=lambda l: l.frame_index)
    # frames 1..3 (Label Studio counts from 1); the disabled keyframe still shows on its frame
    assert [(l.frame_index, l.source, l.confirmed) for l in first] == [
        (0, "manual", True), (1, "interpolated", False), (2, "manual", True)
    ]
    second = {l.frame_index: l for l in dataset.labels if l.class_name == "Label 2"}
    assert sorted(second) == list(range(9, 131))  # from its first keyframe, held to the end
    assert second[14].shape == Box(256.0, 72.0, 448.0, 144.0)  # halfway: x 20 %, width 15 %
    assert second[130].shape == Box(384.0, 72.0, 640.0, 144.0)  # the last keyframe held
    assert (second[14].source, second[19].source, second[20].source) == ("interpolated", "manual", "interpolated")


def test_label_studio_lifespans_follow_its_editor():
    key = lambda f, on, x: Keyframe(f, on, x, 0.0, 1.0, 1.0)  # noqa: E731
    shown = expand([key(2, True, 0.0), key(4, False, 4.0), key(7, True, 7.0)], frames_count=8)
    assert [(b.frame, b.values[0], b.keyframe) for b in shown] == [
        (2, 0.0, True), (3, 2.0, False), (4, 4.0, True), (7, 7.0, True), (8, 7.0, False)
    ]
    assert [(b.frame, b.keyframe) for b in expand([key(5, False, 0.0)], frames_count=9)] == [(5, True)]


def test_keyframes_are_the_confirmed_labels_and_the_ends_of_each_run():
    box = Box(0, 0, 1, 1)
    labels = [Label(1, k, "car", box, confirmed=k in (0, 3)) for k in (0, 1, 2, 3, 4, 5, 9, 10)]
    chosen = [(label.frame_index, enabled) for label, enabled in keyframe_labels(labels, frames=11)]
    assert chosen == [(0, True), (3, True), (5, False), (9, True), (10, True)]  # the last run reaches the end


def _video_dataset():
    ontology = Ontology.from_json([{"name": "car", "shape": "bounding_box"}, {"name": "person", "shape": "polygon"}])
    video = MediaInfo("clips/road.mp4", "fp", 640, 480, 30, 25.0)
    square = np.array([[10.0, 10.0], [50.0, 10.0], [50.0, 60.0], [10.0, 60.0]])
    hole = np.array([[20.0, 20.0], [30.0, 20.0], [30.0, 30.0]])
    labels = [
        Label(1, 0, "car", Box(10, 20, 110, 220), LabelSource.MANUAL, media=video.name),
        Label(1, 1, "car", Box(13.5, 20, 113.5, 220), LabelSource.PROPAGATED, 0.75, False, media=video.name),
        Label(1, 2, "car", Box(14, 20, 114, 220), LabelSource.PROPAGATED, 0.7, False, media=video.name),
        Label(1, 6, "car", Box(20, 20, 120, 220), LabelSource.MANUAL, media=video.name),
        Label(1, 29, "car", Box(20, 22, 120, 222), LabelSource.SAM, media=video.name),
        Label(2, 4, "person", Polygon(((square, hole), (square + 100,))), media=video.name),
    ]
    return Dataset(ontology, [video], labels, {(video.name, 1): "red car"})


def test_a_video_exports_as_one_task_with_keyframes_and_polygons_as_image_tasks():
    result = to_label_studio(_video_dataset())
    assert sorted(result.notes) == [
        "label-studio: 1 polygon labels lost their holes (Label Studio polygons have none)",
        "label-studio: 1 polygon labels of videos written as per-frame image tasks (Label Studio has no video polygons)",
    ]
    video_task, polygon_task = result.tasks
    (track,) = video_task["annotations"][0]["result"]
    assert (track["type"], track["from_name"], track["to_name"]) == ("videorectangle", "box", "video")
    assert track["value"]["framesCount"] == 30 and track["value"]["labels"] == ["car"]
    frames = [(k["frame"], k["enabled"]) for k in track["value"]["sequence"]]
    assert frames == [(1, True), (3, False), (7, False), (30, True)]  # frame 2 (propagated) is interpolated
    assert track["value"]["sequence"][0] == {
        "frame": 1, "enabled": True, "x": 10 / 640 * 100, "y": 20 / 480 * 100, "width": 100 / 640 * 100,
        "height": 200 / 480 * 100, "rotation": 0, "time": 0.0,
    }
    assert polygon_task["data"]["image"] == "road/000004.jpg"
    regions = polygon_task["annotations"][0]["result"]
    assert [r["type"] for r in regions] == ["polygonlabels", "polygonlabels"]  # one per part
    assert regions[0]["value"]["points"][0] == [10 / 640 * 100, 10 / 480 * 100]


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("make", [sample_dataset, _video_dataset])
def test_export_import_export_gives_identical_files(tmp_path, make):
    dataset = make()
    with pytest.warns(FormatWarning) as first:
        export_dataset(dataset, "label-studio", tmp_path / "a")
    again = import_label_studio(tmp_path / "a" / "label-studio.json")
    with pytest.warns(FormatWarning) as second:
        export_dataset(again, "label-studio", tmp_path / "b")
    assert any("lost their holes" in str(w.message) for w in first)
    assert not any("lost their holes" in str(w.message) for w in second)  # lost the first time
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert [(m.name, m.frames, m.width, m.height, m.fps, m.fingerprint, m.frame_names) for m in again.media] == [
        (m.name, m.frames, m.width, m.height, m.fps, m.fingerprint, m.frame_names) for m in dataset.media
    ]
    assert again.object_names == dataset.object_names


def test_what_a_round_trip_keeps_of_video_boxes(tmp_path):
    with pytest.warns(FormatWarning):
        export_dataset(_video_dataset(), "label-studio", tmp_path)
    again = import_label_studio(tmp_path / "label-studio.json")
    car = {l.frame_index: l for l in again.labels if l.object_id == 1}
    assert sorted(car) == [0, 1, 2, 6, 29]
    # keyframes come back confirmed and manual; the propagated frame 1 is Label Studio's interpolation
    assert [(car[k].source, car[k].confirmed) for k in (0, 1, 2)] == [
        ("manual", True), ("interpolated", False), ("manual", True)
    ]
    assert car[1].shape == Box(12.0, 20.0, 112.0, 220.0)
    assert car[29].shape == Box(20.0, 22.0, 120.0, 222.0)
    person = next(l for l in again.labels if l.object_id == 2)
    assert (person.frame_index, len(person.shape.parts), [len(p) for p in person.shape.parts]) == (4, 2, [1, 1])


def test_a_video_without_frame_size_is_refused_with_the_fix():
    tasks = copy.deepcopy(NATIVE_VIDEO)
    del tasks[0]["data"]["width"], tasks[0]["data"]["height"]
    with pytest.raises(SessionFormatError, match=r'no frame size; add "width" and "height"'):
        from_label_studio(tasks)


def _broken(path, change):
    tasks = copy.deepcopy(NATIVE_VIDEO if "video" in path else NATIVE_IMAGES)
    change(tasks)
    return tasks


MALFORMED = [
    ("images", lambda t: t[0].pop("data"), r"tasks\[0\]: missing key 'data'"),
    ("images", lambda t: t[0]["annotations"][0]["result"][0]["value"].update(width=0), r"empty box"),
    ("images", lambda t: t[1]["annotations"][0]["result"][1]["value"].update(points=[[1, 1], [2, 2]]),
     r"polygon with 2 points"),
    ("images", lambda t: t[0]["annotations"][0]["result"][0]["value"].update(x="10"), r"expected a finite number"),
    ("images", lambda t: t[0]["annotations"][0]["result"][0].update(original_width=-5), r"must be positive"),
    ("images", lambda t: t[0]["annotations"][0]["result"][0]["value"].update(x=500), r"wholly outside"),
    ("images", lambda t: t[0]["annotations"][0].update(result={"x": 1}), r"result: expected a list"),
    ("video", lambda t: t[0]["annotations"][0]["result"][0]["value"]["sequence"][1].update(frame=132),
     r"outside the video's frames 1\.\.131"),
    ("video", lambda t: t[0]["annotations"][0]["result"][0]["value"]["sequence"][1].update(frame=1),
     r"keyframe 1 twice"),
    ("video", lambda t: t[0]["annotations"][0]["result"][0]["value"]["sequence"][0].update(enabled="yes"),
     r"enabled: expected true/false"),
    ("video", lambda t: t[0]["annotations"][0]["result"][0]["value"].update(framesCount=10**9),
     r"over the limit"),
    ("video", lambda t: t[0]["annotations"][0]["result"][0].update(framewise={"object": 1, "source": "magic"}),
     r"unknown source 'magic'"),
]


@pytest.mark.parametrize(("which", "change", "message"), MALFORMED)
def test_malformed_label_studio_files_are_refused_and_nothing_is_written(tmp_path, capsys, which, change, message):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_broken(which, change)), encoding="utf-8")
    with pytest.raises(SessionFormatError, match=message):
        import_label_studio(path)
    assert main(["import", str(tmp_path / "project"), "--format", "label-studio", str(path)]) == 2
    assert "framewise: error:" in capsys.readouterr().err
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize("text", ["{not json", '{"tasks": []}', "[1]", "[]"])
def test_files_that_are_not_label_studio_exports_are_refused(tmp_path, text):
    path = tmp_path / "export.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SessionFormatError):
        import_label_studio(path)


def test_the_cli_imports_a_label_studio_file_and_prints_its_warnings(tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(NATIVE_IMAGES), encoding="utf-8")
    assert main(["import", str(tmp_path / "project"), "--format", "label-studio", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["labels"] == 3
    assert "framewise: warning: label-studio: 1 results of type 'choices' left out" in err
    with Project.open(tmp_path / "project", read_only=True) as project:
        assert [info.name for info in project.media()] == ["upload/1"]
    assert main(["export", str(tmp_path / "project"), "--format", "label-studio", "--out", str(tmp_path / "out")]) == 0
    tasks = json.loads((tmp_path / "out" / "label-studio.json").read_text())
    assert [task["data"]["image"] for task in tasks] == ["1/abc-frame_2.jpg", "1/frame_10.jpg"]


def test_video_polygons_of_the_sample_go_to_image_tasks_on_their_frames(tmp_path):
    dataset = sample_dataset()
    tasks = to_label_studio(dataset).tasks
    video_polygon_frames = sorted(
        t["data"]["framewise"]["frame"] for t in tasks if t["data"].get("framewise", {}).get("media") == VIDEO
        and "image" in t["data"]
    )
    expected = sorted({l.frame_index for l in dataset.labels if l.media == VIDEO and isinstance(l.shape, Polygon)})
    assert video_polygon_frames == expected


def test_mutated_label_studio_files_import_or_fail_with_one_clear_error():
    """Random damage to Label Studio exports: either a dataset that exports again, or SessionFormatError."""
    import random
    import warnings

    bases = [NATIVE_IMAGES, NATIVE_VIDEO, json.loads(json.dumps(to_label_studio(_video_dataset()).tasks))]
    values = [None, True, 0, -1, 2**70, 1e308, float("nan"), "", "x", [], {}, [1, 2], 0.5, 131]
    rng = random.Random(19)

    def paths(item, path=()):
        yield path
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, value in children:
            yield from paths(value, (*path, key))

    worked = 0
    for _ in range(400):
        tasks = copy.deepcopy(rng.choice(bases))
        path = rng.choice([p for p in paths(tasks) if len(p) > 1])
        parent = tasks
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(rng.choice(values))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = from_label_studio(tasks).dataset
                dataset.check()
                to_label_studio(dataset)
            worked += 1
        except SessionFormatError:
            pass
    assert worked > 50


def test_the_cli_export_prints_what_label_studio_cannot_hold(tmp_path, capsys):
    dataset = _video_dataset()
    with Project.create(tmp_path / "project", dataset.ontology) as project:
        for info in dataset.media:
            project.add_media(info)
        with project.group("seed"):
            for label in dataset.labels:
                project.put(label)
    assert main(["export", str(tmp_path / "project"), "--format", "label-studio", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "framewise: warning: label-studio: 1 polygon labels of videos written as per-frame image tasks" in err
    assert "framewise: warning: label-studio: 1 polygon labels lost their holes" in err
    assert [t["id"] for t in json.loads((tmp_path / "out" / "label-studio.json").read_text())] == [1, 2]
