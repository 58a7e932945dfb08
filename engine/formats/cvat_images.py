"""`import_cvat_images`: a CVAT for images 1.1 XML file (a task or a job export) as a `Dataset`.

CVAT for images lists frames as ``<image id="…" name="…" width="…" height="…">`` holding
shapes (``<box>``, ``<polygon>``, ``<mask>``, …, each with ``label``, ``source``,
``occluded``, ``z_order``; cvat/apps/dataset_manager/formats/cvat.py
``dump_as_cvat_annotation``). The ``<meta>`` (`engine.formats.cvat_xml`) says what the
frames are:

- ``mode`` ``interpolation`` (a video task or job): one video media named by the task's
  ``source`` (or name; ``job_<id>`` for a job), image ``id`` = data frame (checked against
  the task or job's frames), frame size from ``original_size`` or the images;
- otherwise (an image task): image-folder media, one per folder of the image ``name``\\s
  (frames in natural order of the file names, as framewise opens a folder), or one per
  image where a folder's images differ in size. Names are relative paths that must stay
  inside the file's folder (its ``images/`` subfolder when there is one, as CVAT's zips
  have it); a media is named by its resolved folder.

Each shape is one object (framewise's ``object_id`` attribute, when present, names it:
so a framewise export comes back with its objects), with fields, ``occluded``/``z_order``
and attributes read as for CVAT for video (`cvat_xml.label_fields`); a mask is its exact
pixel outline. ``<tag>`` elements (image-level labels) have no framewise equivalent and
are counted in a `FormatWarning`; ``<points>`` of one point is a point label (pixel
centre = CVAT's x - 0.5: `engine.formats.points`); other shape types (polylines, several
points in one element, ellipses, cuboids, skeletons) are refused.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from engine.errors import FormatWarning, SessionFormatError
from engine.formats.cvat_import import OBJECT_ATTRIBUTE
from engine.formats.cvat_xml import (
    MAX_MASK_PIXELS,
    TRACK_SOURCES,
    CvatMeta,
    check_kind,
    element_shape,
    label_fields,
    mask_pixels,
    ontology,
    parse_xml,
    read_meta,
    to_shape,
    used_shape,
    xml_int,
)
from engine.formats.dataset import Dataset
from engine.formats.inputs import (
    MAX_IMPORT_BYTES,
    check_frame_size,
    check_id,
    check_text,
    content_key,
    inside,
    media_name,
    read_capped,
    safe_relative,
)
from engine.formats.shapes import clip_to_frame
from engine.media.images import natural_sort_key
from engine.types import Label, LabelSource, MediaInfo, ShapeType


@dataclass(frozen=True)
class _Image:
    index: int
    frame: int
    name: str
    width: int
    height: int
    element: Any


def import_cvat_images(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a CVAT for images 1.1 XML file (at most ``max_bytes``) as a `Dataset`."""
    path = Path(path)
    raw = read_capped(path, max_bytes)
    folder = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    dataset = from_cvat_images(raw, source=str(path), root=folder)
    dataset.source_key = content_key(raw)
    return dataset


def from_cvat_images(data: bytes, *, source: str = "cvat", root: Path | None = None) -> Dataset:
    """A `Dataset` from the bytes of a CVAT for images XML file; image-folder media are
    named by ``root / folder`` (checked to stay inside ``root``), or by the folder as
    written when ``root`` is None."""
    tree = parse_xml(data, source)
    meta = read_meta(tree, source)
    images = [_read_image(index, element, meta, source) for index, element in enumerate(tree.findall("image"))]
    if not images and tree.find("track") is not None:
        raise SessionFormatError(f"{source}: a CVAT for video file (<track> elements): import it as cvat-video")
    if meta.mode == "interpolation":
        media, place = _video_media(meta, images, source)
    else:
        media, place = _folder_media(images, root, source)
    used: dict[str, ShapeType] = {}
    for image in images:
        for child in image.element:
            if child.tag in ("box", "polygon", "mask", "points"):
                used.setdefault(child.get("label", ""), used_shape(child.tag))
    classes = ontology(meta, used, source)
    sizes = {info.name: info for info in media}
    explicit = [
        xml_int(text, f"image[{image.index}]/attribute[{OBJECT_ATTRIBUTE}]", source)
        for image in images
        for text in (a.text for a in image.element.iter("attribute") if a.get("name") == OBJECT_ATTRIBUTE)
        if text
    ]
    next_id = max(explicit, default=0) + 1
    labels: list[Label] = []
    seen: set[tuple[str, int, int]] = set()
    tags = pixels = 0
    for image in images:
        media_name, frame = place[image.index]
        info = sizes[media_name]
        for position, child in enumerate(image.element):
            where = f"image[{image.index}]/{child.tag}[{position}]"
            if child.tag == "tag":
                tags += 1
                continue
            if child.tag == "attribute":
                continue
            class_name = child.get("label")
            if class_name not in classes:
                raise SessionFormatError(f"{source}: {where}@label: unknown label {class_name!r}")
            shape = element_shape(child, frame, where, source, in_track=False)
            check_kind(shape.kind, class_name, classes[class_name].shape, where, source)
            pixels += mask_pixels(shape)
            if pixels > MAX_MASK_PIXELS:
                raise SessionFormatError(f"{source}: {where}: the masks hold more than {MAX_MASK_PIXELS} pixels")
            clipped = clip_to_frame(to_shape(shape, where, source, (info.width, info.height)), info.width, info.height)
            if clipped is None:
                raise SessionFormatError(
                    f"{source}: {where}: the shape lies wholly outside the {info.width}x{info.height} image"
                )
            default_source = TRACK_SOURCES.get(child.get("source", "manual"), LabelSource.SAM)
            fields = label_fields(shape, where, source, default_source)
            text = fields["attributes"].pop(OBJECT_ATTRIBUTE, "")
            if text:
                object_id = check_id(xml_int(text, f"{where}/attribute[{OBJECT_ATTRIBUTE}]", source),
                                     f"{source}: {where}/attribute[{OBJECT_ATTRIBUTE}]", low=1)
            else:
                object_id, next_id = next_id, next_id + 1
            if (media_name, frame, object_id) in seen:
                raise SessionFormatError(f"{source}: {where}: object {object_id} twice on one frame")
            seen.add((media_name, frame, object_id))
            labels.append(Label(object_id, frame, str(class_name), clipped, media=media_name, **fields))
    if tags:
        warnings.warn(f"{source}: {tags} <tag> elements (image-level labels) skipped: framewise has no image tags",
                      FormatWarning, stacklevel=2)
    return Dataset(classes, media, labels)


