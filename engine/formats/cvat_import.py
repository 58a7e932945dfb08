"""`import_cvat_video`: a CVAT for video 1.1 XML file (a task or a job export) as a `Dataset`.

The XML is parsed with ``defusedxml`` (no DTDs, entities or external references); the
``<meta>`` of a task or a job gives one media (`engine.formats.cvat_xml`: name, frames,
frame size, frame numbering), its labels the ontology (``bbox``/``rectangle`` ->
bounding_box, ``polygon`` -> polygon, ``points`` -> point; without a type, ``any`` or ``mask`` a label's shape
follows its tracks). Each ``<track>`` is one object (id = track id + 1, or the
``object_id`` attribute framewise writes on the mask shapes it puts in tracks of their own).

A track shows what CVAT shows (`engine.formats.cvat_interpolate`, a port of CVAT's
``TrackManager``): its keyframes (``keyframe="1"``) are labels as they are; the frames
between two keyframes are interpolated as CVAT does (boxes linearly, polygons by CVAT's
arc-length matching) into unconfirmed labels with source ``interpolated``; an
``outside="1"`` keyframe ends a run; the last keyframe, unless outside, is held to the end
of the task or job. Elements with ``keyframe="0"`` are what CVAT derived and wrote out; as
CVAT's own importer does, they are not read but derived again. A track of ``<mask>``
shapes is CVAT's way of writing a single mask (CVAT has no mask tracks: its importer keeps
the first keyframe only), and so is it here.

Label fields come from framewise's ``source``/``score``/``confirmed``/``review``
attributes when present; otherwise keyframes are confirmed with the track's source mapped
(manual/file -> manual, auto -> propagated, else sam). ``occluded="1"`` and a non-zero
``z_order`` are kept as the label attributes ``occluded`` and ``z_order`` (exports write
them back); other attributes become the label's attributes. Only ``box``, ``polygon``,
``mask`` and one-point ``points`` shapes are supported (a point moves linearly between
keyframes, as CVAT moves it, and comes back at the pixel centre, x - 0.5). Coordinates
must be finite and are clamped into the frame (`clip_to_frame`, as CVAT clips shapes); a
keyframe wholly outside it is refused, an interpolated shape wholly outside is no label. Sizes, frames and ids are checked against
`engine.limits`; interpolation stops with an error past `MAX_IMPORT_LABELS` labels or
`MAX_IMPORT_COORDINATES` coordinates.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import SessionFormatError
from engine.formats.cvat_interpolate import InterpolationError, TrackShape, interpolated_shapes
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
from engine.formats.inputs import MAX_IMPORT_BYTES, check_id, content_key, read_capped
from engine.formats.shapes import clip_to_frame
from engine.limits import MAX_ID
from engine.types import Label, LabelSource, MediaInfo, ShapeType

MAX_IMPORT_LABELS = 2_000_000
"""Labels one import may make: a few bytes of XML can hold a keyframe that CVAT's rules
hold for millions of frames."""
MAX_IMPORT_COORDINATES = 20_000_000
"""Coordinates the interpolated shapes of one import may hold (large polygons far apart)."""

OBJECT_ATTRIBUTE = "object_id"
"""The attribute framewise writes on a mask put in a track of its own: its object's id."""


