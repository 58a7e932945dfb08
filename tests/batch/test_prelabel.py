"""`framewise prelabel`: first-frame masks and sessions into projects, resuming, failures,
previews; and `framewise demo` end to end (the slow one here: ~20 s on 2 busy cores).

Clips are the first frames of ``sample_media/frames`` at half size (320×180) to stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine.cli.main import main
from engine.geometry import mask_iou, shape_to_mask
from engine.media.open import open_media
from engine.project import Project
from engine.types import shape_to_json

SAMPLE = Path(__file__).resolve().parents[2] / "sample_media"
W, H = 320, 180


def truth(frame_index: int) -> np.ndarray:
    """H×W uint8 object ids of a sample frame, at the clips' half size."""
    ids = cv2.imread(str(SAMPLE / "masks" / "video" / f"{frame_index:05d}.png"), cv2.IMREAD_UNCHANGED)
    return cv2.resize(ids, (W, H), interpolation=cv2.INTER_NEAREST)


def make_clip(folder: Path, frames: int) -> Path:
    folder.mkdir(parents=True)
    for frame_index in range(frames):
        image = cv2.imread(str(SAMPLE / "frames" / f"frame_{frame_index}.jpg"))
        cv2.imwrite(str(folder / f"{frame_index:03d}.png"), cv2.resize(image, (W, H), interpolation=cv2.INTER_AREA))
    return folder


def write_first_mask(path: Path) -> None:
    """A DAVIS palette PNG (mode P) of frame 0's ids."""
    from engine.formats.davis import encode_indexed_png

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_indexed_png(truth(0)))


def run(capsys, *argv) -> tuple[int, str]:
    code = main(["prelabel", *map(str, argv), "--no-progress", "--quality", "0.3"])
    return code, capsys.readouterr().out


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["media"]


def keyed(labels):
    return [(l.frame_index, l.object_id, l.class_name, l.source, l.confirmed, json.dumps(shape_to_json(l.shape, None)))
            for l in labels]


