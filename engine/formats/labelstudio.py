"""`to_label_studio`: a `Dataset` as Label Studio JSON tasks (pure; returns the task list and
the notes on what Label Studio cannot hold).

The file is what Label Studio's "JSON" export writes and its import reads: a list of tasks,
each ``{"id", "data", "annotations": [{"id", "result": [...]}], "predictions": []}``, with
every coordinate in **percent** of the frame (``original_width`` / ``original_height``).

- An image-folder media: one task per image (labelled or not), ``data.image`` =
  ``<media stem>/<file name>``. Box labels are ``rectanglelabels`` results
  (``from_name`` "box"), polygon labels ``polygonlabels`` results (``from_name``
  "polygon"), ``to_name`` "image": one result per polygon part (Label Studio polygons are
  one ring; holes are dropped, counted in a note). Point labels are ``keypointlabels``
  results (``from_name`` "keypoint"): ``x``, ``y`` the pixel centre in percent of
  Label Studio's pixel-edge canvas ((x + 0.5) / W: `engine.formats.points`), ``width`` the
  drawn point's size (`KEYPOINT_SIZE` pixels, in percent of the width).
- A video: one task with ``data.video`` = the media name. Each object's box labels (per
  class) are one ``videorectangle`` result (``from_name`` "box", ``to_name`` "video"),
  keyframes as `engine.formats.labelstudio_video.keyframe_labels` chooses them (the
  confirmed labels and the ends of each run of frames, ``enabled: false`` where a run
  ends). Label Studio has no video polygons or keypoints: a video's polygon and point labels
  are written as image tasks, one per labelled frame (``data.image`` =
  ``<media stem>/<frame:06d>.jpg``), counted in a note.
- Extra keys Label Studio keeps as they are: ``data.framewise`` (media name, frame index,
  frame count, fps, fingerprint, frame size) and, per result, ``framewise`` (object id,
  and for image results the label's source, score, confirmed, review and attributes), so
  an import restores them. Frames themselves are not written.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

from engine.errors import FormatWarning
from engine.formats.dataset import Dataset, frame_file_name, label_fields
from engine.formats.labelstudio_video import keyframe_labels
from engine.formats.points import exported, to_edges
from engine.formats.shapes import has_holes, quantise, region_of
from engine.types import Box, Label, LabelSource, MediaInfo, Point, Polygon

LABEL_STUDIO_FILE = "label-studio.json"
BOX_FROM, POLYGON_FROM, KEYPOINT_FROM = "box", "polygon", "keypoint"
KEYPOINT_SIZE = 4.0
"""The size, in pixels, a keypoint is drawn at (its ``width``, written in percent)."""


@dataclass
class LabelStudioExport:
    """The tasks (the file's JSON list) and notes on what could not be written exactly."""

    tasks: list[dict]
    notes: list[str] = field(default_factory=list)


def to_label_studio(dataset: Dataset) -> LabelStudioExport:
    """The Label Studio tasks of ``dataset`` (raises `ExportError` when it is inconsistent)."""
    dataset.check()
    stems = dataset.stems()
    tasks: list[dict] = []
    counts = {"video_polygons": 0, "video_points": 0, "holes": 0}
    for info in dataset.media:
        labels = [label for label in dataset.labels_of(info.name) if exported(label.shape)]
        names = {oid: name for (media, oid), name in dataset.object_names.items() if media == info.name}
        if info.frame_names:
            by_frame: dict[int, list[Label]] = {}
            for label in labels:
                by_frame.setdefault(label.frame_index, []).append(label)
            for k in range(len(info.frame_names)):
                path = frame_file_name(info, k, stems[info.name])
                tasks.append(_image_task(len(tasks) + 1, info, k, path, by_frame.get(k, []), names, counts))
            continue
        boxes = [label for label in labels if isinstance(label.shape, Box)]
        tasks.append(_video_task(len(tasks) + 1, info, boxes, names))
        polygon_frames: dict[int, list[Label]] = {}
        for label in labels:
            if isinstance(label.shape, (Polygon, Point)):
                polygon_frames.setdefault(label.frame_index, []).append(label)
                counts["video_points" if isinstance(label.shape, Point) else "video_polygons"] += 1
        for k in sorted(polygon_frames):
            path = frame_file_name(info, k, stems[info.name])
            tasks.append(_image_task(len(tasks) + 1, info, k, path, polygon_frames[k], names, counts))
    notes = []
    if counts["video_polygons"]:
        notes.append(
            f"label-studio: {counts['video_polygons']} polygon labels of videos written as per-frame image tasks "
            "(Label Studio has no video polygons)"
        )
    if counts["video_points"]:
        notes.append(
            f"label-studio: {counts['video_points']} point labels of videos written as per-frame image tasks "
            "(Label Studio has no video keypoints)"
        )
    if counts["holes"]:
        notes.append(f"label-studio: {counts['holes']} polygon labels lost their holes (Label Studio polygons have none)")
    return LabelStudioExport(tasks, notes)


def _media_block(info: MediaInfo, frame_index: int | None) -> dict:
    block: dict = {"media": info.name}
    if frame_index is not None:
        block["frame"] = frame_index
    block.update(
        {
            "frames": info.frames,
            "fps": float(info.fps),
            "fingerprint": info.fingerprint,
            "width": info.width,
            "height": info.height,
        }
    )
    return block


def _task(task_id: int, data: dict, result: list[dict]) -> dict:
    annotations = [{"id": task_id, "result": result, "was_cancelled": False, "ground_truth": False}] if result else []
    return {"id": task_id, "data": data, "annotations": annotations, "predictions": []}


def _image_task(
    task_id: int,
    info: MediaInfo,
    frame_index: int,
    path: str,
    labels: list[Label],
    names: dict[int, str],
    counts: dict[str, int],
) -> dict:
    result: list[dict] = []
    for label in labels:
        quantised = quantise(label.shape)
        fields = _label_fields(label, names)
        common = {
            "original_width": info.width,
            "original_height": info.height,
            "image_rotation": 0,
            "to_name": "image",
            "origin": _origin(label),
        }
        if isinstance(quantised, Point):
            x, y = to_edges(quantised)
            value = {"x": _pct(x, info.width), "y": _pct(y, info.height), "width": _pct(KEYPOINT_SIZE, info.width),
                     "keypointlabels": [label.class_name]}
            region = {"id": f"f{frame_index}o{label.object_id}", "type": "keypointlabels", "from_name": KEYPOINT_FROM}
            result.append({**region, **common, "value": value, "framewise": fields})
            continue
        shape = region_of(quantised)
        if isinstance(shape, Box):
            value = {**_box_value(shape, info), "rectanglelabels": [label.class_name]}
            region = {"id": f"f{frame_index}o{label.object_id}", "type": "rectanglelabels", "from_name": BOX_FROM}
            result.append({**region, **common, "value": value, "framewise": fields})
            continue
        if has_holes(shape):
            counts["holes"] += 1
        for part_index, part in enumerate(shape.parts):
            points = [[_pct(float(x), info.width), _pct(float(y), info.height)] for x, y in part[0]]
            value = {"points": points, "closed": True, "polygonlabels": [label.class_name]}
            region = {
                "id": f"f{frame_index}o{label.object_id}p{part_index}",
                "type": "polygonlabels",
                "from_name": POLYGON_FROM,
            }
            result.append({**region, **common, "value": value, "framewise": fields})
    data = {"image": path, "framewise": _media_block(info, frame_index)}
    return _task(task_id, data, result)


def _video_task(task_id: int, info: MediaInfo, boxes: list[Label], names: dict[int, str]) -> dict:
    tracks: dict[tuple[int, str], list[Label]] = {}
    for label in boxes:
        tracks.setdefault((label.object_id, label.class_name), []).append(label)
    duration = info.frames / info.fps if info.fps > 0 else 0.0
    classes_of: dict[int, int] = {}
    for object_id, _ in tracks:
        classes_of[object_id] = classes_of.get(object_id, 0) + 1
    result = []
    for (object_id, class_name), labels in tracks.items():
        sequence = []
        for label, enabled in keyframe_labels(labels, info.frames):
            shape = quantise(label.shape)
            assert isinstance(shape, Box)
            time = label.frame_index / info.fps if info.fps > 0 else 0.0
            sequence.append(
                {"frame": label.frame_index + 1, "enabled": enabled, **_box_value(shape, info), "time": time}
            )
        fields: dict = {"object": object_id}
        if object_id in names:
            fields["name"] = names[object_id]
        result.append(
            {
                "id": f"o{object_id}" if classes_of[object_id] == 1 else f"o{object_id}-{class_name}",
                "type": "videorectangle",
                "from_name": BOX_FROM,
                "to_name": "video",
                "original_width": info.width,
                "original_height": info.height,
                "origin": "manual",
                "value": {"framesCount": info.frames, "duration": duration, "sequence": sequence, "labels": [class_name]},
                "framewise": fields,
            }
        )
    return _task(task_id, {"video": info.name, "framewise": _media_block(info, None)}, result)


def _box_value(box: Box, info: MediaInfo) -> dict:
    return {
        "x": _pct(box.x0, info.width),
        "y": _pct(box.y0, info.height),
        "width": _pct(box.x1 - box.x0, info.width),
        "height": _pct(box.y1 - box.y0, info.height),
        "rotation": 0,
    }


def _pct(pixels: float, size: int) -> float:
    return pixels / size * 100.0 + 0.0


def _origin(label: Label) -> str:
    return "manual" if label.source in (LabelSource.MANUAL, LabelSource.REPLAYED) else "prediction"


def _label_fields(label: Label, names: dict[int, str]) -> dict:
    return {"object": label.object_id, **label_fields(label, names)}


def label_studio_files(dataset: Dataset) -> dict[str, str]:
    """``{LABEL_STUDIO_FILE: JSON text}`` for `writers.write_files`; each note of
    `to_label_studio` is issued as a `FormatWarning`."""
    export = to_label_studio(dataset)
    for note in export.notes:
        warnings.warn(note, FormatWarning, stacklevel=3)
    return {LABEL_STUDIO_FILE: json.dumps(export.tasks, ensure_ascii=False, indent=1) + "\n"}
