"""Replaying sessions: exact on the recorded media, scaled and frame-mapped on another one."""

import json
from pathlib import Path

import numpy as np
import pytest

from engine.editing.editor import Editor
from engine.geometry import mask_iou, shape_to_mask
from engine.media.fingerprint import media_info
from engine.media.open import open_media
from engine.ontology import Ontology
from engine.sessions.replay import nearest_frame, replay_session
from engine.demo.samples import first_click, load_manifest, mask_box
from engine.media.images import read_id_mask
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.sessions.record import SegmenterInfo, load_session, session_from_log, write_session
from engine.types import Box, Embedding, Polygon, Proposal

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_media"
MANIFEST = load_manifest(SAMPLES)
ONTOLOGY = Ontology.from_json(MANIFEST["classes"])
SERVER = {"window": (0, 0)}  # no embedding prefetch: replay tests stay cheap on 2 cores


class SpySegmenter:
    """The classic segmenter, remembering every prompt it was asked (N×2 points, box)."""

    def __init__(self) -> None:
        self.inner = ClassicSegmenter()
        self.name, self.model = self.inner.name, self.inner.model
        self.prompts = []

    def prepare(self, frame, quality):
        return self.inner.prepare(frame, quality)

    def predict(self, embedding, prompt):
        self.prompts.append((prompt.points.copy(), None if prompt.box is None else prompt.box.copy()))
        return self.inner.predict(embedding, prompt)


def object_pixels(frame_index: int, object_id: int) -> tuple[tuple[int, int], list[int]]:
    """Ground truth: (the object's deepest pixel, its box) on a video frame."""
    mask = read_id_mask(SAMPLES / "masks" / "video" / f"{frame_index:05d}.png") == object_id
    return first_click(mask), mask_box(mask)


def same_shape(a, b) -> bool:
    """Vertex for vertex (polygons) or corner for corner (boxes)."""
    if isinstance(a, Box) or isinstance(b, Box):
        return a == b
    return len(a.parts) == len(b.parts) and all(
        len(pa) == len(pb) and all(np.array_equal(ra, rb) for ra, rb in zip(pa, pb)) for pa, pb in zip(a.parts, b.parts)
    )


def record(media, segmenter, frames=(6, 10, 40), quality=0.3):
    """Label ball on frames[0] (box, click, exclude click), frame on frames[1] (box, click,
    candidate), leaf on frames[2] (click, reset, box), with a quality change between."""
    editor = Editor(segmenter, ONTOLOGY, quality=quality, frame_server_options=SERVER)
    editor.open(media)
    editor.toggle_sam()
    editor.goto(frames[0])
    editor.set_class("ball")
    (x, y), box = object_pixels(frames[0], 1)
    editor.drag_box(box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4)
    editor.click(x, y)
    editor.click(box[2] + 30, box[3] + 10, positive=False)
    editor.apply()
    editor.set_quality(quality - 0.05)
    editor.goto(frames[1])
    editor.set_class("frame")
    (x, y), box = object_pixels(frames[1], 2)
    editor.drag_box(box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4)
    editor.click(x, y)
    editor.cycle_candidate()
    editor.apply()
    editor.goto(frames[2])
    editor.set_class("leaf")
    (x, y), box = object_pixels(frames[2], 3)
    editor.click(x + 200, y - 100)
    editor.reset()
    editor.drag_box(box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4)
    editor.apply(object_id=7)
    editor.set_permanent(True)
    return editor


