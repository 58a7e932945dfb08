"""`to_yolo`: a `Dataset` as an Ultralytics YOLO dataset (pure; returns relative path -> text).

Layout (what Ultralytics' ``check_det_dataset`` and ``YOLODataset`` read):
- ``images/train/<media stem>/<frame>`` — the frames, written only with ``--with-frames``
  (`yolo_image_paths` names them); ``<frame>`` is ``<frame:06d>.jpg`` for videos and the
  image's own file name for image folders (`engine.formats.dataset.frame_file_name`). An
  export of a single media leaves out the ``<media stem>/`` folder (``images/train/<frame>``,
  the usual YOLO layout, which Datumaro's ``yolo`` reader (its Ultralytics flavour) finds: it looks
  one folder deep); several media need it, as their frame names repeat.
- ``labels/train/[<media stem>/]<frame>.txt`` for every frame with at least one label: the
  image path with ``images/`` -> ``labels/`` and the suffix -> ``.txt``, as Ultralytics
  pairs them. Frames without labels get no file, which YOLO reads as background.
- ``data.yaml``: ``train`` and ``val`` (both ``images/train``: one split), ``nc``,
  ``names``, and **no** ``path``: Ultralytics then takes the yaml's own folder as the
  dataset root, so the dataset works from any working directory (``path: .`` is resolved
  against the working directory, and an absolute path would tie it to this machine).

Lines, one per label (``cls`` is the class's 0-based position in the ontology; values
normalised to [0, 1], clipped, 6 decimals):
- a dataset without polygon labels is a *detect* dataset: ``cls cx cy w h`` per box;
- a dataset with any polygon label is a *segment* dataset: ``cls x1 y1 x2 y2 …`` per label,
  boxes as their four corners ``x0 y0 x1 y0 x1 y1 x0 y1`` (what Ultralytics' COCO converter
  writes for an annotation without a polygon). Ultralytics reads every line of a file as a
  segment as soon as one line is, and drops all segments of a dataset whose box and
  segment counts differ, so the two kinds must not be mixed.
- A polygon is **one** line however many parts and holes it has: `yolo_rings.join_rings`
  joins its rings at their closest vertices with zero-width bridges (as Ultralytics'
  ``merge_multi_segment`` joins parts), so the line rasterises even-odd to the polygon,
  holes included. Lines follow the object id order.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import numpy as np

from engine.formats.dataset import Dataset, frame_file_name
from engine.formats.shapes import is_empty, quantise, region_of
from engine.formats.yolo_rings import SCALE, canonical_ring, join_rings
from engine.types import Box, Label, MediaInfo, Polygon

SPLIT = "train"
"""The one split an export writes (``val`` names it too: Ultralytics requires a ``val``)."""


def to_yolo(dataset: Dataset) -> dict[str, str]:
    """Relative path -> file text for the YOLO export of ``dataset``."""
    dataset.check()
    folders = media_folders(dataset)
    class_ids = {name: index for index, name in enumerate(dataset.ontology.names)}
    media = {info.name: info for info in dataset.media}
    labels = [label for label in dataset.sorted_labels() if not is_empty(label.shape)]
    segments = any(not isinstance(label.shape, Box) for label in labels)
    lines: dict[str, list[str]] = {}
    for label in labels:
        info = media[label.media]
        path = label_path(image_path(info, label.frame_index, folders[info.name]))
        line = _line_of(label, class_ids[label.class_name], info, segments)
        if line is not None:
            lines.setdefault(path, []).append(line)
    files = {path: "".join(line + "\n" for line in body) for path, body in lines.items()}
    files["data.yaml"] = data_yaml(dataset.ontology.names)
    return files


def media_folders(dataset: Dataset) -> dict[str, str]:
    """Media name -> its folder below ``images/train/`` (the media stem; "" for a single media)."""
    stems = dataset.stems()
    return dict.fromkeys(stems, "") if len(stems) == 1 else stems


def image_path(info: MediaInfo, frame_index: int, folder: str) -> str:
    """``images/train/[<folder>/]<frame file name>``: where a frame's image goes."""
    name = PurePosixPath(frame_file_name(info, frame_index, "_")).relative_to("_")
    return str(PurePosixPath("images", SPLIT, folder, name))


def label_path(image: str) -> str:
    """The label file Ultralytics pairs with an image path (``images/`` -> ``labels/``, ``.txt``)."""
    path = PurePosixPath("labels", *PurePosixPath(image).parts[1:])
    return str(path.with_suffix(".txt"))


def yolo_image_paths(dataset: Dataset) -> dict[tuple[str, int], str]:
    """(media name, frame index) -> relative image path, for every frame that has a label file."""
    folders = media_folders(dataset)
    media = {info.name: info for info in dataset.media}
    return {
        (label.media, label.frame_index): image_path(media[label.media], label.frame_index, folders[label.media])
        for label in dataset.sorted_labels()
        if not is_empty(label.shape)
    }


def data_yaml(names: list[str]) -> str:
    """The dataset description; names are JSON-quoted, which YAML reads as double-quoted strings.

    No ``path``: Ultralytics resolves the splits against the yaml's own folder then."""
    out = [
        f"# framewise YOLO export: labels/{SPLIT}/[<media>/]<frame>.txt pair with images/{SPLIT}/[<media>/]<frame>",
        f"train: images/{SPLIT}",
        f"val: images/{SPLIT}",
        f"nc: {len(names)}",
        "names:",
    ]
    out += [f"  {index}: {json.dumps(name)}" for index, name in enumerate(names)]
    return "\n".join(out) + "\n"


def _line_of(label: Label, class_id: int, info: MediaInfo, segments: bool) -> str | None:
    shape = region_of(quantise(label.shape))
    if isinstance(shape, Box):
        x0, x1 = np.clip([shape.x0, shape.x1], 0, info.width) / info.width
        y0, y1 = np.clip([shape.y0, shape.y1], 0, info.height) / info.height
        if segments:
            return _line(class_id, [x0, y0, x1, y0, x1, y1, x0, y1])
        return _line(class_id, [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])
    joined = segment_of(shape, info.width, info.height)
    if joined is None:
        return None
    return _line(class_id, (joined / (SCALE * np.array([info.width, info.height], np.float64))).reshape(-1).tolist())


def segment_of(polygon: Polygon, width: int, height: int) -> np.ndarray | None:
    """The polygon (rounded to 0.01 px) as one joined ring in 1/`SCALE` px, clipped to the
    frame; None when no ring with an area is left."""
    high = np.array([width * SCALE, height * SCALE], np.int64)
    rings = []
    for part in polygon.parts:
        for k, ring in enumerate(part):
            points = np.clip(np.round(np.asarray(ring, np.float64) * SCALE).astype(np.int64), 0, high)
            canonical = canonical_ring(points, hole=k > 0)
            if canonical is not None:
                rings.append(canonical)
    return join_rings(rings) if rings else None


def _line(class_id: int, values: list[float]) -> str:
    return " ".join([str(class_id)] + [f"{v:.6f}" for v in values])
