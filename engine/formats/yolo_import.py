"""`import_yolo`: an Ultralytics YOLO dataset (``data.yaml`` + ``labels/``) back to a `Dataset`.

What is read:
- ``data.yaml`` (or a folder holding one): ``names`` (a mapping ``0: name`` or a list, block
  or flow style) or ``nc``, the splits ``train``/``val``/``test`` (image folders, relative;
  a leading ``../`` that leaves the folder is dropped, as Ultralytics retries it) and an
  optional relative ``path``. Every folder must stay inside the yaml's folder: an absolute
  path, ``..`` or a symbolic link out of it is refused (`engine.formats.inputs`).
- Per split, the label folder Ultralytics pairs with its images (``images`` -> ``labels``),
  every ``.txt`` below it. Each folder of label files is one media (``labels/train/<media>/``,
  or the split's folder itself).
- Frames: with the images (``images/<split>/<media>/``), the media is that image folder,
  named by its resolved path (as framewise names an image folder it opens), whose frames are
  its images in natural order and whose size is read from their headers;
  without images, give the media (`import_yolo(..., media=PATH)`, a video or an image
  folder): label ``<frame:06d>.txt`` is frame ``<frame>`` of a video, or the frame of that
  stem in an image folder; YOLO files hold no frame size, so there is no third way.
- Lines: ``cls cx cy w h`` -> a box; ``cls x1 y1 …`` -> a polygon: the segment is split into
  loops where it revisits a vertex (zero-width bridges, as framewise and Ultralytics'
  ``merge_multi_segment`` join parts) and the loops' even-odd nesting gives parts and holes
  (`yolo_rings`). A class whose lines are all boxes (5 values, or the four corners
  ``x0 y0 x1 y0 x1 y1 x0 y1`` framewise and Ultralytics' converter write for a box in a
  segment dataset) is a bounding-box class, any other a polygon class (boxes of a polygon
  class become rectangles); a class without lines follows the dataset (segment: polygon).
- YOLO holds **no object identity**: every line becomes its own object (ids 1, 2, … per
  media in file order), labels are confirmed ``manual`` ones with score 1.
Values must be finite and normalised (0..1, as Ultralytics requires), class ids within the
names; anything else raises `SessionFormatError` naming the file and line.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from engine.errors import FramewiseError, OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import (
    check_frame_size,
    check_frames,
    content_key,
    inside,
    media_name,
    read_capped,
    safe_relative,
)
from engine.formats.yolo_rings import SCALE, rings_to_parts, split_rings
from engine.formats.yolo_yaml import class_names, parse_data_yaml
from engine.media.fingerprint import media_info
from engine.media.image_headers import check_header
from engine.media.images import natural_sort_key
from engine.media.open import open_media
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon, ShapeType

IMAGE_SUFFIXES = (".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic")
"""Ultralytics' IMG_FORMATS."""
MAX_YAML_BYTES = 1 << 20


@dataclass
class _Line:
    class_id: int
    values: list[float]
    where: str


def import_yolo(path: str | Path, *, media: str | Path | None = None) -> Dataset:
    """Read the YOLO dataset described by ``path`` (a data.yaml or its folder) as a `Dataset`."""
    yaml_file = _yaml_file(Path(path))
    raw = read_capped(yaml_file, MAX_YAML_BYTES)
    spec = parse_data_yaml(raw, str(yaml_file))
    names = class_names(spec, str(yaml_file))
    root = yaml_file.parent
    if spec.get("path"):
        root = inside(root, safe_relative(spec["path"], where=f"{yaml_file}: path"), where=f"{yaml_file}: path")
    groups = _label_groups(root, spec, str(yaml_file))
    source_media = _open_media(media) if media is not None else None
    if source_media is not None and len(groups) > 1:
        raise SessionFormatError(f"{yaml_file}: the labels hold {len(groups)} media; --media names one")
    infos: list[MediaInfo] = []
    per_media: list[tuple[MediaInfo, list[tuple[int, list[_Line]]]]] = []
    keys: list[bytes] = [raw]
    for (name, images), files in groups.items():
        info, located = _frames(name, images, files, source_media, str(yaml_file))
        parsed: list[tuple[int, list[_Line]]] = []
        for frame_index, file in located:
            data = read_capped(file)
            keys.append(data)
            parsed.append((frame_index, _parse_lines(data, str(file), len(names))))
        infos.append(info)
        per_media.append((info, parsed))
    shapes = _class_shapes(names, [line for _, parsed in per_media for _, lines in parsed for line in lines])
    labels: list[Label] = []
    for info, parsed in per_media:
        object_id = 0
        for frame_index, lines in sorted(parsed, key=lambda item: item[0]):
            for line in lines:
                object_id += 1
                class_name = names[line.class_id]
                shape = _shape(line, info, shapes[class_name])
                labels.append(Label(object_id, frame_index, class_name, shape, source=LabelSource.MANUAL, media=info.name))
    try:
        ontology = Ontology.from_json([{"name": n, "shape": shapes[n]} for n in names], source=str(yaml_file))
    except OntologyError as exc:
        raise SessionFormatError(f"{yaml_file}: names: {exc}") from exc
    dataset = Dataset(ontology, infos, labels)
    dataset.source_key = content_key(b"\0".join(keys))
    return dataset


