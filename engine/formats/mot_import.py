"""`import_mot`: MOTChallenge ground truth (``gt/gt.txt`` + ``seqinfo.ini`` + ``gt/labels.txt``)
back to a `Dataset`.

``path`` is a sequence folder (``<seq>/gt/gt.txt``, ``<seq>/seqinfo.ini``), its ``gt.txt``,
or a folder of sequence folders (each one media, in name order). Per sequence:
- ``seqinfo.ini`` (required: YOLO-like, gt.txt holds no frame size): ``name`` (the media
  name; the folder's name when missing), ``seqLength``, ``imWidth``, ``imHeight``,
  ``frameRate``.
- ``gt/labels.txt``: line k names class k (CVAT's and Datumaro's layout); without it the
  MOT16/17 table (`engine.formats.mot.MOT_CLASSES`). The ontology is every class a row
  uses plus every line that is not the table's own unused placeholder (lines 1..12 that
  still read as Datumaro's name of that number), all bounding-box classes.
- ``gt/gt.txt`` rows ``frame,id,x,y,w,h,conf,class,visibility[,…]``: one box label per row
  (frame 1-based, id = object id), clamped into the frame. ``conf`` and ``visibility`` are
  not kept (framewise does not record occlusion; an export writes 1 for both).
Numbers must be finite, frames within ``seqLength``, ids 1.. `MAX_ID`, (frame, id) unique.
"""

from __future__ import annotations

import configparser
import math
from pathlib import Path

from engine.errors import OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import (
    check_frame_size,
    check_frames,
    check_id,
    content_key,
    media_name,
    read_capped,
)
from engine.formats.mot import MOT_CLASSES
from engine.formats.shapes import clip_to_frame
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, ShapeType


def import_mot(path: str | Path) -> Dataset:
    """Read one MOTChallenge sequence, or a folder of them, as a `Dataset`."""
    path = Path(path)
    if path.is_file():
        sequences = [path.parent.parent]
    elif (path / "gt" / "gt.txt").is_file():
        sequences = [path]
    elif path.is_dir():
        sequences = sorted(p for p in path.iterdir() if (p / "gt" / "gt.txt").is_file() and not p.is_symlink())
        if not sequences:
            raise SessionFormatError(f"{path}: no MOTChallenge sequence (<seq>/gt/gt.txt) in the folder")
    else:
        raise SessionFormatError(f"{path}: no such file or folder")
    media: list[MediaInfo] = []
    rows: list[tuple[MediaInfo, list[tuple[int, int, Box, str]]]] = []
    names: list[str] = []
    used: set[str] = set()
    keys: list[bytes] = []
    for sequence in sequences:
        info, table, sequence_rows, raw = _sequence(sequence)
        keys.extend(raw)
        media.append(info)
        rows.append((info, sequence_rows))
        used |= {row[3] for row in sequence_rows}
        for number, name in enumerate(table, start=1):
            placeholder = number <= len(MOT_CLASSES) and name == MOT_CLASSES[number - 1]
            if name not in names and (not placeholder or name in used):
                names.append(name)
    labels = [
        Label(object_id, frame, name, box, source=LabelSource.MANUAL, media=info.name)
        for info, sequence_rows in rows
        for frame, object_id, box, name in sequence_rows
    ]
    try:
        ontology = Ontology.from_json([{"name": n, "shape": ShapeType.BOUNDING_BOX} for n in names], source=str(path))
    except OntologyError as exc:
        raise SessionFormatError(f"{path}: labels.txt: {exc}") from exc
    dataset = Dataset(ontology, media, labels)
    dataset.source_key = content_key(b"\0".join(keys))
    return dataset


