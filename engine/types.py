"""Data types passed between the layers (see docs/ARCHITECTURE.md).

Conventions everywhere (x to the right, y down, in frame pixels):
- a frame is ``np.ndarray`` H×W×3 ``uint8``, RGB;
- points (clicks, tracked seed points) are pixel **centres**: pixel (i, j) is the point
  (i, j), so a frame's points run from -0.5 to W - 0.5;
- boxes (prompt boxes, `Box` labels) and polygons are pixel **edges**: pixel (i, j) is the
  square [i, i + 1) × [j, j + 1), so the box over pixels x0..x1, y0..y1 inclusive is
  ``(x0, y0, x1 + 1, y1 + 1)`` and the whole frame is ``(0, 0, W, H)``; x0 < x1, y0 < y1.
  A UI turns a drag's canvas corners into edges (not centres), and draws a box at its
  edges;
- masks are H×W ``bool``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from engine.errors import PromptError, SessionFormatError


class _StrEnum(str, Enum):
    """A str-valued enum: a member equals, hashes, JSON-encodes and binds in SQLite as its
    value, and ``str()`` / f-strings give the value (`enum.StrEnum`, which Python 3.10
    lacks). So projects, sessions and exports store the same text as before."""

    def __str__(self) -> str:
        return str(self.value)


class LabelSource(_StrEnum):
    """Where a label came from (`Label.source`)."""

    MANUAL = "manual"
    SAM = "sam"
    PROPAGATED = "propagated"
    INTERPOLATED = "interpolated"
    REPLAYED = "replayed"


class ShapeType(_StrEnum):
    """A class's shape (`LabelClass.shape`); the first two are also a label shape's JSON
    ``type`` (`shape_to_json`) and the shapes SAM serves (`SHAPE_TYPES`)."""

    POLYGON = "polygon"
    BOUNDING_BOX = "bounding_box"
    POLYLINE = "polyline"
    POINT = "point"


class PropagationMode(_StrEnum):
    """How the propagator combines the warped prior with the segmenter's mask
    (`engine.propagation.step.StepParams.mode`)."""

    WARP = "warp"
    SEGMENT = "segment"
    AGREE = "agree"
    BAND = "band"
    VOTE = "vote"
    MODEL = "model"  # no segmenter: `engine.propagation.model` (object model + graph cut)

QUALITY_MIN = 0.2
QUALITY_DEFAULT = 0.6
QUALITY_MAX = 1.0


def check_quality(quality: float) -> float:
    """Return ``quality`` as a float in [0.2, 1.0] or raise `PromptError`."""
    q = float(quality)
    if not (QUALITY_MIN - 1e-9 <= q <= QUALITY_MAX + 1e-9) or q != q:
        raise PromptError(f"quality {quality!r} is outside [{QUALITY_MIN}, {QUALITY_MAX}]")
    return min(max(q, QUALITY_MIN), QUALITY_MAX)


@dataclass(frozen=True)
class Prompt:
    """What the person asked for on one frame.

    points: N×2 float32, (x, y) frame pixel centres.
    labels: N int32, 1 = include, 0 = exclude.
    box: 4 float32 ``(x0, y0, x1, y1)`` frame pixel edges, or None.
    mask_input: 1×256×256 float32 low-resolution logits from the previous pass, or None.
    """

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    box: np.ndarray | None = None
    mask_input: np.ndarray | None = None

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float32).reshape(-1, 2)
        labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
        if len(points) != len(labels):
            raise PromptError(f"{len(points)} points but {len(labels)} labels")
        if not np.isin(labels, (0, 1)).all():
            raise PromptError(f"point labels must be 1 (include) or 0 (exclude), got {labels.tolist()}")
        if not np.isfinite(points).all():
            raise PromptError("point coordinates must be finite numbers")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "labels", labels)
        if self.box is not None:
            box = np.asarray(self.box, dtype=np.float32).reshape(-1)
            if box.shape != (4,) or not np.isfinite(box).all():
                raise PromptError(f"a box needs 4 finite numbers x0,y0,x1,y1, got {self.box!r}")
            if box[2] <= box[0] or box[3] <= box[1]:
                raise PromptError(f"empty box {box.tolist()}: need x0 < x1 and y0 < y1")
            object.__setattr__(self, "box", box)
        if len(points) == 0 and self.box is None:
            raise PromptError("a prompt needs at least one point or a box")

    def check_inside(self, height: int, width: int) -> None:
        """Raise `PromptError` if a point lies outside a ``height``×``width`` frame's pixel
        centres (±0.5) or the box does not overlap the frame."""
        for (x, y) in self.points:
            if not (-0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):
                raise PromptError(f"point ({x:g}, {y:g}) is outside the {width}×{height} frame")
        if self.box is not None:
            x0, y0, x1, y1 = self.box.tolist()  # pixel edges: the frame is [0, width] × [0, height]
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise PromptError(f"box {[x0, y0, x1, y1]} does not overlap the {width}×{height} frame")

    def scaled(self, sx: float, sy: float) -> Prompt:
        """The same prompt in a frame resized by (sx, sy); pixel centres map to pixel centres."""
        pts = (self.points + 0.5) * np.array([sx, sy], np.float32) - 0.5
        box = None
        if self.box is not None:
            box = self.box * np.array([sx, sy, sx, sy], np.float32)
        return Prompt(pts, self.labels, box, self.mask_input)

    @property
    def positive(self) -> np.ndarray:
        """P×2 float32, the include points."""
        return self.points[self.labels == 1]

    @property
    def negative(self) -> np.ndarray:
        """Q×2 float32, the exclude points."""
        return self.points[self.labels == 0]


@dataclass
class Embedding:
    """The per-frame result of `Segmenter.prepare`: everything a click needs.

    Only numpy arrays, so it can be cached on disk with ``np.savez`` (no pickle).
    frame_size: (H, W) of the frame that was prepared (full resolution).
    arrays: backend-specific arrays (e.g. SAM image features 1×256×64×64 float32).
    meta: small scalar metadata (str/int/float), stored beside the arrays.
    """

    backend: str
    model: str
    quality: float
    frame_size: tuple[int, int]
    arrays: dict[str, np.ndarray]
    meta: dict[str, str | int | float] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))


class Proposal:
    """Candidate masks for one prompt, best first.

    scores: K float32 (higher is better).
    logits: K×h×w float32 low-resolution logits; ``logits[k][None]`` can feed the next
        click as `Prompt.mask_input`.
    frame_size: (H, W) of the full-resolution frame.

    Full-resolution masks are rendered lazily by ``render(k)`` (H×W bool) and cached,
    so a click pays only for the candidate that is shown.
    """

    def __init__(
        self,
        scores: np.ndarray,
        logits: np.ndarray,
        frame_size: tuple[int, int],
        render: Callable[[int], np.ndarray],
    ) -> None:
        self.scores = np.asarray(scores, np.float32).reshape(-1)
        self.logits = np.asarray(logits, np.float32)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._render = render
        self._masks: dict[int, np.ndarray] = {}

    @classmethod
    def from_masks(cls, masks: np.ndarray, scores: np.ndarray, logits: np.ndarray) -> Proposal:
        """A proposal whose K×H×W bool masks are already rendered."""
        masks = np.asarray(masks, bool)
        return cls(scores, logits, masks.shape[1:], lambda k: masks[k])

    def __len__(self) -> int:
        return len(self.scores)

    def mask(self, k: int = 0) -> np.ndarray:
        """H×W bool mask of candidate ``k`` (0 = best)."""
        if not 0 <= k < len(self):
            raise IndexError(f"candidate {k} of {len(self)}")
        if k not in self._masks:
            m = np.asarray(self._render(k), bool)
            if m.shape != self.frame_size:
                raise ValueError(f"renderer gave {m.shape}, expected {self.frame_size}")
            self._masks[k] = m
        return self._masks[k]

    @property
    def masks(self) -> np.ndarray:
        """K×H×W bool, all candidates rendered (costly at high resolution)."""
        return np.stack([self.mask(k) for k in range(len(self))])


@dataclass(frozen=True)
class Box:
    """An axis-aligned box (x0, y0, x1, y1) in frame pixel edges (x1, y1 exclusive: see
    the module docstring)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def as_list(self) -> list[float]:
        return [self.x0, self.y0, self.x1, self.y1]

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


