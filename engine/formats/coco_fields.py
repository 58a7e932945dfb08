"""What a COCO file holds beyond the shapes, and how a `Label` keeps it (pure helpers).

- Attribute values: COCO writers put typed values in ``attributes`` (CVAT and Datumaro:
  ``{"occluded": false, "rotation": 0.0, "track_id": 3}``). `Label.attributes` holds text,
  so a bool, integer or finite float is kept as its JSON text (``"false"``, ``"0.0"``) and
  written back as that JSON value (`attribute_value`): text that is exactly the JSON text
  of a bool or a number is written as that value, everything else as a string. So a typed
  value round-trips exactly; the one loss is a string such as ``"3"`` in a foreign file,
  which comes back as the number 3.
- ``attributes.track_id`` is the object id when the annotation has no top-level
  ``track_id`` (CVAT's tracks); it is never stored as a label attribute, and every export
  writes it (and the top-level ``track_id``) from the object id.
- Foreign category ids and ``iscrowd`` are kept on each label as the reserved attributes
  `CATEGORY_KEY` (only when the file's id is not the id an export would give the class:
  its 1-based position) and `CROWD_KEY` (only when ``iscrowd`` is 1); an export writes them
  back into ``category_id`` / ``iscrowd`` and leaves them out of ``attributes``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from engine.formats.dataset import Dataset, portable_names  # noqa: F401  (re-exported)
from engine.limits import MAX_ID

CATEGORY_KEY = "coco.category_id"
CROWD_KEY = "coco.iscrowd"
RESERVED = (CATEGORY_KEY, CROWD_KEY)
TRACK_KEY = "track_id"

JsonScalar = str | bool | int | float


def attribute_text(value: object) -> str | None:
    """The text `Label.attributes` keeps for one attribute value read from a file, or None
    when the value is not a string, bool or finite number."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -MAX_ID - 1 <= value <= MAX_ID else None
    if isinstance(value, float) and math.isfinite(value):
        return json.dumps(value)
    return None


def attribute_value(text: str) -> JsonScalar:
    """What an export writes for an attribute's text (the inverse of `attribute_text`)."""
    if text in ("true", "false"):
        return text == "true"
    if not text or not (text[0].isdigit() or text[0] == "-"):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, bool) or not isinstance(value, (int, float)) or json.dumps(value) != text:
        return text
    if isinstance(value, int) and not -MAX_ID - 1 <= value <= MAX_ID:
        return text  # an import reads numbers within 64 bits only: keep it text, so it reads back
    return value


def exported_attributes(attributes: Mapping[str, str], object_id: int) -> dict[str, JsonScalar]:
    """The ``attributes`` object of an annotation: the label's own attributes (reserved
    keys left out) and ``track_id``, sorted by name."""
    values: dict[str, JsonScalar] = {
        str(k): attribute_value(str(v)) for k, v in attributes.items() if k not in RESERVED and k != TRACK_KEY
    }
    values[TRACK_KEY] = object_id
    return dict(sorted(values.items()))


def crowd(attributes: Mapping[str, str]) -> int:
    return 1 if attributes.get(CROWD_KEY) == "1" else 0


def category_ids(dataset: Dataset) -> dict[str, int]:
    """Class name -> COCO category id: the id a label of the class keeps (`CATEGORY_KEY`,
    the first in label order), else the class's 1-based position when no other class has
    it, else the next id above all others."""
    kept: dict[str, int] = {}
    for label in dataset.sorted_labels():
        text = label.attributes.get(CATEGORY_KEY)
        if label.class_name not in kept and text is not None and text.lstrip("-").isdigit():
            value = int(text)
            if 0 <= value <= MAX_ID and value not in kept.values():
                kept[label.class_name] = value
    ids: dict[str, int] = {}
    taken = set(kept.values())
    for position, entry in enumerate(dataset.ontology, start=1):
        if entry.name in kept:
            ids[entry.name] = kept[entry.name]
        elif position not in taken:
            ids[entry.name] = position
            taken.add(position)
    for entry in dataset.ontology:
        if entry.name not in ids:
            ids[entry.name] = max(taken) + 1
            taken.add(ids[entry.name])
    return ids