@pytest.fixture(scope="module")
def video_session(tmp_path_factory):
    """A session recorded on the sample video, exported to a file, the recorded labels and
    the prompts the segmenter saw."""
    segmenter = SpySegmenter()
    media = SAMPLES / "video.mp4"
    with record(media, segmenter) as editor:
        with open_media(media) as source:
            info = media_info(source)
        data = session_from_log(editor.log.events, info, ONTOLOGY, SegmenterInfo.of(segmenter, 0.3))
        labels = editor.labels()
    path = write_session(tmp_path_factory.mktemp("session") / "S.json", data)
    return path, labels, segmenter.prompts


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """The sample video at half size (320×180), every other frame of the first 24, at 12 fps:
    12 frames lasting 1 s, where the original has 48 at 24 fps."""
    import av
    import cv2

    path = tmp_path_factory.mktemp("media") / "small.mp4"
    with open_media(SAMPLES / "video.mp4") as source:
        frames = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in source.iter_frames(0, 24, 2)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"threads": "1"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_replay_on_the_same_video_reproduces_labels_exactly(video_session):
    path, recorded, prompts = video_session
    session = load_session(path)
    spy = SpySegmenter()
    with Editor(spy, session.ontology, quality=0.6, frame_server_options=SERVER) as editor:
        report = replay_session(session, SAMPLES / "video.mp4", editor)
        assert editor.quality == pytest.approx(0.25)  # the session's start quality, then its change
    assert report.skipped == [] and report.applied == len(session.events)
    # The segmenter saw the same prompts (to float rounding of the normalised coordinates).
    assert len(spy.prompts) == len(prompts) == 7
    for (points, box), (points_0, box_0) in zip(spy.prompts, prompts):
        np.testing.assert_allclose(points, points_0, atol=1e-4)
        assert (box is None) == (box_0 is None)
        np.testing.assert_allclose(box if box is not None else 0, box_0 if box_0 is not None else 0, atol=1e-4)
    assert len(recorded) == 3 and len(report.labels) == 3
    for original, replayed in zip(recorded, report.labels):
        assert (replayed.object_id, replayed.frame_index, replayed.class_name) == (
            original.object_id,
            original.frame_index,
            original.class_name,
        )
        assert type(replayed.shape) is type(original.shape) and same_shape(replayed.shape, original.shape)
        assert replayed.score == original.score
    assert [label.object_id for label in report.labels] == [1, 2, 7]
    assert isinstance(report.labels[2].shape, Box) and isinstance(report.labels[0].shape, Polygon)


def test_replay_on_the_same_image_folder_reproduces_labels_exactly(tmp_path):
    media = SAMPLES / "frames"
    segmenter = ClassicSegmenter()
    with record(media, segmenter, frames=(3, 9, 20), quality=0.25) as editor:
        with open_media(media) as source:
            info = media_info(source)
        data = session_from_log(editor.log.events, info, ONTOLOGY, SegmenterInfo.of(segmenter, 0.25))
        recorded = editor.labels()
    session = load_session(write_session(tmp_path / "S.json", data))
    with Editor(ClassicSegmenter(), session.ontology, frame_server_options=SERVER) as editor:
        report = replay_session(session, media, editor, map="time")  # same timing: same frames
    assert report.skipped == [] and len(report.labels) == len(recorded) == 3
    for original, replayed in zip(recorded, report.labels):
        assert (replayed.object_id, replayed.frame_index) == (original.object_id, original.frame_index)
        assert same_shape(replayed.shape, original.shape)


def test_replay_by_index_on_a_smaller_shorter_video_scales_and_reports(video_session, small_video):
    session = load_session(video_session[0])
    spy = SpySegmenter()
    with Editor(spy, session.ontology, frame_server_options=SERVER) as editor:
        report = replay_session(session, small_video, editor, map="index")
        assert editor.permanent is True  # state events after the skipped frame still apply
    kinds = [e.kind for e in session.events]
    frame_40 = kinds.index("goto", kinds.index("apply", kinds.index("apply") + 1))
    skipped = {s.index: s for s in report.skipped}
    assert "beyond the new media's 12 frames" in skipped[frame_40].reason
    on_40 = [i for i, e in enumerate(session.events) if i > frame_40 and e.kind in ("click", "reset", "box", "apply")]
    assert len(on_40) == 4 and all(skipped[i].reason == "frame 40 was skipped" for i in on_40)
    assert sorted(skipped) == [frame_40] + on_40
    assert report.applied == len(session.events) - len(skipped)
    assert [(l.frame_index, l.object_id) for l in report.labels] == [(6, 1), (10, 2)]

    # Every prompt reached the segmenter at half scale: pixel centres map to pixel centres.
    (bx, by), ball_box = object_pixels(6, 1)
    (fx, fy), frame_box = object_pixels(10, 2)
    half = lambda x: (x + 0.5) / 2 - 0.5  # noqa: E731
    outset = np.array([-4, -4, 4, 4])
    (points, box), (points_2, _), (points_3, _) = spy.prompts[:3]
    assert len(points) == 0
    np.testing.assert_allclose(box, (np.array(ball_box) + outset) / 2, atol=1e-4)
    np.testing.assert_allclose(points_2, [[half(bx), half(by)]], atol=1e-4)
    np.testing.assert_allclose(points_3, [[half(bx), half(by)], [half(ball_box[2] + 30), half(ball_box[3] + 10)]], atol=1e-4)
    (points, box), (points_2, _) = spy.prompts[3:5]
    np.testing.assert_allclose(box, (np.array(frame_box) + outset) / 2, atol=1e-4)
    np.testing.assert_allclose(points_2, [[half(fx), half(fy)]], atol=1e-4)
    assert len(spy.prompts) == 5  # nothing from frame 40 reached the segmenter