def import_cvat_video(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a CVAT for video 1.1 XML file (at most ``max_bytes``) as a `Dataset`."""
    path = Path(path)
    raw = read_capped(path, max_bytes)
    dataset = from_cvat_video(raw, source=str(path))
    dataset.source_key = content_key(raw)
    return dataset


def from_cvat_video(data: bytes, *, source: str = "cvat") -> Dataset:
    """A `Dataset` from the bytes of a CVAT for video XML file."""
    root = parse_xml(data, source)
    meta = read_meta(root, source)
    tracks = root.findall("track")
    if not tracks and root.find("image") is not None:
        raise SessionFormatError(f"{source}: a CVAT for images file (<image> elements): import it as cvat-images")
    if not meta.width:
        raise SessionFormatError(f"{source}: meta/{meta.kind}/original_size: missing")
    info = MediaInfo(name=meta.name, fingerprint="", width=meta.width, height=meta.height, frames=meta.frames, fps=0.0)
    parsed = [_read_track(index, track, meta, source) for index, track in enumerate(tracks)]
    used: dict[str, ShapeType] = {}
    for _, class_name, _, keyframes in parsed:
        if keyframes:
            kind = keyframes[0].kind
            used.setdefault(class_name, used_shape(kind))
    classes = ontology(meta, used, source)
    labels: list[Label] = []
    seen_tracks: set[int] = set()
    seen: set[tuple[int, int]] = set()
    coordinates = pixels = 0
    explicit = [_explicit_id(keyframes, index, source) for index, (_, _, _, keyframes) in enumerate(parsed)]
    explicit_ids = [value for value in explicit if value is not None]
    next_id = max(explicit_ids, default=0) + 1  # for tracks without object_id beside tracks with one
    for index, (track_id, class_name, default_source, keyframes) in enumerate(parsed):
        where = f"track[{index}]"
        if track_id in seen_tracks:
            raise SessionFormatError(f"{source}: {where}@id: invalid or duplicate track id {track_id}")
        seen_tracks.add(track_id)
        if class_name not in classes:
            raise SessionFormatError(f"{source}: {where}@label: unknown label {class_name!r}")
        if not keyframes:
            continue
        check_kind(keyframes[0].kind, class_name, classes[class_name].shape, where, source)
        object_id = explicit[index]
        if object_id is None and explicit_ids:
            object_id, next_id = next_id, next_id + 1
        elif object_id is None:
            object_id = track_id + 1
        if keyframes[0].kind == "mask":
            shown = [keyframes[0]]  # CVAT has no mask tracks: a mask track is its first shape
            shown[0].outside = False
        else:
            try:
                shown = interpolated_shapes(
                    keyframes, meta.end, limit=MAX_IMPORT_LABELS - len(labels),
                    point_limit=MAX_IMPORT_COORDINATES - coordinates,
                )
            except InterpolationError as exc:
                raise SessionFormatError(f"{source}: {where}: {exc}") from None
            coordinates += sum(len(shape.points) for shape in shown)
        for shape in shown:
            if shape.outside or (shape.kind == "polygon" and len(shape.points) < 6):
                continue  # (CVAT's thinning can leave a tiny polygon fewer than 3 points)
            frame = meta.data_frame(shape.frame)
            at = f"{where}/{'box' if shape.kind == 'rectangle' else shape.kind}[frame={frame}]"
            if (object_id, frame) in seen:
                raise SessionFormatError(f"{source}: {at}: object {object_id} has frame {frame} twice")
            seen.add((object_id, frame))
            pixels += mask_pixels(shape)
            if pixels > MAX_MASK_PIXELS:
                raise SessionFormatError(f"{source}: {at}: the masks hold more than {MAX_MASK_PIXELS} pixels")
            clipped = clip_to_frame(to_shape(shape, at, source, (info.width, info.height)), info.width, info.height)
            if clipped is None:
                if not shape.keyframe:
                    continue  # interpolated towards a marker beyond the frame
                raise SessionFormatError(
                    f"{source}: {at}: the shape lies wholly outside the {info.width}x{info.height} frame"
                )
            fields = label_fields(shape, at, source, default_source)
            fields["attributes"].pop(OBJECT_ATTRIBUTE, None)
            labels.append(Label(object_id, frame, class_name, clipped, media=info.name, **fields))
        if len(labels) > MAX_IMPORT_LABELS:
            raise SessionFormatError(f"{source}: the tracks show more than {MAX_IMPORT_LABELS} labels")
    return Dataset(classes, [info], labels)


def _read_track(index: int, track, meta: CvatMeta, source: str) -> tuple[int, str, LabelSource, list[TrackShape]]:
    """(track id, label, default label source, keyframes in frame order) of one ``<track>``."""
    where = f"track[{index}]"
    track_id = check_id(xml_int(track.get("id"), f"{where}@id", source), f"{source}: {where}@id", high=MAX_ID - 1)
    default_source = TRACK_SOURCES.get(track.get("source", "manual"), LabelSource.SAM)
    frames: set[int] = set()
    keyframes: list[TrackShape] = []
    for child in track:
        element_where = f"{where}/{child.tag}[frame={child.get('frame')}]"
        frame = xml_int(child.get("frame"), f"{element_where}@frame", source)
        relative = meta.relative(frame, f"{element_where}@frame", source)
        if frame in frames:
            raise SessionFormatError(f"{source}: {element_where}@frame: frame {frame} twice in one track")
        frames.add(frame)
        shape = element_shape(child, relative, element_where, source, in_track=True)
        if shape.keyframe:
            keyframes.append(shape)
    keyframes.sort(key=lambda shape: shape.frame)
    return track_id, track.get("label", ""), default_source, keyframes


def _explicit_id(keyframes: list[TrackShape], index: int, source: str) -> int | None:
    """The ``object_id`` framewise wrote on a track's first keyframe (None: none, or "")."""
    text = keyframes[0].attributes.get(OBJECT_ATTRIBUTE) if keyframes else None
    if not text:
        return None
    where = f"{source}: track[{index}]/attribute[{OBJECT_ATTRIBUTE}]"
    return check_id(xml_int(text, where.removeprefix(f"{source}: "), source), where, low=1)
