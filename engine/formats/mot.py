"""`to_mot`: a `Dataset` as MOTChallenge ground truth (pure; returns relative path -> text).

Per media ``<media stem>/``:
- ``gt/gt.txt``: ``frame,id,x,y,w,h,conf,class,visibility`` per label, sorted by frame
  then id; ``frame`` is 1-based, ``id`` the object id; ``x,y,w,h`` the box in pixel-edge
  coordinates from the frame's top-left corner (0-based, as CVAT and Datumaro read and
  write MOT; at most 2 decimals); a polygon's box is its exterior vertices' box;
  ``conf`` 1 (the "consider" flag of ground truth); ``visibility`` 1 (framewise does not
  record occlusion).
- ``class``: the MOTChallenge (MOT16/17) class number for a class whose name is one of the
  table's (`MOT_CLASSES`: pedestrian or person 1, person on vehicle 2, car 3, bicycle 4,
  motorbike 5, non motorized vehicle 6, static person 7, distractor 8, occluder 9, occluder
  on the ground 10, occluder full 11, reflection 12; case, ``_`` and ``-`` ignored), so
  TrackEval, which scores class 1 (pedestrian), sees the right class; any other class
  numbers on from 13 in ontology order.
- ``gt/labels.txt``: line k names class k, the layout CVAT and Datumaro (``mot_seq``) read:
  the table's names on lines 1..12 (our class's name where one maps there, Datumaro's
  spelling elsewhere), then the other classes.
- ``seqinfo.ini``: name, frame rate, length and frame size.
Every media gets its files, an empty ``gt.txt`` when it has no labels.
"""

from __future__ import annotations

from engine.formats.dataset import Dataset
from engine.formats.shapes import is_empty, quantise, rounded, shape_bounds
from engine.types import MediaInfo


def to_mot(dataset: Dataset) -> dict[str, str]:
    """Relative path -> file text for the MOTChallenge export of ``dataset``."""
    dataset.check()
    stems = dataset.stems()
    table = mot_class_table(dataset.ontology.names)
    class_ids = {name: index for index, name in enumerate(table, start=1)}
    names_text = "".join(name + "\n" for name in table)
    files: dict[str, str] = {}
    for info in dataset.media:
        stem = stems[info.name]
        rows = []
        for label in dataset.labels_of(info.name):
            if is_empty(label.shape):
                continue
            box = shape_bounds(quantise(label.shape))
            values = [box.x0, box.y0, rounded(box.x1 - box.x0), rounded(box.y1 - box.y0)]
            numbers = ",".join(_number(v) for v in values)
            rows.append(f"{label.frame_index + 1},{label.object_id},{numbers},1,{class_ids[label.class_name]},1")
        files[f"{stem}/gt/gt.txt"] = "".join(row + "\n" for row in rows)
        files[f"{stem}/gt/labels.txt"] = names_text
        files[f"{stem}/seqinfo.ini"] = _seqinfo(stem, info)
    return files


MOT_CLASSES = (
    "pedestrian", "person on vehicle", "car", "bicycle", "motorbike", "non motorized vehicle", "static person",
    "distractor", "occluder", "occluder on the ground", "occluder full", "reflection",
)
"""The MOT16/17 ground-truth classes, class k + 1 at index k (Datumaro's ``MotLabel`` names)."""
_ALIASES = {"person": 1, "bike": 4, "motorcycle": 5, "non mot vehicle": 6, "occluder on ground": 10}


def mot_class_number(name: str) -> int | None:
    """The MOTChallenge class number of a class name (1..12), or None."""
    key = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
    if key in MOT_CLASSES:
        return MOT_CLASSES.index(key) + 1
    return _ALIASES.get(key)


def mot_class_table(names: list[str]) -> list[str]:
    """The lines of labels.txt: class k + 1 at index k (see the module doc)."""
    table = list(MOT_CLASSES)
    taken: set[int] = set()
    others = []
    for name in names:
        number = mot_class_number(name)
        if number is not None and number not in taken:
            taken.add(number)
            table[number - 1] = name
        else:
            others.append(name)
    return table + others


def _number(value: float) -> str:
    text = f"{rounded(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _seqinfo(stem: str, info: MediaInfo) -> str:
    return (
        "[Sequence]\n"
        f"name={stem}\n"
        "imDir=img1\n"
        f"frameRate={info.fps:g}\n"
        f"seqLength={info.frames}\n"
        f"imWidth={info.width}\n"
        f"imHeight={info.height}\n"
        "imExt=.jpg\n"
    )