def test_replay_by_time_maps_frames_by_timestamp(video_session, small_video):
    path, recorded, _ = video_session
    session = load_session(path)
    with Editor(ClassicSegmenter(), session.ontology, frame_server_options=SERVER) as editor:
        report = replay_session(session, small_video, editor, map="time")
    # 24 fps -> 12 fps: original frames 6 and 10 are new frames 3 and 5; frame 40 (1.67 s)
    # lies past the new media's last frame (0.92 s).
    assert [(l.frame_index, l.object_id) for l in report.labels] == [(3, 1), (5, 2)]
    gotos = [s for s in report.skipped if s.kind == "goto"]
    assert len(gotos) == 1 and "1.667 s is beyond the new media's 0.917 s" in gotos[0].reason
    # Same picture at half size: the replayed shapes match the recorded ones scaled by 1/2,
    # and the ground truth of the original frames scaled likewise.
    import cv2

    def halved(mask):
        return cv2.resize(mask.astype(np.uint8), (320, 180), interpolation=cv2.INTER_AREA) > 0

    for original, replayed in zip(recorded[:2], report.labels):
        truth = read_id_mask(SAMPLES / "masks" / "video" / f"{original.frame_index:05d}.png") == original.object_id
        replayed_mask = shape_to_mask(replayed.shape, 180, 320)
        assert mask_iou(replayed_mask, halved(shape_to_mask(original.shape, 360, 640))) > 0.85
        # The same prompts found the same object (the exact quality at half size is the
        # segmenter's business, measured by eval iseg; 0.83 on the half-size ball here).
        assert mask_iou(replayed_mask, halved(truth)) > 0.75


def test_nearest_frame():
    times = np.array([10.0, 10.5, 11.0, 11.5])  # 2 fps, starting at 10 s
    assert nearest_frame(0.0, times, 2.0) == 0
    assert nearest_frame(0.74, times, 2.0) == 1
    assert nearest_frame(0.76, times, 2.0) == 2
    assert nearest_frame(1.74, times, 2.0) == 3  # within half a period of the last frame
    assert nearest_frame(1.76, times, 2.0) is None
    assert nearest_frame(-0.3, times, 2.0) is None


class ThreeDiscs:
    """A deterministic segmenter with three candidates: discs of radius 10, 20, 30 px around
    the first include point (or the box centre)."""

    name, model = "discs", "discs-v1"

    def prepare(self, frame, quality):
        return Embedding(self.name, self.model, quality, frame.shape[:2], {"zero": np.zeros(1, np.float32)})

    def predict(self, embedding, prompt):
        h, w = embedding.frame_size
        if len(prompt.positive):
            cx, cy = prompt.positive[0]
        else:
            cx, cy = (prompt.box[0] + prompt.box[2]) / 2, (prompt.box[1] + prompt.box[3]) / 2
        yy, xx = np.mgrid[:h, :w]
        masks = np.stack([(xx - cx) ** 2 + (yy - cy) ** 2 < r * r for r in (10, 20, 30)])
        return Proposal.from_masks(masks, np.array([0.9, 0.8, 0.7]), np.zeros((3, 8, 8)))