def _yaml_file(path: Path) -> Path:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if len(found) != 1:
            raise SessionFormatError(f"{path}: expected one data .yaml in the folder, found {len(found)}")
        return found[0]
    return path


def _label_groups(root: Path, spec: dict, source: str) -> dict[tuple[str, Path | None], list[Path]]:
    """(media name, its image folder or None) -> label files, per split folder named in the yaml."""
    folders: dict[Path, tuple[str, Path]] = {}  # label folder -> (split name, image folder)
    for split in ("train", "val", "test"):
        entries = spec.get(split)
        for entry in [entries] if isinstance(entries, str) else entries or []:
            relative = safe_relative(_relative(entry, root), where=f"{source}: {split}")
            if relative.suffix == ".txt":
                raise SessionFormatError(f"{source}: {split}: image lists ({entry}) are not supported, only folders")
            images = inside(root, relative, where=f"{source}: {split}")
            parts = list(relative.parts)
            if "images" not in parts:
                raise SessionFormatError(f"{source}: {split}: {entry!r} has no 'images' folder to pair labels with")
            at = len(parts) - 1 - parts[::-1].index("images")
            labels = inside(root, PurePosixPath(*parts[:at], "labels", *parts[at + 1 :]), where=f"{source}: {split}")
            folders.setdefault(labels, (relative.name if at < len(parts) - 1 else split, images))
    groups: dict[tuple[str, Path | None], list[Path]] = {}
    for labels, (split_name, split_images) in folders.items():
        if not labels.is_dir():
            continue
        for directory, subdirs, files in os.walk(labels):  # symbolic links to folders are not followed
            subdirs.sort()
            for name in sorted(f for f in files if f.endswith(".txt")):
                file = Path(directory) / name
                inside(root, PurePosixPath(file.relative_to(root).as_posix()), where=f"{source}: label file")
                folder = file.parent.relative_to(labels).as_posix()
                images = split_images / folder if folder != "." else split_images
                key = (split_name if folder == "." else folder, images if images.is_dir() else None)
                groups.setdefault(key, []).append(file)
    if not groups:
        raise SessionFormatError(f"{source}: no label files next to the splits' image folders")
    return groups


def _relative(entry: object, root: Path) -> str:
    if isinstance(entry, str) and entry.startswith("../") and not (root / entry).exists():
        return entry[3:]  # as check_det_dataset retries a '../' split
    return str(entry)


# -- frames and media -----------------------------------------------------------------------


def _open_media(path: str | Path) -> MediaInfo:
    try:
        source = open_media(path)
        try:
            return media_info(source, str(path))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
    except FramewiseError as exc:
        raise SessionFormatError(f"{path}: cannot open the media for the YOLO labels: {exc}") from exc


