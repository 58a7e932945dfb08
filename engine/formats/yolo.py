"""`to_yolo`: a `Dataset` as Ultralytics YOLO label files (pure; returns relative path -> text).

- ``labels/<media stem>/<frame>.txt`` for every frame with at least one label, where
  ``<frame>`` is ``<frame:06d>`` for videos and the image's own stem for image folders
  (so ``images/<media stem>/<frame>.jpg`` pairs with it; frames are not written). Frames
  without labels get no file, which YOLO reads as background.
- Box labels: detection lines ``cls cx cy w h``; polygon labels: segmentation lines
  ``cls x1 y1 x2 y2 …``. All coordinates normalised to [0, 1] (clipped), 6 decimals;
  ``cls`` is the class's 0-based position in the ontology.
- A dataset with any polygon label is a *segment* dataset: its boxes are written as their
  four corners (``x0 y0 x1 y0 x1 y1 x0 y1``). Ultralytics reads every line of a file as a
  segment as soon as one line is, and drops all segments of a dataset whose box and
  segment counts differ, so detection and segmentation lines must not be mixed.
- Polygons: **one line per part, exterior ring only** — YOLO segmentation has neither holes
  nor multi-part instances, so holes are dropped and a two-part object counts as two
  instances. Lines follow (object id, part) order.
- ``data.yaml``: ``path``, ``train``/``val`` (both ``images``), ``nc`` and ``names``.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import numpy as np

from engine.formats.dataset import Dataset
from engine.formats.shapes import is_empty, quantise
from engine.types import Box, Label, MediaInfo


def to_yolo(dataset: Dataset) -> dict[str, str]:
    """Relative path -> file text for the YOLO export of ``dataset``."""
    dataset.check()
    stems = dataset.stems()
    class_ids = {name: index for index, name in enumerate(dataset.ontology.names)}
    media = {info.name: info for info in dataset.media}
    labels = [label for label in dataset.sorted_labels() if not is_empty(label.shape)]
    segments = any(not isinstance(label.shape, Box) for label in labels)
    lines: dict[str, list[str]] = {}
    for label in labels:
        info = media[label.media]
        path = f"labels/{stems[info.name]}/{_frame_stem(info, label.frame_index)}.txt"
        lines.setdefault(path, []).extend(_lines(label, class_ids[label.class_name], info, segments))
    files = {path: "".join(line + "\n" for line in body) for path, body in lines.items()}
    files["data.yaml"] = data_yaml(dataset.ontology.names)
    return files


def data_yaml(names: list[str]) -> str:
    """The dataset description; names are JSON-quoted, which YAML reads as double-quoted strings."""
    out = [
        "# framewise YOLO export: labels/<media>/<frame>.txt pair with images/<media>/<frame>.jpg",
        "path: .",
        "train: images",
        "val: images",
        f"nc: {len(names)}",
        "names:",
    ]
    out += [f"  {index}: {json.dumps(name)}" for index, name in enumerate(names)]
    return "\n".join(out) + "\n"


def _frame_stem(info: MediaInfo, frame_index: int) -> str:
    if info.frame_names and frame_index < len(info.frame_names):
        return PurePosixPath(info.frame_names[frame_index]).stem
    return f"{frame_index:06d}"


def _lines(label: Label, class_id: int, info: MediaInfo, segments: bool) -> list[str]:
    shape = quantise(label.shape)
    scale = np.array([info.width, info.height], np.float64)
    if isinstance(shape, Box):
        x0, x1 = np.clip([shape.x0, shape.x1], 0, info.width) / info.width
        y0, y1 = np.clip([shape.y0, shape.y1], 0, info.height) / info.height
        if segments:
            return [_line(class_id, [x0, y0, x1, y0, x1, y1, x0, y1])]
        values = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
        return [_line(class_id, values)]
    out = []
    for part in shape.parts:
        points = np.clip(np.asarray(part[0], np.float64) / scale, 0.0, 1.0)
        out.append(_line(class_id, points.reshape(-1).tolist()))
    return out


def _line(class_id: int, values: list[float]) -> str:
    return " ".join([str(class_id)] + [f"{v:.6f}" for v in values])