def test_candidate_choice_and_skips_inside_one_media(tmp_path):
    """The chosen candidate is replayed; prompts the new media cannot take are reported."""
    media = SAMPLES / "still.jpg"
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        editor.open(media)
        editor.toggle_sam()
        editor.click(100, 100)
        editor.cycle_candidate()
        editor.cycle_candidate()  # the 30 px disc
        editor.apply()
        with open_media(media) as source:
            info = media_info(source)
        data = session_from_log(editor.log.events, info, ONTOLOGY, SegmenterInfo.of(editor.segmenter, 0.6))
        recorded = editor.labels()
    session = load_session(write_session(tmp_path / "S.json", data))
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        report = replay_session(session, media, editor)
    assert report.skipped == [] and len(report.labels) == 1
    assert same_shape(report.labels[0].shape, recorded[0].shape)
    assert shape_to_mask(report.labels[0].shape, 480, 640).sum() > np.pi * 25**2

    # A session whose apply names a class the replaying Editor is not on is reported.
    data["events"][-1]["data"]["class_name"] = "leaf"
    session = load_session(write_session(tmp_path / "S2.json", data))
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        report = replay_session(session, media, editor)
    assert [(s.kind, "'leaf'" in s.reason) for s in report.skipped] == [("apply", True)]
    assert report.labels == []


def test_unknown_map_mode_is_refused(video_session):
    session = load_session(video_session[0])
    with pytest.raises(ValueError, match="index, time"):
        replay_session(session, SAMPLES / "video.mp4", Editor(ClassicSegmenter()), map="frames")


def edited(shape: Polygon, dx: float) -> Polygon:
    """The polygon moved right by ``dx`` pixels (what dragging it in the UI does)."""
    return Polygon(tuple(tuple(ring + [dx, 0.0] for ring in part) for part in shape.parts))


def record_changes(media, editor):
    """Apply, edit, relabel, undo, redo, delete, undo and apply again on frame 0."""
    editor.open(media)
    editor.toggle_sam()
    editor.set_class("ball")
    editor.click(100, 100)
    first = editor.apply()
    editor.click(300, 200)
    editor.cycle_candidate()
    editor.apply()
    editor.edit_label(first.object_id, edited(first.shape, 12.25))
    editor.change_class(2, "frame")
    editor.undo()  # back to ball
    editor.redo()  # frame again
    editor.delete_label(2)
    editor.undo()  # object 2 is back
    editor.drag_box(400, 300, 460, 380)
    editor.apply()
    return editor


def test_edits_relabels_undo_redo_and_deletes_replay_exactly(tmp_path):
    media = SAMPLES / "still.jpg"
    with record_changes(media, Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER)) as editor:
        info = media_info(editor.source)
        data = session_from_log(editor.log.events, info, ONTOLOGY, SegmenterInfo.of(editor.segmenter, 0.6))
        recorded = editor.labels()
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.count("undo") == 2 and kinds.count("redo") == 1 and "edit" in kinds and "delete" in kinds
    session = load_session(write_session(tmp_path / "S.json", data))
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        report = replay_session(session, media, editor)
    assert report.skipped == [] and report.applied == len(session.events)
    assert [(l.object_id, l.class_name, l.source) for l in recorded] == [(1, "ball", "manual"), (2, "frame", "sam"), (3, "ball", "sam")]
    assert [(l.object_id, l.class_name, l.source) for l in report.labels] == [(l.object_id, l.class_name, l.source) for l in recorded]
    # Every label comes back vertex for vertex, the edited one included (its quarter-pixel
    # vertices survive normalisation exactly).
    assert all(same_shape(a.shape, b.shape) for a, b in zip(report.labels, recorded))
    assert not same_shape(report.labels[0].shape, edited(recorded[0].shape, -12.25))  # the edit was replayed

    # On the image at half size, the edited polygon comes back scaled by exactly 1/2.
    import cv2

    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(media)), (320, 240), interpolation=cv2.INTER_AREA))
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        report = replay_session(session, small, editor)
    assert report.skipped == [] and [l.object_id for l in report.labels] == [1, 2, 3]
    for ring, ring_0 in zip(report.labels[0].shape.parts[0], recorded[0].shape.parts[0]):
        np.testing.assert_allclose(ring, ring_0 / 2, atol=1e-9)


