"""The selection: the object being segmented on the current frame, before it is applied."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from engine import geometry
from engine.errors import EditorStateError
from engine.types import Prompt, Proposal, Shape, ShapeType


@dataclass
class Selection:
    """The prompts so far and the proposal they gave, on the Editor's current frame.

    points: (x, y) frame pixel centres; labels: 1 include, 0 exclude, one per point.
    box: ``(x0, y0, x1, y1)`` in frame pixel edges (see `engine.types`) or None.
    proposal: the segmenter's answer to the prompts; candidate: the one shown.
    previous: the selection before the last prompt (`Editor.unclick` goes back to it), or None.
    """

    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    proposal: Proposal | None = None
    candidate: int = 0
    previous: Selection | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None

    def with_point(self, x: float, y: float, positive: bool) -> Selection:
        """A copy with one more point (the proposal stays: its logits steer the next pass)."""
        return replace(self, points=[*self.points, (float(x), float(y))], labels=[*self.labels, 1 if positive else 0],
                       previous=self)

    def with_box(self, box: tuple[float, float, float, float], width: int, height: int) -> Selection:
        """A copy with ``box`` (x0 ≤ x1, y0 ≤ y1) clipped to the ``width``×``height`` frame's edges."""
        clipped = np.clip(np.asarray(box, np.float64), 0, [width, height, width, height])
        x0, y0, x1, y1 = (float(c) for c in clipped)
        return replace(self, box=(x0, y0, x1, y1), previous=self)

    def prompt(self) -> Prompt:
        mask_input = None
        if self.proposal is not None and self.proposal.logits.ndim == 3:
            # The chosen candidate's low-res logits steer the next pass (SAM's refinement loop).
            mask_input = self.proposal.logits[self.candidate][None]
        box = None if self.box is None else np.asarray(self.box, np.float32)
        return Prompt(np.array(self.points, np.float32).reshape(-1, 2), np.array(self.labels, np.int32), box, mask_input)

    def mask(self) -> np.ndarray | None:
        """H×W bool of the shown candidate, or None when there is no proposal."""
        return None if self.proposal is None else self.proposal.mask(self.candidate)

    def shape(self, shape_type: ShapeType) -> Shape:
        """The shown candidate as a ``shape_type`` shape (polygon or box); raises
        `EditorStateError` when nothing is selected or the candidate is empty."""
        if self.proposal is None:
            raise EditorStateError("nothing is selected: click or drag a box first")
        shape = geometry.mask_to_shape(self.proposal.mask(self.candidate), shape_type)
        if shape is None:
            raise EditorStateError("the selection is empty: add include points or a box first")
        return shape

    @property
    def score(self) -> float:
        """The shown candidate's score (a proposal must be there)."""
        assert self.proposal is not None
        return float(self.proposal.scores[self.candidate])