@dataclass(frozen=True)
class Polygon:
    """A region as polygons with holes, possibly several parts.

    parts: list of parts; each part is a list of rings, ``rings[0]`` the exterior and the
    rest holes; each ring M×2 float64 (x, y) in frame pixels (pixel-edge coordinates,
    so a single pixel (0, 0) is the square (0,0)-(1,1)), not closed (first != last).
    """

    parts: tuple[tuple[np.ndarray, ...], ...]

    @property
    def num_vertices(self) -> int:
        return int(sum(len(r) for part in self.parts for r in part))

    def to_json(self, decimals: int | None = 2) -> list[list[list[list[float]]]]:
        """Nested lists: parts -> rings -> points -> [x, y], rounded (None: exact floats)."""
        if decimals is None:
            return [[np.asarray(r, np.float64).tolist() for r in part] for part in self.parts]
        return [[np.round(r, decimals).tolist() for r in part] for part in self.parts]


@dataclass(frozen=True)
class Point:
    """A keypoint (x, y) at a frame pixel centre (see the module docstring): the shape of a
    ``point`` class's labels, drawn by hand (SAM does not serve it)."""

    x: float
    y: float

    def as_list(self) -> list[float]:
        return [self.x, self.y]


Shape = Polygon | Box | Point

SHAPE_TYPES = (ShapeType.POLYGON, ShapeType.BOUNDING_BOX)
"""The shapes SAM serves (a label's `Shape` may also be a hand-placed `Point`)."""