def test_undo_of_a_change_that_was_not_replayed_is_skipped(tmp_path, small_video):
    media = SAMPLES / "video.mp4"
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        editor.open(media)
        editor.toggle_sam()
        editor.goto(2)
        editor.click(100, 100)
        editor.apply()
        editor.goto(40)  # beyond the 12 frames of the small video
        editor.click(200, 100)
        editor.apply()
        editor.undo()
        editor.redo()
        editor.undo()
        info = media_info(editor.source)
        data = session_from_log(editor.log.events, info, ONTOLOGY, SegmenterInfo.of(editor.segmenter, 0.6))
    session = load_session(write_session(tmp_path / "S.json", data))
    with Editor(ThreeDiscs(), ONTOLOGY, frame_server_options=SERVER) as editor:
        report = replay_session(session, small_video, editor)
        # Undoing "the newest change" blindly would have removed object 1.
        assert [(l.frame_index, l.object_id) for l in editor.labels()] == [(2, 1)]
    reasons = [(s.kind, s.reason) for s in report.skipped]
    assert reasons[-3:] == [
        ("undo", "the change to undo was not replayed"),
        ("redo", "the change to redo was not replayed"),
        ("undo", "the change to undo was not replayed"),
    ]
    assert [(l.frame_index, l.object_id) for l in report.labels] == [(2, 1)]


# -- the command line: framewise session export / framewise replay ----------------------------


def run_cli(capsys, *argv):
    from engine.cli.main import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_maps_modes_like_replay():
    from engine.cli import session as commands_session
    from engine.sessions import replay

    assert commands_session.MAP_MODES == replay.MAP_MODES


def test_cli_export_then_replay_into_a_new_project_gives_equal_labels(tmp_path, capsys):
    from engine.project import Project

    media = SAMPLES / "video.mp4"
    with Project.create(tmp_path / "recorded", ONTOLOGY) as project:
        editor = Editor(ClassicSegmenter(), project.ontology, store=project, frame_server_options=SERVER)
        with editor:
            editor.toggle_sam()  # before any media is open: the export carries it in
            editor.set_quality(0.25)
            editor.open(media)
            editor.goto(4)
            editor.set_class("leaf")
            (x, y), box = object_pixels(4, 3)
            editor.drag_box(box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3)
            editor.apply()
            editor.goto(9)
            editor.set_class("frame")
            (x, y), box = object_pixels(9, 2)
            editor.drag_box(box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3)
            editor.click(x, y)
            editor.apply()
        recorded = project.labels()
    assert len(recorded) == 2

    code, out, err = run_cli(capsys, "session", "export", tmp_path / "recorded", "--out", tmp_path / "S.json")
    assert code == 0, err
    assert "S.json" in out
    session = load_session(tmp_path / "S.json")
    assert [e.kind for e in session.events[:3]] == ["sam", "quality", "open"]  # carried in from before the open

    code, out, err = run_cli(capsys, "replay", tmp_path / "S.json", media, "--project", tmp_path / "again", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["skipped"] == [] and result["applied"] == len(session.events)
    assert [(l["frame"], l["object_id"], l["class"]) for l in result["labels"]] == [(4, 1, "leaf"), (9, 2, "frame")]
    with Project.open(tmp_path / "again") as project:
        replayed = project.labels()
        assert [info.name for info in project.media()] == [str(media)]
    assert [(l.media, l.frame_index, l.object_id, l.class_name) for l in replayed] == [
        (l.media, l.frame_index, l.object_id, l.class_name) for l in recorded
    ]
    assert all(same_shape(a.shape, b.shape) for a, b in zip(replayed, recorded))

    # Text output on the smaller video: a one-line summary plus one line per skipped event.
    code, out, err = run_cli(capsys, "replay", tmp_path / "S.json", SAMPLES / "frames", "--project", tmp_path / "folder")
    assert code == 0, err
    assert out.startswith("replayed ") and "2 labels written, 0 events skipped" in out


def test_cli_export_needs_a_media_choice_when_the_project_has_several(tmp_path, capsys):
    from engine.project import Project
    from engine.types import MediaInfo

    with Project.create(tmp_path / "p", ONTOLOGY) as project:
        project.add_media(MediaInfo("a.mp4", "f" * 64, 64, 48, 10, 25.0))
        project.add_media(MediaInfo("b.mp4", "e" * 64, 64, 48, 10, 25.0))
    code, out, err = run_cli(capsys, "session", "export", tmp_path / "p", "--out", tmp_path / "S.json")
    assert code == 2 and "choose one with --media: a.mp4, b.mp4" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "session", "export", tmp_path / "p", "--out", tmp_path / "S.json", "--media", "b.mp4")
    assert code == 2 and "no events recorded for media 'b.mp4'" in err
    assert not (tmp_path / "S.json").exists()


