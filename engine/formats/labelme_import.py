"""`import_labelme`: a folder of LabelMe JSON files (one per image) back to a `Dataset`.

The folder's own ``*.json`` files make one media, and so do those of each folder directly in
it (the layout `to_labelme` writes: ``<media stem>/<frame>.json``); every such file must be
a LabelMe file. Symbolic links that lead out of the folder are refused.
- Media: files framewise wrote carry a top-level ``framewise`` object and go back to their
  media and frame. Others form an image-folder media named by their folder: the frames are
  the folder's image files and the files' ``imagePath`` names, naturally sorted (so they
  line up with the frames framewise opens for that folder); ``imagePath`` only names a frame
  (its last component; LabelMe itself falls back to it) and is never opened. Files of one
  folder with different ``imageWidth`` / ``imageHeight`` make one media per image.
- Shapes: ``label`` = class, ``group_id`` = object (shapes of one (label, group_id) on one
  image are one label; without a group_id each shape is its own object; a group_id used with
  two labels in one media gives one new object per (label, group_id)). ``polygon`` ->
  a polygon part, ``rectangle`` -> a box (a part of a polygon label when the class also has
  polygons), ``mask`` (LabelMe 5.3+) -> the traced outline of its pixels (holes kept),
  ``circle`` -> a 64-sided polygon (counted), ``point`` -> a point (LabelMe's canvas is
  pixel edges: the pixel centre is x - 0.5, `engine.formats.points`). ``points``, ``line``
  and ``linestrip`` are left out (counted).
- Classes: in order of first use; ``bounding_box`` when a class has rectangles only,
  ``point`` when it has points only (points and other shapes in one class are refused).
Malformed input raises `SessionFormatError` naming the file and the field.
"""

from __future__ import annotations

import json
import stat
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np

from engine.errors import FormatWarning, OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import (
    MAX_IMPORT_BYTES,
    JsonFields,
    check_frame_size,
    check_frames,
    check_id,
    content_key,
    inside,
    media_name,
    read_capped,
)
from engine.formats.labelme_shapes import read_shape
from engine.limits import MAX_FRAMES, MAX_ID
from engine.media.images import natural_sort_key
from engine.media.source import IMAGE_EXTENSIONS
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon, Shape, ShapeType

_SHAPES = ("polygon", "rectangle", "mask", "circle", "point")
_SKIPPED = ("points", "line", "linestrip")


@dataclass
class LabelMeImport:
    dataset: Dataset
    notes: list[str] = field(default_factory=list)


@dataclass
class _File:
    where: str
    data: dict
    image: str  # the frame's file name
    width: int
    height: int
    block: dict | None