def test_init_masks_label_every_frame_resume_and_redo(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip", 8)
    write_first_mask(tmp_path / "masks" / "00000.png")  # the single-media layout
    out = tmp_path / "out"
    code, text = run(capsys, clip, "--init-masks", tmp_path / "masks", "--out", out, "--preview", "--preview-png", 2)
    assert code == 0 and "1 done, 0 skipped, 0 failed" in text
    with Project.open(out / "clip") as project:
        labels = project.labels()
    assert {l.frame_index for l in labels} == set(range(8))
    assert {l.object_id for l in labels} == {1, 2, 3}
    first = [l for l in labels if l.frame_index == 0]
    assert all(l.source == "manual" and l.confirmed and l.class_name == "object" for l in first)
    assert all(l.source == "propagated" and not l.confirmed for l in labels if l.frame_index > 0)
    ball = next(l for l in labels if l.object_id == 1 and l.frame_index == 7)
    assert mask_iou(shape_to_mask(ball.shape, H, W), truth(7) == 1) > 0.8
    entry = manifest(out)["clip"]
    assert entry["status"] == "done" and entry["frames"] == 8 and entry["labels"] == len(labels) and entry["error"] is None
    with open_media(out / "clip" / "preview.mp4") as preview:
        assert len(preview) == 8 and preview.size == (W, H)
    assert sorted(p.name for p in (out / "clip").glob("preview_*.png")) == ["preview_00000.png", "preview_00007.png"]

    # Same inputs: skipped, the project untouched.
    stamp = (out / "clip" / "project.sqlite").stat().st_mtime_ns
    code, text = run(capsys, clip, "--init-masks", tmp_path / "masks", "--out", out, "--preview", "--preview-png", 2)
    assert code == 0 and "0 done, 1 skipped, 0 failed" in text
    assert (out / "clip" / "project.sqlite").stat().st_mtime_ns == stamp

    # Other options: redone from scratch (no labels left from the longer run, no stale PNGs).
    code, text = run(capsys, clip, "--init-masks", tmp_path / "masks", "--out", out, "--until", 3)
    assert code == 0 and "1 done, 0 skipped" in text
    with Project.open(out / "clip") as project:
        assert {l.frame_index for l in project.labels()} == {0, 1, 2, 3}
    assert not list((out / "clip").glob("preview*"))


def test_a_corrupt_media_fails_alone_and_unfinished_media_are_redone(tmp_path, capsys):
    good = make_clip(tmp_path / "media" / "good", 3)
    broken = tmp_path / "media" / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    for stem in ("good", "broken"):
        write_first_mask(tmp_path / "masks" / stem / "00000.png")
    out = tmp_path / "out"
    code, text = run(capsys, broken, good, "--init-masks", tmp_path / "masks", "--out", out)
    assert code == 2
    entries = manifest(out)
    assert entries["good"]["status"] == "done" and entries["good"]["frames"] == 3
    assert entries["broken"]["status"] == "failed" and "broken.mp4" in entries["broken"]["error"]
    assert "\n" not in entries["broken"]["error"] and "broken: failed:" in text
    with Project.open(out / "good") as project:
        assert {l.frame_index for l in project.labels()} == {0, 1, 2}

    # A run killed during "good" leaves it marked running: the next run redoes it.
    data = json.loads((out / "manifest.json").read_text())
    data["media"]["good"]["status"] = "running"
    (out / "manifest.json").write_text(json.dumps(data))
    code, text = run(capsys, good, broken, "--init-masks", tmp_path / "masks", "--out", out)
    assert code == 2 and "1 done, 0 skipped, 1 failed" in text
    assert manifest(out)["good"]["status"] == "done"


def record_session(clip: Path, path: Path, *, permanent: bool) -> None:
    """Click the ball and the leaf on frame 0 (permanent drawing on or off) and export."""
    from engine.editing.editor import Editor
    from engine.media.fingerprint import media_info
    from engine.ontology import default_ontology
    from engine.segment.classic.segmenter import ClassicSegmenter
    from engine.sessions.record import SegmenterInfo, session_from_log, write_session

    segmenter = ClassicSegmenter()
    with Editor(segmenter, default_ontology(), quality=0.3, frame_server_options={"window": (0, 0)}) as editor:
        editor.open(clip)
        editor.toggle_sam()
        editor.set_permanent(permanent)
        for x, y in ((51, 90), (96, 144)):
            editor.click(x, y)
            editor.apply()
        info = media_info(editor.source, editor.media_name)
        write_session(path, session_from_log(editor.log.events, info, editor.ontology, SegmenterInfo.of(segmenter, 0.3)))


def test_session_prelabel_equals_replay_and_propagates_prompt_only_sessions(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip", 5)
    recorded = tmp_path / "permanent.json"
    record_session(clip, recorded, permanent=True)
    assert any(e["kind"] == "propagate" for e in json.loads(recorded.read_text())["events"])
    assert main(["replay", str(recorded), str(clip), "--project", str(tmp_path / "replayed")]) == 0
    code, _ = run(capsys, clip, "--session", recorded, "--out", tmp_path / "out")
    assert code == 0
    with Project.open(tmp_path / "replayed") as a, Project.open(tmp_path / "out" / "clip") as b:
        replayed, prelabelled = a.labels(), b.labels()
    assert keyed(prelabelled) == keyed(replayed)
    assert {l.frame_index for l in prelabelled} == set(range(5))

    prompts = tmp_path / "prompts.json"
    record_session(clip, prompts, permanent=False)
    assert not any(e["kind"] == "propagate" for e in json.loads(prompts.read_text())["events"])
    code, _ = run(capsys, clip, "--session", prompts, "--out", tmp_path / "out2")
    assert code == 0
    with Project.open(tmp_path / "out2" / "clip") as project:
        labels = project.labels()
    assert {(l.frame_index, l.object_id) for l in labels} == {(f, o) for f in range(5) for o in (1, 2)}
    assert keyed(labels) == keyed(prelabelled)  # the same propagation, started by prelabel


def test_missing_init_mask_is_a_failure_naming_the_path(tmp_path, capsys):
    clip = make_clip(tmp_path / "clip", 2)
    (tmp_path / "masks").mkdir()
    code, _ = run(capsys, clip, "--init-masks", tmp_path / "masks", "--out", tmp_path / "out")
    assert code == 2 and "00000.png" in manifest(tmp_path / "out")["clip"]["error"]


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--until", "5", "--video-quality", "0.3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    tracks = result["video"]["tracks"]
    assert [t["object_id"] for t in tracks] == [1, 2, 3]
    assert all(t["frames"] == 6 for t in tracks)
    assert all(t["mean_iou"] > 0.7 for t in tracks), tracks
    coco = json.loads((out / "coco" / "annotations" / "instances_default.json").read_text())
    assert len(coco["annotations"]) == 18 and len(coco["images"]) == 6  # the 6 labelled frames of 48
    with open_media(out / "video" / "preview.mp4") as preview:
        assert len(preview) == 48
    assert len(list((out / "video").glob("preview_*.png"))) == 4
    assert (out / "session.json").is_file() and (out / "still_overlay.png").is_file()