def _future(data):
    data["version"] = 3
    return json.dumps(data)


def _bad_box(data):
    boxes = [i for i, e in enumerate(data["events"]) if e["kind"] == "box"]
    data["events"][boxes[0]]["data"]["x1"] = 1.7
    return json.dumps(data), boxes[0]


@pytest.mark.parametrize("case", ["future version", "coordinate", "truncated", "unknown backend"])
def test_cli_replay_of_a_bad_session_fails_before_creating_the_project(video_session, tmp_path, capsys, case):
    data = json.loads(Path(video_session[0]).read_text())
    path = tmp_path / "S.json"
    if case == "future version":
        path.write_text(_future(data))
        expected = "S.json: version: version 3 is newer than this framewise supports (1)"
    elif case == "coordinate":
        text, index = _bad_box(data)
        path.write_text(text)
        expected = f"S.json: events[{index}].data.x1: expected a number in [0, 1], got 1.7"
    elif case == "truncated":
        path.write_text(json.dumps(data)[:-40])
        expected = "not valid JSON, truncated or corrupt"
    else:
        data["segmenter"]["backend"] = "magic"
        path.write_text(json.dumps(data))
        expected = "segmenter.backend: 'magic' is not a backend"
    code, out, err = run_cli(capsys, "replay", path, SAMPLES / "video.mp4", "--project", tmp_path / "new" / "project")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("framewise: error:") and expected in lines[0], err
    assert not (tmp_path / "new").exists()


def test_cli_replay_of_a_missing_media_creates_no_project(video_session, tmp_path, capsys):
    code, out, err = run_cli(capsys, "replay", video_session[0], tmp_path / "nope.mp4", "--project", tmp_path / "p")
    assert code == 2 and "nope.mp4" in err and not (tmp_path / "p").exists()


class NamedSegmenter(SpySegmenter):
    """The classic segmenter under another backend and model name (as SamSegmenter reports)."""

    def __init__(self, name: str, model: str) -> None:
        super().__init__()
        self.name, self.model = name, model