LABEL_SHAPES = {ShapeType.POLYGON: Polygon, ShapeType.BOUNDING_BOX: Box, ShapeType.POINT: Point}
"""The label shape each class shape type takes (``polyline`` has none yet)."""


@dataclass(frozen=True)
class LabelClass:
    """An ontology entry: what can be labelled and as which shape.

    shape: a `ShapeType`: ``polygon``, ``bounding_box`` (SAM-capable), or another tool
    shape, ``point`` / ``polyline``, that SAM does not serve (`Ontology` checks it).
    colour: "#rrggbb".
    """

    name: str
    shape: ShapeType
    colour: str = "#ff7f0e"
    hotkey: str | None = None

    @property
    def sam_capable(self) -> bool:
        return self.shape in SHAPE_TYPES


@dataclass
class Label:
    """One object's shape on one frame."""

    object_id: int
    frame_index: int
    class_name: str
    shape: Shape
    source: LabelSource = LabelSource.SAM
    score: float = 1.0
    confirmed: bool = True
    review: bool = False
    media: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)


def shape_to_json(shape: Shape, decimals: int | None = 2) -> dict:
    """A polygon, a box (pixel edges) or a point (pixel centre) as JSON, rounded to 0.01 px.

    decimals=None keeps the exact floats (the project store does, so a label reads back
    bit for bit and re-exports to the same JSON).
    """
    if isinstance(shape, Point):
        xy = [float(v) if decimals is None else round(v, decimals) for v in shape.as_list()]
        return {"type": ShapeType.POINT.value, "point": xy}
    if isinstance(shape, Box):
        if decimals is None:
            return {"type": ShapeType.BOUNDING_BOX.value, "box": [float(v) for v in shape.as_list()]}
        return {"type": ShapeType.BOUNDING_BOX.value, "box": [round(v, decimals) for v in shape.as_list()]}
    return {"type": ShapeType.POLYGON.value, "parts": shape.to_json(decimals)}


def shape_from_json(data: object, *, source: str = "shape") -> Shape:
    """The inverse of `shape_to_json`; raises `SessionFormatError` naming ``source``."""
    fields: dict = data if isinstance(data, dict) else {}
    kind = fields.get("type")
    try:
        if kind == ShapeType.BOUNDING_BOX:
            box = [float(v) for v in fields["box"]]
            if len(box) != 4 or not all(np.isfinite(box)):
                raise ValueError(f"a box needs 4 finite numbers, got {fields['box']!r}")
            return Box(*box)
        if kind == ShapeType.POINT:
            xy = [float(v) for v in fields["point"]]
            if len(xy) != 2 or not all(np.isfinite(xy)):
                raise ValueError(f"a point needs 2 finite numbers, got {fields['point']!r}")
            return Point(*xy)
        if kind == ShapeType.POLYGON:
            parts = []
            for part in fields["parts"]:
                rings = tuple(np.asarray(ring, np.float64).reshape(-1, 2) for ring in part)
                if not rings or any(len(r) < 3 or not np.isfinite(r).all() for r in rings):
                    raise ValueError("every ring needs at least 3 finite (x, y) points")
                parts.append(rings)
            if not parts:
                raise ValueError("a polygon needs at least one part")
            return Polygon(tuple(parts))
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionFormatError(f"{source}: malformed {kind} ({exc})") from exc
    raise SessionFormatError(f"{source}: unknown shape type {kind!r}; expected polygon, bounding_box or point")


@dataclass(frozen=True)
class MediaInfo:
    """What the project, sessions and exports need to know about one media.

    name: the key labels use (`Label.media`), the path as the Editor opened it.
    fingerprint: `engine.media.media_fingerprint` of the content (renaming keeps it).
    timestamps: per-frame presentation times in seconds (len == frames), or empty.
    frame_names: per-frame file names for image folders (len == frames), or empty for videos.
    """

    name: str
    fingerprint: str
    width: int
    height: int
    frames: int
    fps: float
    timestamps: tuple[float, ...] = ()
    frame_names: tuple[str, ...] = ()