def import_labelme(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a folder of LabelMe files (at most ``max_bytes`` in all) as a `Dataset`; what it
    cannot carry exactly is reported as `FormatWarning`s."""
    root = Path(path)
    if not root.is_dir():
        raise SessionFormatError(f"{root}: not a folder (labelme imports a folder of LabelMe .json files)")
    groups: dict[Path, list[tuple[str, dict]]] = {}
    total = 0
    digest = []
    for folder in [root, *sorted(p for p in _entries(root) if p.is_dir())]:
        for file in sorted(p for p in _entries(folder) if p.suffix.lower() == ".json"):
            inside(root, PurePosixPath(file.relative_to(root).as_posix()), where=str(file))
            if total >= max_bytes:
                raise SessionFormatError(f"{root}: the LabelMe files are over the import limit of {max_bytes} bytes")
            raw = read_capped(file, max_bytes - total)
            total += len(raw)
            if sum(len(files) for files in groups.values()) >= MAX_FRAMES:
                raise SessionFormatError(f"{root}: more than {MAX_FRAMES} LabelMe files")
            groups.setdefault(folder, []).append((str(file), _parse(file, raw)))
            digest.append(file.relative_to(root).as_posix().encode() + b"\0" + raw)
    if not groups:
        raise SessionFormatError(f"{root}: no LabelMe .json files in the folder or the folders in it")
    images = {folder: [p.name for p in _entries(folder) if _is_image(p)] for folder in groups}
    result = from_labelme(groups, images)
    for note in result.notes:
        warnings.warn(note, FormatWarning, stacklevel=2)
    result.dataset.source_key = content_key(b"\0\0".join(digest))
    return result.dataset


def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as exc:
        raise SessionFormatError(f"{folder}: cannot list folder ({exc.strerror or exc})") from exc


def _is_image(path: Path) -> bool:
    try:
        return path.suffix.lower() in IMAGE_EXTENSIONS and stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _parse(file: Path, raw: bytes) -> dict:
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise SessionFormatError(f"{file}: not a UTF-8 JSON file ({exc})") from exc
    except RecursionError as exc:
        raise SessionFormatError(f"{file}: JSON nested too deeply") from exc
    if not isinstance(data, dict) or "shapes" not in data:
        raise SessionFormatError(f"{file}: not a LabelMe file (no 'shapes' list)")
    return data


class _Reader:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.classes: dict[str, set[str]] = {}
        self.labels: dict[tuple[str, int, int], Label] = {}
        self.names: dict[tuple[str, int], str] = {}


def from_labelme(groups: dict[Path, list[tuple[str, dict]]], images: dict[Path, list[str]]) -> LabelMeImport:
    """A `Dataset` from parsed LabelMe files by folder (folder -> [(file name, data)]) and the
    image file names found in each folder."""
    reader = _Reader()
    media: list[MediaInfo] = []
    placed: list[tuple[_File, MediaInfo, int]] = []
    for folder, parsed in groups.items():
        files = [_read_file(JsonFields(name), data) for name, data in parsed]
        for info, members in _media(folder, files, images.get(folder, [])):
            media.append(info)
            placed += [(file, info, frame) for file, frame in members]
    shapes = [(file, info, frame, _read_shapes(reader, file)) for file, info, frame in placed]
    for name, kinds in reader.classes.items():
        if "point" in kinds and len(kinds) > 1:
            raise SessionFormatError(f"labelme: class {name!r} has point and {sorted(kinds - {'point'})[0]} shapes")
    point_classes = {name for name, kinds in reader.classes.items() if kinds == {"point"}}
    polygon_classes = {name for name, kinds in reader.classes.items() if kinds - {"rectangle", "point"}}
    taken = {item[2]["group_id"] for *_, items in shapes for item in items if item[2]["group_id"] is not None}
    next_id = max(taken | {0}) + 1
    # a group_id is the object of its label; one used with two labels in a media gives one
    # object per (label, group_id)
    group_classes: dict[tuple[str, int], set[str]] = {}
    for _, info, _, items in shapes:
        for class_name, _, fields in items:
            if fields["group_id"] is not None:
                group_classes.setdefault((info.name, fields["group_id"]), set()).add(class_name)
    objects: dict[tuple[str, str, int], int] = {}
    for file, info, frame, items in shapes:
        for class_name, shape, fields in items:
            group = fields.pop("group_id")
            if group is not None and len(group_classes[(info.name, group)]) == 1:
                object_id = group
            elif group is not None and (info.name, class_name, group) in objects:
                object_id = objects[(info.name, class_name, group)]
            else:
                if next_id > MAX_ID:
                    raise SessionFormatError(f"{file.where}: no object id left")
                object_id, next_id = next_id, next_id + 1
                if group is not None:
                    objects[(info.name, class_name, group)] = object_id
            _put(reader, file, info, frame, object_id, class_name, shape, fields, class_name in polygon_classes)
    entries = [
        {"name": name, "shape": ShapeType.POLYGON if name in polygon_classes else ShapeType.BOUNDING_BOX}
        for name in reader.classes
    ]
    for entry in entries:
        if entry["name"] in point_classes:
            entry["shape"] = ShapeType.POINT
    if not entries:
        raise SessionFormatError(f"{next(iter(groups))}: no polygon, rectangle or point shapes to import")
    try:
        ontology = Ontology.from_json(entries, source="labelme classes")
    except OntologyError as exc:
        raise SessionFormatError(f"labelme: classes: {exc}") from exc
    return LabelMeImport(Dataset(ontology, media, list(reader.labels.values()), reader.names), _notes(reader.counts))


def _notes(counts: dict[str, int]) -> list[str]:
    notes = []
    for key, n in sorted(counts.items()):
        if key == "circle":
            notes.append(f"labelme: {n} circle shapes imported as 64-sided polygons")
        else:
            notes.append(f"labelme: {n} {key} shapes left out (framewise labels are areas)")
    return notes


def _read_file(top: JsonFields, data: dict) -> _File:
    where = "top level"
    top.list_of(data, "shapes")
    image_path = top.get(data, "imagePath", where, str)
    image = PurePosixPath(image_path.replace("\\", "/")).name
    if not image or image in (".", ".."):
        raise top.fail("imagePath", f"{image_path!r} names no file")
    media_name(image, where=f"{top.source}: imagePath")
    if data.get("imageData") is not None:
        top.get(data, "imageData", where, str)  # (the embedded image is not needed: never decoded)
    width, height = top.get(data, "imageWidth", where, int), top.get(data, "imageHeight", where, int)
    if width <= 0 or height <= 0:
        raise top.fail("imageWidth", f"image size {width}x{height} must be positive")
    check_frame_size(width, height, f"{top.source}: imageWidth")
    block = top.get(data, "framewise", where, dict, required=False)
    return _File(top.source, data, image, width, height, block)


def _media(folder: Path, files: list[_File], image_names: list[str]):
    """(media, [(file, frame index)]) of one folder's files."""
    declared = [file for file in files if file.block is not None]
    if declared and len(declared) == len(files):
        yield from _declared_media(files)
        return
    if declared:
        raise SessionFormatError(f"{declared[0].where}: framewise files mixed with other LabelMe files in {folder}")
    by_image: dict[str, _File] = {}
    for file in files:
        if file.image in by_image:
            raise SessionFormatError(f"{file.where}: imagePath {file.image!r} is also labelled by {by_image[file.image].where}")
        by_image[file.image] = file
    names = sorted(set(image_names) | set(by_image), key=natural_sort_key)
    sizes = {(file.width, file.height) for file in files}
    if len(sizes) == 1:
        ((width, height),) = sizes
        info = MediaInfo(str(folder), "", width, height, len(names), 0.0, (), tuple(names))
        yield info, [(by_image[name], k) for k, name in enumerate(names) if name in by_image]
        return
    for file in files:
        info = MediaInfo(str(folder / file.image), "", file.width, file.height, 1, 0.0, (), (file.image,))
        yield info, [(file, 0)]


def _declared_media(files: list[_File]):
    by_media: dict[str, list[tuple[_File, int]]] = {}
    for file in files:
        top, where = JsonFields(file.where), "framewise"
        assert file.block is not None
        name = media_name(top.get(file.block, "media", where, str), where=f"{file.where}: framewise.media")
        frame = check_id(top.get(file.block, "frame", where, int), f"{file.where}: framewise.frame", high=MAX_FRAMES - 1)
        by_media.setdefault(name, []).append((file, frame))
    for name, members in by_media.items():
        first = members[0][0]
        top = JsonFields(first.where)
        assert first.block is not None
        frames = check_frames(top.get(first.block, "frames", "framewise", int), f"{first.where}: framewise.frames")
        fps = top.number(first.block.get("fps", 0.0), "framewise.fps")
        fingerprint = top.get(first.block, "fingerprint", "framewise", str, required=False, default="")
        seen: dict[int, _File] = {}
        for file, frame in members:
            if (file.width, file.height) != (first.width, first.height):
                raise SessionFormatError(f"{file.where}: image size differs from the other frames of {name!r}")
            if frame >= frames or frame in seen:
                raise SessionFormatError(f"{file.where}: framewise.frame {frame} is outside 0..{frames - 1} or twice")
            seen[frame] = file
        frame_names: tuple[str, ...] = ()
        if len(seen) == frames:
            frame_names = tuple(seen[k].image for k in range(frames))
            if list(frame_names) == [f"{k:06d}.jpg" for k in range(frames)]:
                frame_names = ()
        yield MediaInfo(name, fingerprint, first.width, first.height, frames, fps, (), frame_names), members


def _read_shapes(reader: _Reader, file: _File) -> list[tuple[str, Shape, dict]]:
    top = JsonFields(file.where)
    out = []
    for index, item in enumerate(file.data["shapes"]):
        where = f"shapes[{index}]"
        if not isinstance(item, dict):
            raise top.fail(where, "expected an object")
        kind = top.get(item, "shape_type", where, str, required=False) or "polygon"
        class_name = top.get(item, "label", where, str)
        if kind in _SKIPPED:
            reader.counts[kind] = reader.counts.get(kind, 0) + 1
            continue
        if kind == "circle":
            reader.counts["circle"] = reader.counts.get("circle", 0) + 1
        if kind not in _SHAPES:
            raise top.fail(f"{where}.shape_type", f"unknown shape type {kind!r}")
        if not class_name.strip():
            raise top.fail(f"{where}.label", "empty class name")
        group = item.get("group_id")
        if group is not None:
            group = check_id(top.get(item, "group_id", where, int), f"{file.where}: {where}.group_id", low=1)
        shape = read_shape(top, item, kind, where, file.width, file.height)
        reader.classes.setdefault(class_name, set()).add(kind)
        out.append((class_name, shape, {"group_id": group, **_fields(top, item, where)}))
    return out


def _fields(top: JsonFields, item: dict, where: str) -> dict:
    block = top.get(item, "framewise", where, dict, required=False)
    if block is None:
        return {"source": LabelSource.MANUAL, "score": 1.0, "confirmed": True, "review": False, "attributes": {}}
    where = f"{where}.framewise"
    text = top.get(block, "source", where, str, required=False, default=LabelSource.MANUAL.value)
    try:
        source = LabelSource(text)
    except ValueError:
        raise top.fail(f"{where}.source", f"unknown source {text!r}") from None
    fields = {
        "source": source,
        "score": top.number(block.get("score", 1.0), f"{where}.score"),
        "confirmed": top.get(block, "confirmed", where, bool, required=False, default=True),
        "review": top.get(block, "review", where, bool, required=False, default=False),
        "attributes": top.text_map(block, "attributes", where),
    }
    if "name" in block:
        fields["name"] = top.get(block, "name", where, str)
    return fields


def _put(
    reader: _Reader, file: _File, info: MediaInfo, frame: int, object_id: int, class_name: str, shape: Shape,
    fields: dict, polygon_class: bool,
) -> None:
    name = fields.pop("name", None)
    if name is not None:
        reader.names[(info.name, object_id)] = name
    if polygon_class and isinstance(shape, Box):
        ring = np.array([[shape.x0, shape.y0], [shape.x1, shape.y0], [shape.x1, shape.y1], [shape.x0, shape.y1]])
        shape = Polygon(((ring,),))
    key = (info.name, frame, object_id)
    have = reader.labels.get(key)
    if have is not None:
        if not (isinstance(have.shape, Polygon) and isinstance(shape, Polygon)) or have.class_name != class_name:
            raise SessionFormatError(f"{file.where}: object {object_id} has two {class_name!r} shapes on one image")
        reader.labels[key] = replace(have, shape=Polygon(have.shape.parts + shape.parts))
        return
    reader.labels[key] = Label(object_id, frame, class_name, shape, media=info.name, **fields)