def test_cli_session_export_records_the_segmenter_the_editor_used(tmp_path, capsys):
    from engine.editing.events import Event
    from engine.project import Project

    still = SAMPLES / "still.jpg"
    with Project.create(tmp_path / "p", ONTOLOGY) as project:
        with Editor(NamedSegmenter("sam", "vit_b-01ec64d2"), project.ontology, store=project, quality=0.35,
                    frame_server_options=SERVER) as editor:
            editor.open(still)
        (event,) = project.events()
        assert {k: event.data[k] for k in ("backend", "model", "quality")} == {
            "backend": "sam", "model": "vit_b-01ec64d2", "quality": 0.35}
    code, out, err = run_cli(capsys, "session", "export", tmp_path / "p", "--out", tmp_path / "S.json", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["segmenter"] == {"backend": "sam", "model": "vit_b-01ec64d2", "quality": 0.35}
    assert result["segmenter_recorded"] is True
    session = load_session(tmp_path / "S.json")
    assert session.segmenter == SegmenterInfo("sam", "vit_b-01ec64d2", 0.35)
    assert set(session.events[0].data) == {"media", "frames", "size"}  # open events keep the v1 layout
    # The flags still override what was recorded.
    code, out, err = run_cli(capsys, "session", "export", tmp_path / "p", "--out", tmp_path / "S2.json",
                             "--backend", "classic", "--quality", "0.8")
    assert code == 0, err
    assert load_session(tmp_path / "S2.json").segmenter == SegmenterInfo("classic", ClassicSegmenter.model, 0.8)

    # A project from before the Editor recorded its segmenter: classic at 0.6, and a note.
    with Project.create(tmp_path / "old", ONTOLOGY) as project:
        with open_media(still) as source:
            info = media_info(source, str(still))
        project.add_media(info)
        project.record_event(Event("open", 0, {"media": info.name, "frames": 1, "size": [640, 480]}), info.name)
    code, out, err = run_cli(capsys, "session", "export", tmp_path / "old", "--out", tmp_path / "S3.json")
    assert code == 0, err
    assert "note: the project does not record its segmenter" in out
    assert load_session(tmp_path / "S3.json").segmenter == SegmenterInfo("classic", ClassicSegmenter.model, 0.6)


# -- sessions declaring extreme numbers (issue #17) ----------------------------------------------


def _tiny_session(*events: dict) -> dict:
    """A minimal session on the 24 sample frames: an open, then ``events``."""
    return {
        "format": "framewise-session", "version": 1,
        "media": {"name": "frames", "fingerprint": "ab" * 32, "width": 640, "height": 360, "frames": 24, "fps": 24.0},
        "ontology": [{"name": "object", "shape": "polygon", "colour": "#e6194b", "hotkey": "1"}],
        "segmenter": {"backend": "classic", "model": "classic-v1", "quality": 0.6},
        "events": [{"kind": "open", "frame": 0, "data": {"media": "frames", "frames": 24, "size": [640, 360]}, "time": 1.0},
                   *events],
    }


@pytest.mark.parametrize("command", ["replay", "prelabel"])
@pytest.mark.parametrize(
    "case, event, words",
    [
        # grew a list of 10**12 undo flags until memory ran out (MemoryError under a 3 GB cap)
        ("changes 10**12", {"kind": "propagate", "frame": 0, "time": 2.0,
                            "data": {"objects": [1], "direction": 1, "until": 5, "changes": 10**12}},
         "events[1].data.changes: expected an integer >= 0 and <= 10000000, got 1000000000000"),
        ("changes beyond the media", {"kind": "propagate", "frame": 0, "time": 2.0,
                                      "data": {"objects": [1], "direction": 1, "until": 5, "changes": 25}},
         "events[1].data.changes: 25 is more than the media's 24 frames"),
        # an OverflowError traceback from SQLite
        ("object id 2**63", {"kind": "delete", "frame": 0, "time": 2.0, "data": {"object_id": 2**63}},
         "events[1].data.object_id: expected an integer >= 1 and <= 9223372036854775807, got 9223372036854775808"),
        ("lone surrogate", {"kind": "relabel", "frame": 0, "time": 2.0, "data": {"object_id": 1, "class_name": "\ud800"}},
         "events[1].data.class_name: holds '\\ud800', a lone surrogate"),
    ],
)
def test_cli_refuses_a_session_with_extreme_numbers_in_one_line(tmp_path, capsys, command, case, event, words):
    path = tmp_path / "S.json"
    path.write_text(json.dumps(_tiny_session(event)))
    assert len(path.read_bytes()) < 1000
    if command == "replay":
        argv = ["replay", path, SAMPLES / "frames", "--project", tmp_path / "p"]
    else:
        argv = ["prelabel", SAMPLES / "frames", "--session", path, "--out", tmp_path / "p", "--no-progress"]
    code, out, err = run_cli(capsys, *argv)
    if command == "replay":
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and f"S.json: {words}" in lines[0], err
        assert not (tmp_path / "p").exists()
    else:  # the media fails with the session's one line; no project is made for it
        assert code == 2 and f"frames: failed: {path}: {words}" in out, out + err
        assert "Traceback" not in out + err and not (tmp_path / "p" / "frames" / "project.sqlite").exists()


def test_undo_across_a_propagation_that_declared_many_changes(tmp_path):
    """A propagation declared as 24 changes that replays none (no label to carry): its
    undo steps are mirrored as one run, and undoing reaches the apply before it."""
    session_data = _tiny_session(
        {"kind": "propagate", "frame": 0, "time": 2.0, "data": {"objects": [1], "direction": 1, "until": 23, "changes": 24}},
        *[{"kind": "undo", "frame": 0, "time": 3.0,
           "data": {"change": "propagate", "change_id": 1, "labels": [], "objects": [1]}} for _ in range(25)],
    )
    from engine.sessions.record import parse_session

    session = parse_session(session_data)
    editor = Editor(ClassicSegmenter(), session.ontology, frame_server_options=SERVER)
    with editor:
        report = replay_session(session, SAMPLES / "frames", editor)
    reasons = [s.reason for s in report.skipped]
    assert reasons[0].startswith("no label to propagate")
    assert reasons[1:25] == ["the change to undo was not replayed"] * 24
    assert reasons[25] == "nothing to undo: the change was made before the session"
