"""`to_labelme`: a `Dataset` as LabelMe JSON files, one per frame (pure; returns text).

Layout: ``<media stem>/<frame file stem>.json`` beside where the frame's image goes
(``<media stem>/<file name>``, as the COCO export names it), with ``imagePath`` = the file
name and ``imageData`` null; the frames themselves are not written. An image folder gets a
file for every image (an image without labels has no shapes), a video one per labelled frame.
Keys and their order are LabelMe 5's (``version``, ``flags``, ``shapes``, ``imagePath``,
``imageData``, ``imageHeight``, ``imageWidth``; per shape ``label``, ``points``,
``group_id``, ``description``, ``shape_type``, ``flags``, ``mask``), indented as LabelMe
writes them.

- ``label`` = the class name, ``group_id`` = the object id (LabelMe merges the shapes of one
  (label, group_id) into one instance).
- Boxes: ``rectangle`` shapes, points = the two corners (pixel edges, 0.01 px).
- Polygons: one ``polygon`` shape per part (its exterior ring). LabelMe polygons have no
  holes: a polygon with holes is written as one ``mask`` shape instead (LabelMe 5.3 and
  later: ``points`` = the first and last pixel of the mask's box, ``mask`` = a base64 PNG
  of that box, 1 inside), exact to the pixel and counted in a note.
- Points: ``point`` shapes of one point, the pixel centre on LabelMe's pixel-edge canvas
  (x + 0.5: `engine.formats.points`).
- Extra keys LabelMe keeps when it saves a file (``other_data``): per shape ``framewise``
  (source, score, confirmed, review, attributes, object name) and at the top ``framewise``
  (media name, frame index, frame count, fps, fingerprint), so an import restores them.
"""

from __future__ import annotations

import base64
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from engine.errors import FormatWarning
from engine.formats.dataset import Dataset, frame_file_name, label_fields
from engine.formats.points import exported, to_edges
from engine.formats.shapes import has_holes, quantise, raster_crop, region_of
from engine.types import Box, Label, MediaInfo, Point, Polygon

LABELME_VERSION = "5.5.0"
"""The LabelMe release whose file layout is written (``mask`` shapes need 5.3 or later)."""


@dataclass
class LabelMeExport:
    """Relative path -> JSON text, and notes on what could not be written exactly."""

    files: dict[str, str]
    notes: list[str] = field(default_factory=list)


def to_labelme(dataset: Dataset) -> LabelMeExport:
    """The LabelMe files of ``dataset`` (raises `ExportError` when it is inconsistent)."""
    dataset.check()
    stems = dataset.stems()
    files: dict[str, str] = {}
    masks = 0
    for info in dataset.media:
        names = {oid: name for (media, oid), name in dataset.object_names.items() if media == info.name}
        by_frame: dict[int, list[Label]] = {}
        for label in dataset.labels_of(info.name):
            if exported(label.shape):
                by_frame.setdefault(label.frame_index, []).append(label)
        frames = range(len(info.frame_names)) if info.frame_names else sorted(by_frame)
        paths = [PurePosixPath(frame_file_name(info, k, stems[info.name])) for k in frames]
        json_names = _json_names([path.name for path in paths])
        for k, path, json_name in zip(frames, paths, json_names):
            shapes = []
            for label in by_frame.get(k, []):
                made, as_mask = _shapes(label, info, names)
                shapes += made
                masks += as_mask
            document = {
                "version": LABELME_VERSION,
                "flags": {},
                "shapes": shapes,
                "imagePath": path.name,
                "imageData": None,
                "imageHeight": info.height,
                "imageWidth": info.width,
                "framewise": {
                    "media": info.name,
                    "frame": k,
                    "frames": info.frames,
                    "fps": float(info.fps),
                    "fingerprint": info.fingerprint,
                },
            }
            files[str(path.parent / json_name)] = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    notes = []
    if masks:
        notes.append(
            f"labelme: {masks} polygon labels with holes written as mask shapes (LabelMe polygons have no holes; "
            "LabelMe 5.3 or later opens mask shapes)"
        )
    return LabelMeExport(files, notes)


def labelme_files(dataset: Dataset) -> dict[str, str]:
    """The files of `to_labelme` for `writers.write_files`; notes become `FormatWarning`s."""
    export = to_labelme(dataset)
    for note in export.notes:
        warnings.warn(note, FormatWarning, stacklevel=3)
    return export.files


def _json_names(image_names: list[str]) -> list[str]:
    """``<stem>.json`` per image (LabelMe's own naming); images whose stems clash (``a.jpg``,
    ``a.png``) get ``<file name>.json`` instead."""
    stems = [PurePosixPath(name).stem.lower() for name in image_names]
    clashing = {stem for stem in stems if stems.count(stem) > 1}
    return [
        f"{name}.json" if stem in clashing else f"{PurePosixPath(name).stem}.json"
        for name, stem in zip(image_names, stems)
    ]


def _shapes(label: Label, info: MediaInfo, names: dict[int, str]) -> tuple[list[dict], int]:
    """The shapes of one label, and 1 when it was written as a mask."""
    quantised = quantise(label.shape)
    fields = label_fields(label, names)

    def entry(points: list, kind: str, mask: str | None = None) -> dict:
        return {
            "label": label.class_name,
            "points": points,
            "group_id": label.object_id,
            "description": "",
            "shape_type": kind,
            "flags": {},
            "mask": mask,
            "framewise": fields,
        }

    if isinstance(quantised, Point):
        return [entry([list(to_edges(quantised))], "point")], 0
    shape = region_of(quantised)
    if isinstance(shape, Box):
        return [entry([[shape.x0, shape.y0], [shape.x1, shape.y1]], "rectangle")], 0
    if has_holes(shape):
        mask_entry = _mask_shape(shape, info)
        if mask_entry is not None:
            points, data = mask_entry
            return [entry(points, "mask", data)], 1
    return [entry(np.asarray(part[0], np.float64).tolist(), "polygon") for part in shape.parts], 0


def _mask_shape(polygon: Polygon, info: MediaInfo) -> tuple[list, str] | None:
    """(points, base64 PNG) of the polygon's pixels as a LabelMe mask shape; None if empty."""
    from PIL import Image

    crop, x0, y0 = raster_crop(polygon, info.height, info.width)
    rows, cols = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    if not len(rows):
        return None
    crop = crop[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    buffer = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8)).save(buffer, format="PNG")
    x1, y1 = x0 + int(cols[0]), y0 + int(rows[0])
    points = [[float(x1), float(y1)], [float(x1 + crop.shape[1] - 1), float(y1 + crop.shape[0] - 1)]]
    return points, base64.b64encode(buffer.getvalue()).decode("ascii")
