"""The ontology: the classes a project labels, each with a shape type, colour and hotkey."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

from engine.errors import OntologyError
from engine.types import LabelClass, ShapeType

KNOWN_SHAPES = tuple(ShapeType)
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_PALETTE = ("#e6194b", "#3cb44b", "#ffe119", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c")


class Ontology:
    """An ordered, validated set of `LabelClass` entries, looked up by name."""

    def __init__(self, classes: list[LabelClass]) -> None:
        if not classes:
            raise OntologyError("an ontology needs at least one class")
        seen: dict[str, LabelClass] = {}
        hotkeys: dict[str, str] = {}
        for entry in classes:
            if not entry.name or not entry.name.strip():
                raise OntologyError("a class has an empty name")
            _check_text(entry.name, "class name")
            if entry.name in seen:
                raise OntologyError(f"duplicate class name {entry.name!r}")
            if entry.shape not in KNOWN_SHAPES:
                raise OntologyError(
                    f"class {entry.name!r} has unknown shape {entry.shape!r}; known: {', '.join(KNOWN_SHAPES)}"
                )
            entry = replace(entry, shape=ShapeType(entry.shape))
            if not _COLOUR.match(entry.colour):
                raise OntologyError(f"class {entry.name!r} has colour {entry.colour!r}; use #rrggbb")
            if entry.hotkey is not None:
                _check_text(entry.hotkey, f"hotkey of class {entry.name!r}")
                if entry.hotkey in hotkeys:
                    raise OntologyError(
                        f"hotkey {entry.hotkey!r} is used by {hotkeys[entry.hotkey]!r} and {entry.name!r}"
                    )
                hotkeys[entry.hotkey] = entry.name
            seen[entry.name] = entry
        self._classes = seen

    def __iter__(self) -> Iterator[LabelClass]:
        return iter(self._classes.values())

    def __len__(self) -> int:
        return len(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __getitem__(self, name: str) -> LabelClass:
        try:
            return self._classes[name]
        except KeyError:
            raise OntologyError(f"no class {name!r}; classes: {', '.join(self._classes)}") from None

    @property
    def names(self) -> list[str]:
        return list(self._classes)

    def to_json(self) -> list[dict]:
        return [asdict(entry) for entry in self]

    @classmethod
    def from_json(cls, data: object, *, source: str = "ontology") -> Ontology:
        """Build from ``[{"name", "shape", "colour"?, "hotkey"?}, …]`` or ``{"classes": [...]}``."""
        if isinstance(data, dict) and "classes" in data:
            data = data["classes"]
        if not isinstance(data, list):
            raise OntologyError(f"{source}: expected a list of classes")
        classes = []
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                raise OntologyError(f"{source}: class #{index} is not an object")
            unknown = set(item) - {"name", "shape", "colour", "color", "hotkey"}
            if unknown:
                raise OntologyError(f"{source}: class #{index} has unknown fields {sorted(unknown)}")
            name, shape = item.get("name"), item.get("shape")
            if not isinstance(name, str) or not isinstance(shape, str):
                raise OntologyError(f"{source}: class #{index} needs string fields 'name' and 'shape'")
            colour = item.get("colour", item.get("color", _PALETTE[index % len(_PALETTE)]))
            hotkey = item.get("hotkey", str(index + 1) if index < 9 else None)
            if not isinstance(colour, str) or not (hotkey is None or isinstance(hotkey, str)):
                raise OntologyError(f"{source}: class #{index} has a non-string colour or hotkey")
            if shape not in KNOWN_SHAPES:
                raise OntologyError(
                    f"{source}: class {name!r} has unknown shape {shape!r}; known: {', '.join(KNOWN_SHAPES)}"
                )
            classes.append(LabelClass(name=name, shape=ShapeType(shape), colour=colour, hotkey=hotkey))
        return cls(classes)

    @classmethod
    def load(cls, path: str | Path) -> Ontology:
        """Read an ontology JSON file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OntologyError(f"{path}: no such ontology file") from None
        except (OSError, ValueError) as exc:  # (ValueError: not UTF-8 or JSON, an integer of 4300+ digits)
            raise OntologyError(f"{path}: not a readable JSON ontology ({exc})") from exc
        except RecursionError as exc:
            raise OntologyError(f"{path}: not a readable JSON ontology (nested too deeply)") from exc
        try:
            return cls.from_json(data, source=str(path))
        except OntologyError as exc:  # the class checks (duplicates, shapes) do not name the file
            if str(exc).startswith(str(path)):
                raise
            raise OntologyError(f"{path}: {exc}") from exc


def _check_text(text: str, what: str) -> None:
    """`OntologyError` for text that cannot be written as UTF-8: a lone surrogate, which a
    JSON ``\\ud800`` escape can carry, and which the project database would refuse."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise OntologyError(
            f"{what} {text[:40]!r} holds {text[exc.start]!r}, a lone surrogate that is not a character "
            "(a broken \\u escape); fix the text"
        ) from None


def default_ontology() -> Ontology:
    """A small ontology for quick starts: one polygon class, one box class, one point class."""
    return Ontology(
        [
            LabelClass("object", ShapeType.POLYGON, "#e6194b", "1"),
            LabelClass("box", ShapeType.BOUNDING_BOX, "#3cb44b", "2"),
            LabelClass("keypoint", ShapeType.POINT, "#4363d8", "3"),
        ]
    )
