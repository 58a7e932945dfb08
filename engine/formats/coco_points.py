"""Point labels in COCO, person-keypoints style (pure helpers for `coco` and `coco_import`).

A ``point`` class is a category with one keypoint, named after the class:
``"keypoints": [<class name>], "skeleton": []``. Each point label is an annotation with
``"keypoints": [x, y, v]``, ``"num_keypoints": 1``, ``"segmentation": []``,
``"bbox": [x, y, 0, 0]`` and ``"area": 0`` (a point covers no pixel). ``x, y`` are the
pixel centre as framewise keeps it (COCO keypoints are pixel indices), rounded to 0.01 px;
``v`` is 2 (visible), or 1 (labelled but not visible) when the label's ``occluded``
attribute is ``1``/``true`` (CVAT's flag, kept by every import).

Reading: a category without framewise's ``shape`` is a point class when its
``keypoints`` list names exactly one keypoint (a 17-keypoint person category stays a
region class; its keypoints are not read). A point annotation with ``v`` = 0 (not
labelled, COCO's ``[0, 0, 0]``) holds no point and is left out, counted; ``v`` = 1 comes
back as the ``occluded`` attribute ``1``.

pycocotools reads these files (``COCO``); its keypoint evaluation (``COCOeval(...,
iouType="keypoints")``) needs ``params.kpt_oks_sigmas`` set to one sigma (its default
holds the 17 person sigmas), and with ``area`` 0 the OKS of a point is 1 only where it
matches exactly (set a reference ``area`` for a tolerance).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.formats.inputs import JsonFields
from engine.types import Point

VISIBLE, OCCLUDED, UNLABELLED = 2, 1, 0
"""COCO's keypoint visibility flags."""
OCCLUDED_KEY = "occluded"


def category_fields(name: str) -> dict:
    """The keypoint fields of a point class's category."""
    return {"keypoints": [name], "skeleton": []}


def point_geometry(point: Point, attributes: Mapping[str, str], iscrowd: int = 0) -> dict:
    """segmentation, area, bbox, iscrowd, keypoints and num_keypoints of one rounded point."""
    occluded = str(attributes.get(OCCLUDED_KEY, "")).strip().lower() in ("1", "true")
    return {
        "segmentation": [],
        "area": 0.0,
        "bbox": [point.x, point.y, 0.0, 0.0],
        "iscrowd": iscrowd,
        "keypoints": [point.x, point.y, OCCLUDED if occluded else VISIBLE],
        "num_keypoints": 1,
    }


def single_keypoint(category: Mapping) -> bool:
    """True for a category whose ``keypoints`` names exactly one keypoint."""
    names = category.get("keypoints")
    return isinstance(names, list) and len(names) == 1


def read_point(top: JsonFields, keypoints: object, where: str, attributes: dict[str, str]) -> Point | None:
    """The point of a point class's annotation ``keypoints`` ([x, y, v]); None when ``v``
    is 0 (not labelled). ``v`` = 1 sets ``attributes["occluded"] = "1"``."""
    field = f"{where}.keypoints"
    if keypoints is None:
        raise top.fail(where, "missing key 'keypoints' (a point class's annotation needs [x, y, v])")
    if not isinstance(keypoints, list) or len(keypoints) != 3:
        count = len(keypoints) if isinstance(keypoints, list) else type(keypoints).__name__
        raise top.fail(field, f"expected one keypoint [x, y, v], got {count}")
    x, y = (top.number(v, field) for v in keypoints[:2])
    visibility = keypoints[2]
    if isinstance(visibility, bool) or visibility not in (UNLABELLED, OCCLUDED, VISIBLE):
        raise top.fail(field, f"visibility must be 0, 1 or 2, got {visibility!r}")
    if visibility == UNLABELLED:
        return None
    if visibility == OCCLUDED:
        attributes[OCCLUDED_KEY] = "1"
    return Point(x, y)