def _frames(
    name: str, images: Path | None, files: list[Path], media: MediaInfo | None, source: str
) -> tuple[MediaInfo, list[tuple[int, Path]]]:
    if media is not None:
        stems = [PurePosixPath(n).stem for n in media.frame_names]
        out = []
        for file in files:
            stem = file.stem
            if media.frame_names:
                if stem not in stems:
                    raise SessionFormatError(f"{file}: no frame {stem!r} in {media.name}")
                out.append((stems.index(stem), file))
            elif re.fullmatch(r"\d{1,9}", stem) and int(stem) < media.frames:
                out.append((int(stem), file))
            else:
                raise SessionFormatError(f"{file}: {stem!r} is not a frame number of {media.name} (0..{media.frames - 1})")
        return media, out
    if images is None:
        raise SessionFormatError(
            f"{source}: no images for the labels of {name!r} (YOLO files hold no frame size): "
            "import with the images next to the labels, or name the media"
        )
    frame_names = sorted(
        (p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=natural_sort_key
    )
    by_stem = {PurePosixPath(n).stem: k for k, n in enumerate(frame_names)}
    out = []
    sizes: set[tuple[int, int]] = set()
    for file in files:
        if file.stem not in by_stem:
            raise SessionFormatError(f"{file}: no image {file.stem}.* in {images}")
        index = by_stem[file.stem]
        out.append((index, file))
    for index in sorted({index for index, _ in out} | {0}):
        image = inside(images, PurePosixPath(frame_names[index]), where=f"{source}: image")
        try:
            header = check_header(image, read_capped(image))
        except FramewiseError as exc:
            raise SessionFormatError(f"{image}: {exc}") from exc
        sizes.add((header.width, header.height))
    if len(sizes) != 1:
        raise SessionFormatError(f"{images}: images of different sizes {sorted(sizes)} cannot be one media")
    ((width, height),) = sizes
    check_frame_size(width, height, f"{images}")
    check_frames(len(frame_names), f"{images}")
    # named by the image folder's resolved path, as an image folder opened in framewise is (so the
    # editor and --with-frames find it; its export stem is the folder's name, as before)
    folder_name = media_name(str(images.resolve()), where=source)
    info = MediaInfo(folder_name, "", width, height, len(frame_names), 0.0, (), tuple(frame_names))
    return info, out


# -- lines ----------------------------------------------------------------------------------


def _parse_lines(data: bytes, source: str, classes: int) -> list[_Line]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SessionFormatError(f"{source}: not UTF-8 text ({exc})") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        where = f"{source}: line {number}"
        try:
            class_float = float(words[0])
            values = [float(word) for word in words[1:]]
        except ValueError:
            raise SessionFormatError(f"{where}: expected numbers, got {line[:60]!r}") from None
        if not all(math.isfinite(v) for v in values + [class_float]) or class_float != int(class_float):
            raise SessionFormatError(f"{where}: expected an integer class and finite values")
        class_id = int(class_float)
        if not 0 <= class_id < classes:
            raise SessionFormatError(f"{where}: class {class_id} is outside 0..{classes - 1} (the names)")
        if len(values) != 4 and (len(values) < 6 or len(values) % 2):
            raise SessionFormatError(f"{where}: {len(values)} values: expected 4 (a box) or x y pairs (a segment)")
        if min(values) < 0 or max(values) > 1:
            raise SessionFormatError(f"{where}: values outside 0..1 (YOLO coordinates are normalised)")
        out.append(_Line(class_id, values, where))
    return out


def _is_box_corners(values: list[float]) -> bool:
    if len(values) != 8:
        return False
    return values[2] == values[4] and values[3] == values[1] and values[5] == values[7] and values[6] == values[0] and (
        values[0] < values[2] and values[1] < values[5]
    )


def _class_shapes(names: list[str], lines: list[_Line]) -> dict[str, str]:
    segments = any(len(line.values) != 4 for line in lines)
    boxes: dict[str, bool] = {}
    for line in lines:
        name = names[line.class_id]
        is_box = len(line.values) == 4 or _is_box_corners(line.values)
        boxes[name] = boxes.get(name, True) and is_box
    default = ShapeType.POLYGON if segments else ShapeType.BOUNDING_BOX
    return {
        name: str(default if name not in boxes else ShapeType.BOUNDING_BOX if boxes[name] else ShapeType.POLYGON)
        for name in names
    }


def _shape(line: _Line, info: MediaInfo, shape: str) -> Box | Polygon:
    size = np.array([info.width, info.height], np.float64)
    values = np.asarray(line.values, np.float64)
    if len(values) == 4:
        cx, cy, w, h = values
        corners = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2]]).clip(0, 1) * size
        (x0, y0), (x1, y1) = np.round(corners, 2) + 0.0
        if x1 <= x0 or y1 <= y0:
            raise SessionFormatError(f"{line.where}: an empty box")
        box = Box(float(x0), float(y0), float(x1), float(y1))
        if shape == ShapeType.BOUNDING_BOX:
            return box
        values = np.array([box.x0, box.y0, box.x1, box.y0, box.x1, box.y1, box.x0, box.y1]) / np.tile(size, 4)
    points = np.round(values.reshape(-1, 2) * size * SCALE).astype(np.int64)
    if shape == ShapeType.BOUNDING_BOX:
        (x0, y0), (x1, y1) = points.min(0) / SCALE, points.max(0) / SCALE
        return Box(float(x0), float(y0), float(x1), float(y1))
    parts = rings_to_parts(split_rings(points))
    if not parts:
        raise SessionFormatError(f"{line.where}: a segment without area")
    return Polygon(tuple(tuple(ring.astype(np.float64) / SCALE for ring in part) for part in parts))