def _read_image(index: int, element, meta: CvatMeta, source: str) -> _Image:
    where = f"image[{index}]"
    frame = xml_int(element.get("id"), f"{where}@id", source)
    name = check_text(element.get("name") or f"frame_{frame:06d}", f"{source}: {where}@name")
    width = xml_int(element.get("width", str(meta.width)), f"{where}@width", source)
    height = xml_int(element.get("height", str(meta.height)), f"{where}@height", source)
    if width <= 0 or height <= 0:
        raise SessionFormatError(f"{source}: {where}: image size {width}x{height} must be positive")
    check_frame_size(width, height, f"{source}: {where}@width")
    return _Image(index, frame, name, width, height, element)


def _video_media(meta: CvatMeta, images: list[_Image], source: str) -> tuple[list[MediaInfo], dict]:
    """One media for a video task or job: image ``id`` = data frame."""
    width, height = meta.width, meta.height
    if not width and images:
        width, height = images[0].width, images[0].height
    if not width:
        raise SessionFormatError(f"{source}: meta/{meta.kind}/original_size: missing")
    place: dict[int, tuple[str, int]] = {}
    frames: set[int] = set()
    for image in images:
        where = f"image[{image.index}]"
        meta.relative(image.frame, f"{where}@id", source)
        if (image.width, image.height) != (width, height):
            raise SessionFormatError(f"{source}: {where}: size {image.width}x{image.height} differs from {width}x{height}")
        if image.frame in frames:
            raise SessionFormatError(f"{source}: {where}@id: frame {image.frame} twice")
        frames.add(image.frame)
        place[image.index] = (meta.name, image.frame)
    info = MediaInfo(name=meta.name, fingerprint="", width=width, height=height, frames=meta.frames, fps=0.0)
    return [info], place


def _folder_media(images: list[_Image], root: Path | None, source: str) -> tuple[list[MediaInfo], dict]:
    """Image-folder media: one per folder of same-sized images, else one per image."""
    folders: dict[PurePosixPath, list[tuple[PurePosixPath, _Image]]] = {}
    for image in images:
        relative = safe_relative(image.name, where=f"{source}: image[{image.index}]@name")
        folders.setdefault(relative.parent, []).append((relative, image))
    media: list[MediaInfo] = []
    place: dict[int, tuple[str, int]] = {}
    for folder, group in folders.items():
        group.sort(key=lambda item: natural_sort_key(item[0].name))
        names = [relative.name for relative, _ in group]
        first = group[0][1]
        if len({(i.width, i.height) for _, i in group}) == 1 and len(set(names)) == len(names):
            name = _path_name(root, folder, f"{source}: image[{first.index}]@name")
            media.append(MediaInfo(name, "", first.width, first.height, len(group), 0.0, (), tuple(names)))
            place.update({image.index: (name, k) for k, (_, image) in enumerate(group)})
            continue
        for relative, image in group:
            name = _path_name(root, relative, f"{source}: image[{image.index}]@name")
            media.append(MediaInfo(name, "", image.width, image.height, 1, 0.0, (), (relative.name,)))
            place[image.index] = (name, 0)
    return media, place


def _path_name(root: Path | None, relative: PurePosixPath, where: str) -> str:
    if root is None:
        return media_name(relative.as_posix() if relative.parts else ".", where=where)
    return media_name(inside(root, relative, where=where).as_posix(), where=where)