def _sequence(folder: Path) -> tuple[MediaInfo, list[str], list[tuple[int, int, Box, str]], list[bytes]]:
    seqinfo = folder / "seqinfo.ini"
    if not seqinfo.is_file():
        raise SessionFormatError(f"{seqinfo}: missing (gt.txt holds no frame size or length)")
    raw_info = read_capped(seqinfo, 1 << 20)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(raw_info.decode("utf-8"), source=str(seqinfo))
        section = parser["Sequence"]
    except KeyError:
        raise SessionFormatError(f"{seqinfo}: no [Sequence] section") from None
    except (UnicodeDecodeError, configparser.Error) as exc:
        reason = " ".join(str(exc).replace(str(seqinfo), "").split())  # one line
        raise SessionFormatError(f"{seqinfo}: not a MOTChallenge seqinfo.ini ({reason})") from None
    frames = _ini_int(section, "seqLength", seqinfo)
    width, height = _ini_int(section, "imWidth", seqinfo), _ini_int(section, "imHeight", seqinfo)
    check_frames(frames, f"{seqinfo}: seqLength")
    check_frame_size(width, height, f"{seqinfo}: imWidth x imHeight")
    try:
        fps = float(section.get("frameRate", "0") or 0)
    except ValueError:
        raise SessionFormatError(f"{seqinfo}: frameRate: expected a number") from None
    fps = fps if math.isfinite(fps) and fps > 0 else 0.0
    name = media_name(section.get("name", folder.name) or folder.name, where=f"{seqinfo}: name")
    info = MediaInfo(name, "", width, height, frames, fps)
    labels_file = folder / "gt" / "labels.txt"
    raws = [raw_info]
    if labels_file.is_file():
        raw_labels = read_capped(labels_file, 1 << 20)
        raws.append(raw_labels)
        try:
            table = [line.strip() for line in raw_labels.decode("utf-8").splitlines()]
        except UnicodeDecodeError:
            raise SessionFormatError(f"{labels_file}: not UTF-8 text") from None
        while table and not table[-1]:
            table.pop()
        if not all(table) or len(set(table)) != len(table):
            raise SessionFormatError(f"{labels_file}: empty or repeated class names")
    else:
        table = list(MOT_CLASSES)
    gt = folder / "gt" / "gt.txt"
    raw_gt = read_capped(gt)
    raws.append(raw_gt)
    return info, table, _rows(raw_gt, gt, info, table), raws


def _ini_int(section, key: str, source: Path) -> int:
    try:
        value = int(section.get(key, ""))
    except ValueError:
        raise SessionFormatError(f"{source}: {key}: expected an integer") from None
    if value <= 0:
        raise SessionFormatError(f"{source}: {key}: must be positive, got {value}")
    return value


def _rows(data: bytes, source: Path, info: MediaInfo, table: list[str]) -> list[tuple[int, int, Box, str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SessionFormatError(f"{source}: not UTF-8 text") from None
    out = []
    seen: set[tuple[int, int]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}: line {number}"
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 8:
            raise SessionFormatError(f"{where}: {len(fields)} values, expected frame,id,x,y,w,h,conf,class[,visibility]")
        try:
            frame, object_id, class_number = int(fields[0]), int(fields[1]), int(fields[7])
            x, y, w, h = (float(v) for v in fields[2:6])
        except ValueError:
            raise SessionFormatError(f"{where}: expected integers frame, id, class and numbers x, y, w, h") from None
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
            raise SessionFormatError(f"{where}: the box {x:g},{y:g},{w:g},{h:g} is not finite or has no area")
        if not 1 <= frame <= info.frames:
            raise SessionFormatError(f"{where}: frame {frame} is outside 1..{info.frames} (seqLength)")
        check_id(object_id, f"{where}: id", low=1)
        if not 1 <= class_number <= len(table):
            raise SessionFormatError(f"{where}: class {class_number} is outside 1..{len(table)} (labels.txt)")
        if (frame, object_id) in seen:
            raise SessionFormatError(f"{where}: object {object_id} twice on frame {frame}")
        seen.add((frame, object_id))
        box = clip_to_frame(Box(x, y, x + w, y + h), info.width, info.height)
        if not isinstance(box, Box):
            raise SessionFormatError(f"{where}: the box lies wholly outside the {info.width}x{info.height} frame")
        out.append((frame - 1, object_id, box, table[class_number - 1]))
    return out
