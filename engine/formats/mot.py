"""`to_mot`: a `Dataset` as MOTChallenge ground truth (pure; returns relative path -> text).

Per media ``<media stem>/``:
- ``gt/gt.txt``: ``frame,id,x,y,w,h,conf,class,visibility`` per label, sorted by frame
  then id; ``frame`` is 1-based, ``id`` the object id; ``x,y,w,h`` the box in pixel-edge
  coordinates from the frame's top-left corner (0-based, as CVAT and Datumaro read and
  write MOT; at most 2 decimals); a polygon's box is its exterior vertices' box;
  ``conf`` 1 (the "consider" flag of ground truth); ``class`` the class's 1-based position
  in the ontology; ``visibility`` 1 (framewise does not record occlusion).
- ``gt/labels.txt``: class names, line k = class k (the layout CVAT's MOT import reads).
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
    class_ids = {name: index for index, name in enumerate(dataset.ontology.names, start=1)}
    names_text = "".join(name + "\n" for name in dataset.ontology.names)
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
