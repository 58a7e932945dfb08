"""The main job end to end on the sample video: prompts → permanent drawing → COCO + previews.

1. A prompt session is recorded by driving an `Editor` on ``sample_media/video.mp4`` with
   SAM mode and permanent drawing on: each object of ``sample_media/manifest.json`` gets
   its first click, then corrective clicks from the standard simulated clicker until the
   selection reaches the target IoU, and is applied. The recording editor does not
   propagate itself (``auto_propagate`` off): the session holds the prompts only, so the
   objects are carried once, in step 2. Written to ``OUT/session.json``.
2. `engine.batch.prelabel.prelabel_one` replays the session into a project ``OUT/video/``;
   a session without propagate events is propagated forwards from its applied frame to
   the end of the video, so every object runs through all 48 frames.
3. The project is exported as COCO (``OUT/coco/``), with a preview video with overlays
   (``OUT/video/preview.mp4``) and a few overlay PNGs (``OUT/video/preview_*.png``).
4. Every label is scored against ``sample_media/masks`` (polygon classes by mask IoU,
   box classes by IoU with the ground truth's box).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.batch.prelabel import PrelabelOptions, prelabel_one
from engine.demo.still import SAMPLE_MEDIA, _segment_object
from engine.editing.editor import Editor
from engine.errors import MediaError
from engine.formats import dataset_from_project, export_dataset
from engine.geometry import box_to_mask, mask_iou, mask_to_box, shape_to_mask
from engine.media.fingerprint import media_info
from engine.media.images import read_id_mask
from engine.ontology import Ontology
from engine.project import Project
from engine.segment.base import Segmenter
from engine.sessions.record import SegmenterInfo, session_from_log, write_session
from engine.types import ShapeType

VIDEO_QUALITY = 0.4  # propagation cost grows with quality; 0.4 keeps the run near a minute on 2 cores


@dataclass(frozen=True)
class TrackResult:
    """One object through the video: frames labelled, frames flagged for review, IoU."""

    object_id: int
    class_name: str
    shape: str
    clicks: int
    frames: int
    flagged: int
    mean_iou: float
    min_iou: float


@dataclass(frozen=True)
class VideoDemoResult:
    tracks: list[TrackResult]
    session: str
    project: str
    coco: list[str]
    preview: str | None
    pngs: list[str]
    seconds: float


def record_session(segmenter: Segmenter, sample_dir: Path, out: Path, *, quality: float,
                   target_iou: float = 0.9, max_clicks: int = 5) -> tuple[Path, dict[int, int]]:
    """Record the first-frame prompts as a session file; returns (path, clicks per object)."""
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    ontology = Ontology.from_json(manifest["classes"], source=str(sample_dir / "manifest.json"))
    video = sample_dir / manifest["video"]["path"]
    ids = read_id_mask(sample_dir / manifest["video"]["masks"].format(frame=0))
    clicks: dict[int, int] = {}
    with Editor(segmenter, ontology, quality=quality, frame_server_options={"window": (0, 0)}) as editor:
        editor.auto_propagate = False  # the session keeps the prompts; prelabel propagates once
        editor.open(video)
        editor.toggle_sam()
        editor.set_permanent(True)
        for obj in manifest["objects"]:
            editor.set_class(obj["class"])
            points, _, _ = _segment_object(editor, ids == obj["id"], tuple(obj["video"]["click"]), target_iou, max_clicks)
            editor.apply(object_id=obj["id"])
            clicks[obj["id"]] = len(points)
        info = media_info(editor.source, editor.media_name)
        data = session_from_log(editor.log.events, info, ontology, SegmenterInfo.of(segmenter, quality))
    return write_session(out / "session.json", data), clicks


def score_tracks(labels, ontology, sample_dir: Path, clicks: dict[int, int]) -> list[TrackResult]:
    """Per object: IoU of each label against the ground-truth mask of its frame."""
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    pattern = manifest["video"]["masks"]
    truth: dict[int, np.ndarray] = {}
    scores: dict[int, list[float]] = {}
    flagged: dict[int, int] = {}
    classes: dict[int, str] = {}
    for label in labels:
        if label.frame_index not in truth:
            truth[label.frame_index] = read_id_mask(sample_dir / pattern.format(frame=label.frame_index))
        ids = truth[label.frame_index]
        height, width = ids.shape
        gt = ids == label.object_id
        box_class = ontology[label.class_name].shape == ShapeType.BOUNDING_BOX
        gt_box = mask_to_box(gt) if box_class else None  # None too when the object is not there
        if gt_box is not None:
            gt = box_to_mask(gt_box, height, width)
        classes[label.object_id] = label.class_name
        flagged[label.object_id] = flagged.get(label.object_id, 0) + int(label.review)
        scores.setdefault(label.object_id, []).append(mask_iou(shape_to_mask(label.shape, height, width), gt))
    return [
        TrackResult(object_id, classes[object_id], ontology[classes[object_id]].shape, clicks.get(object_id, 0),
                    len(values), flagged[object_id], round(float(np.mean(values)), 4), round(float(np.min(values)), 4))
        for object_id, values in sorted(scores.items())
    ]


def run_video_demo(segmenter: Segmenter, out_dir: Path, *, sample_dir: Path | None = None,
                   quality: float = VIDEO_QUALITY, until: int | None = None, pngs: int = 4,
                   progress: bool = True) -> VideoDemoResult:
    """Steps 1–4 of the module docstring; ``until`` stops the propagation early (tests)."""
    started = time.perf_counter()
    sample_dir = Path(sample_dir or SAMPLE_MEDIA)
    if not (sample_dir / "manifest.json").is_file():
        raise MediaError(f"{sample_dir / 'manifest.json'}: no sample manifest (run `make sample-media`)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    session, clicks = record_session(segmenter, sample_dir, out_dir, quality=quality)
    video = sample_dir / json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))["video"]["path"]
    options = PrelabelOptions(out_dir=str(out_dir), session=str(session), backend=segmenter.name, quality=quality,
                              until=until, preview=True, preview_png=pngs, single=True, progress=progress)
    result = prelabel_one(str(video), options)
    if result.status != "done":
        raise MediaError(f"{video}: pre-labelling failed: {result.error}")
    with Project.open(result.project) as project:
        labels = project.labels()
        tracks = score_tracks(labels, project.ontology, sample_dir, clicks)
        coco = export_dataset(dataset_from_project(project), "coco", out_dir / "coco")
    return VideoDemoResult(tracks, str(session), result.project, [str(p) for p in coco], result.preview,
                           result.pngs, round(time.perf_counter() - started, 2))
