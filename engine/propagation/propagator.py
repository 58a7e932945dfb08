"""The propagator ("permanent drawing"): carry objects' masks frame by frame through a video.

``Propagator.propagate(source, start_frame, objects, direction=+1)`` is a generator that
yields one `PropagationStep` per frame. Per frame pair, the dense DIS flow (one for all
objects) and the segmenter's embedding of the new frame (one for all objects, only when a
segmenter is used) are computed; each object then goes through
`engine.propagation.step.step_object`: flow-warped prior, tracked seed points,
re-prompted segmenter, checks.

When an object fails its checks (left the frame, occluded, drifted) the frame is flagged
for review for that object and the object stops there (``on_flag="stop"``, the
default): no label is written for it. In the ``model`` mode only a lost object stops; a
frame whose label is likely wrong (`engine.propagation.model.label_risk`) is flagged for review (its label has ``review``) and
the object goes on. Evaluation harnesses that must output a mask on
every frame use ``on_flag="continue"``, which keeps the best guess and goes on.

Anchors are frames a person confirmed: propagation stops before the next anchor in its
direction and never yields a mask for an anchor frame. They are given as frame indices
(for every object) or as ``{object_id: frame indices}`` (`anchors_from_labels` reads
them from confirmed labels).

Between frames the generator checks a cancel event (`Propagator.cancel()` or the
``cancel`` argument) and stops without computing the next frame. Objects can be added
while a propagation runs (`Propagator.add_object`): they join from the frame last
yielded and keep the id they were given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from engine.errors import EditorStateError, PromptError
from engine.geometry import mask_to_box, mask_to_polygon, shape_to_mask
from engine.propagation.flow import dense_flow, to_grey
from engine.propagation.model import ModelParams, ModelTrack, model_step, new_model_track, working_scale
from engine.propagation.step import FramePair, ObjectTrack, StepChecks, StepParams, advance, new_track, step_object
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Box, Embedding, Label, LabelSource, Prompt, PropagationMode, Shape, check_quality


class FrameAccess(Protocol):
    """What the propagator reads: ``len(source)`` and ``source.frame(i)`` (H×W×3 uint8 RGB),
    e.g. a `engine.media.FrameSource`."""

    def __len__(self) -> int: ...

    def frame(self, frame_index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class PropagationParams:
    """Settings of a propagation.

    step: the per-object algorithm and its checks (`StepParams`).
    flow_preset: DIS preset ``ultrafast`` | ``fast`` | ``medium``.
    flow_long_side: the flow is computed on frames downscaled to at most this long side
        (DIS loses small objects' motion on small frames: 854×480 DAVIS frames lose
        4 J&F points at half size, so the default keeps them at full size).
    flow_finest_long_side: DIS refines its flow down to the pyramid level with at least
        this long side (`engine.propagation.flow.dense_flow`).
    model: the settings of the ``model`` mode (`engine.propagation.model`); in that mode
        the flow is computed on the model's working frames, to their full size.
    occlusion_check: also compute the forward flow, and leave out of the warped mask the
        pixels that fail the forward–backward check (see `engine.propagation.flow.warp_mask`). Off by
        default: it removes the background a fast textured object uncovers (synthetic
        clips: mean IoU 0.77 → 0.95), but on DAVIS it eats small fast objects whose flow
        is poor (J&F 63.7 → 62.4 at tolerance 4 px + 30 %, worse at 1 px).
    quality: segmenter quality for `Segmenter.prepare`.
    on_flag: ``stop`` (a flagged object stops, no label) or ``continue`` (keep the best
        guess and go on; for evaluation).
    polygon_tolerance: simplification of the polygons of output labels, in pixels.
    """

    step: StepParams = field(default_factory=StepParams)
    flow_preset: str = "medium"
    flow_long_side: int = 960
    flow_finest_long_side: int = 300
    model: ModelParams = field(default_factory=ModelParams)
    occlusion_check: bool = False
    quality: float = QUALITY_DEFAULT
    on_flag: str = "stop"
    polygon_tolerance: float = 1.0

    def __post_init__(self) -> None:
        if self.on_flag not in ("stop", "continue"):
            raise ValueError(f"on_flag must be 'stop' or 'continue', got {self.on_flag!r}")
        check_quality(self.quality)


def default_params(backend: str | None) -> PropagationParams:
    """The measured defaults for a segmenter backend (``classic``, ``sam`` or None = warp only).

    ``classic`` (the weight-free default) propagates with the object model of
    `engine.propagation.model` (the classic segmenter is not asked); the flow is computed
    on its working frames (at most 640 px long), refined to full working size.
    """
    if backend is None:
        return PropagationParams(step=StepParams(mode=PropagationMode.WARP))
    if backend == "classic":
        return PropagationParams(step=StepParams(mode=PropagationMode.MODEL))
    if backend == "sam":
        # not measured (no checkpoint here): SAM's own masks are trusted more than
        # classic's, and a binary prior is a poor mask_input for it
        return PropagationParams(
            step=StepParams(mode=PropagationMode.AGREE, accept_iou=0.6, passes=2, prior_as_mask_input=False)
        )
    return PropagationParams()


def run_end(total: int, start_frame: int, direction: int, until: int | None) -> int:
    """The last frame a run from ``start_frame`` in ``direction`` (+1 or -1) produces in a
    ``total``-frame media: ``until`` clipped to it, default its end; raises on a bad
    direction or a start outside the media."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if not 0 <= start_frame < total:
        raise PromptError(f"start frame {start_frame} is outside 0…{total - 1}")
    last = (total - 1 if direction > 0 else 0) if until is None else int(until)
    return min(max(last, 0), total - 1)


@dataclass(frozen=True)
class PropagationStep:
    """The result of one frame.

    frame_index: the frame; object_ids: the objects with a mask on it (sorted);
    masks: object_id -> H×W bool; scores: object_id -> float in [0, 1];
    flagged: objects whose checks failed here (the frame needs review for them; with
        ``on_flag="stop"`` they have no mask and are not propagated further);
    reasons: object_id -> why it was flagged; checks: object_id -> `StepChecks`;
    labels: object_id -> `Label` (source ``propagated``, unconfirmed) for the objects
        given as labels; seconds: wall time of the frame.
    """

    frame_index: int
    object_ids: tuple[int, ...]
    masks: dict[int, np.ndarray]
    scores: dict[int, float]
    flagged: tuple[int, ...] = ()
    reasons: dict[int, str] = field(default_factory=dict)
    checks: dict[int, StepChecks] = field(default_factory=dict)
    labels: dict[int, Label] = field(default_factory=dict)
    seconds: float = 0.0


ObjectInput = np.ndarray | Label


@dataclass
class _Object:
    track: ObjectTrack | ModelTrack
    template: Label | None
    stop_at: int | None  # first frame (in the direction) it must not reach


def _frames(source: FrameAccess, start: int, direction: int, last: int) -> Iterator[np.ndarray]:
    """The frames after ``start`` in ``direction`` up to ``last``, in order. A source that
    reads sequentially (`engine.media.FrameSource.iter_frames`) is read so forwards: a
    video reader asked frame by frame while the propagator works between reads is parked
    and re-seeks from the keyframe every time (≈ 25 ms a 720p frame)."""
    iter_frames = getattr(source, "iter_frames", None)
    if direction > 0 and callable(iter_frames):
        yield from iter_frames(start + 1, last + 1)
        return
    for index in range(start + direction, last + direction, direction):
        yield source.frame(index)


def anchors_from_labels(labels: Iterable[Label]) -> dict[int, set[int]]:
    """{object_id: frames where a person confirmed its label} from ``labels``."""
    anchors: dict[int, set[int]] = {}
    for label in labels:
        if label.confirmed and label.source != LabelSource.PROPAGATED:
            anchors.setdefault(label.object_id, set()).add(label.frame_index)
    return anchors


def label_from_mask(template: Label, mask: np.ndarray, frame_index: int, score: float, review: bool,
                    tolerance: float = 1.0) -> Label | None:
    """``template`` moved to ``frame_index`` with the shape of ``mask`` (H×W bool): a box
    for a box label, else a polygon simplified by ``tolerance`` px; source ``propagated``,
    unconfirmed. None when the mask gives no shape."""
    shape: Shape | None
    if isinstance(template.shape, Box):
        shape = mask_to_box(mask)
    else:
        shape = mask_to_polygon(mask, tolerance=tolerance)
    if shape is None or (not isinstance(shape, Box) and not shape.parts):
        return None
    return replace(template, frame_index=frame_index, shape=shape, source=LabelSource.PROPAGATED,
                   score=float(score), confirmed=False, review=bool(review))


class Propagator:
    """Carries objects through a video with a segmenter (or flow alone when it is None).

    embed: optional ``(frame_index, frame) -> Embedding`` to reuse embeddings (e.g. from
    the frame server's cache); default ``segmenter.prepare(frame, params.quality)``.
    """

    def __init__(
        self,
        segmenter: Segmenter | None,
        params: PropagationParams | None = None,
        *,
        embed: Callable[[int, np.ndarray], Embedding] | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.params = params or default_params(segmenter.name if segmenter is not None else None)
        # Tracked seed points drift onto the background now and then, unlike a person's
        # clicks: a segmenter that holds its clicks harder gets its seed-point variant.
        for_seeds = getattr(segmenter, "for_seeds", None)
        self._seed_segmenter: Segmenter | None = for_seeds() if callable(for_seeds) else segmenter
        self._embed = embed
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._pending: list[tuple[int, ObjectInput, int]] = []
        self._current_frame: int | None = None
        self._active_ids: set[int] = set()
        self._running = False

    # -- control from another thread ---------------------------------------------------
    def cancel(self) -> None:
        """Stop the running propagation before its next frame."""
        self._cancel.set()

    def add_object(self, object_id: int, target: ObjectInput, frame_index: int) -> None:
        """Add an object to the running propagation; it is carried from ``frame_index``
        on, which must be the frame last yielded (or the start frame before the first)."""
        with self._lock:
            if not self._running:
                raise EditorStateError("add_object needs a running propagation; pass the object to propagate()")
            if frame_index != self._current_frame:
                raise EditorStateError(
                    f"object {object_id} was given on frame {frame_index}, "
                    f"but the propagation is at frame {self._current_frame}"
                )
            if int(object_id) in self._active_ids or any(p[0] == int(object_id) for p in self._pending):
                raise EditorStateError(f"object {object_id} is already being propagated")
            self._pending.append((int(object_id), target, int(frame_index)))

    # -- the generator -----------------------------------------------------------------
    def propagate(
        self,
        source: FrameAccess,
        start_frame: int,
        objects: Mapping[int, ObjectInput],
        direction: int = 1,
        until: int | None = None,
        anchors: Iterable[int] | Mapping[int, Iterable[int]] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[PropagationStep]:
        """Yield a `PropagationStep` for each frame after ``start_frame`` in ``direction``.

        objects: object_id -> H×W bool mask or `Label` on ``start_frame``.
        direction: +1 (forwards) or -1 (backwards).
        until: the last frame to produce (inclusive); default the end of the media.
        anchors: frames not to propagate into or past (see the module docstring).
        cancel: an extra event that stops the generator between frames.
        """
        last = run_end(len(source), start_frame, direction, until)
        with self._lock:
            if self._running:
                raise EditorStateError("this propagator is already running; cancel it first")
            self._running = True
            self._cancel.clear()
            self._pending.clear()
            self._current_frame = start_frame
        try:
            yield from self._run(source, start_frame, objects, direction, last, anchors, cancel)
        finally:
            with self._lock:
                self._running = False
                self._pending.clear()
                self._active_ids = set()

    def _run(self, source, start_frame, objects, direction, last, anchors, cancel) -> Iterator[PropagationStep]:
        frame = np.asarray(source.frame(start_frame))
        active: dict[int, _Object] = {}
        for object_id, target in objects.items():
            active[int(object_id)] = self._make_object(int(object_id), target, start_frame, frame, anchors, direction)
        grey = to_grey(frame)
        frame_index = start_frame
        upcoming = _frames(source, start_frame, direction, last)
        while (last - frame_index) * direction > 0:
            if self._cancel.is_set() or (cancel is not None and cancel.is_set()):
                return
            with self._lock:
                pending, self._pending = self._pending, []
            for object_id, target, at in pending:
                active[object_id] = self._make_object(object_id, target, at, frame, anchors, direction)
            next_index = frame_index + direction
            for object_id in [o for o, obj in active.items() if obj.stop_at == next_index]:
                del active[object_id]
            with self._lock:
                self._active_ids = set(active)
            if not active:
                return
            started = time.perf_counter()
            next_frame = np.asarray(next(upcoming))
            next_grey = to_grey(next_frame)
            preset, scale = self.params.flow_preset, self._flow_scale(grey.shape)
            finest = self.params.flow_finest_long_side
            if self.params.step.mode == PropagationMode.MODEL:
                finest = max(grey.shape)  # refined to the working frame's own size
            backward = dense_flow(next_grey, grey, preset=preset, scale=scale, finest_long_side=finest)
            forward = (
                dense_flow(grey, next_grey, preset=preset, scale=scale, finest_long_side=finest)
                if self.params.occlusion_check
                else None
            )
            pair = FramePair(grey, next_grey, next_frame, backward, forward)
            predict = self._predictor(next_index, next_frame)
            step = self._step(active, pair, predict, next_index)
            step = replace(step, seconds=time.perf_counter() - started)
            frame, grey, frame_index = next_frame, next_grey, next_index
            with self._lock:
                self._current_frame = frame_index
                self._active_ids = set(active)
            yield step

    def _flow_scale(self, shape: tuple[int, int]) -> float:
        if self.params.step.mode == PropagationMode.MODEL:
            return working_scale(shape, self.params.model)  # the model's working frames
        return min(1.0, self.params.flow_long_side / max(shape))

    def _step(self, active: dict[int, _Object], pair: FramePair, predict, frame_index: int) -> PropagationStep:
        masks: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        flagged: list[int] = []
        reasons: dict[int, str] = {}
        checks: dict[int, StepChecks] = {}
        labels: dict[int, Label] = {}
        for object_id in sorted(active):
            obj = active[object_id]
            if isinstance(obj.track, ModelTrack):
                outcome, obj.track = model_step(obj.track, pair.frame, pair.backward, frame_index, self.params.model)
                ratio = min(outcome.area_ratio, 9.99)
                step_checks = StepChecks(1.0, ratio, ratio, min(outcome.likeness, 9.99), outcome.agreement, 1.0, "model")
                mask, score, reason, stop = outcome.mask, outcome.score, outcome.reason, outcome.stop
            else:
                result = step_object(obj.track, pair, predict, self.params.step)
                mask, score, reason, step_checks = result.mask, result.score, result.reason, result.checks
                stop = bool(reason)
            checks[object_id] = step_checks
            if reason:
                flagged.append(object_id)
                reasons[object_id] = reason
                if stop and self.params.on_flag == "stop":
                    del active[object_id]
                    continue
            masks[object_id] = mask
            scores[object_id] = score
            if isinstance(obj.track, ObjectTrack):
                obj.track = advance(obj.track, frame_index, pair.frame, mask, self.params.step)
            if obj.template is not None:
                label = label_from_mask(obj.template, mask, frame_index, score, bool(reason),
                                        self.params.polygon_tolerance)
                if label is not None:
                    labels[object_id] = label
        return PropagationStep(
            frame_index, tuple(sorted(masks)), masks, scores, tuple(flagged), reasons, checks, labels
        )

    def _predictor(self, frame_index: int, frame: np.ndarray) -> Callable[[Prompt], object] | None:
        """A lazy ``prompt -> Proposal`` on ``frame``: the embedding is made on first use."""
        segmenter = self._seed_segmenter  # None exactly when self.segmenter is
        if segmenter is None or self.params.step.mode in (PropagationMode.WARP, PropagationMode.MODEL):
            return None
        cache: list[Embedding] = []

        def predict(prompt: Prompt):
            if not cache:
                if self._embed is not None:
                    cache.append(self._embed(frame_index, frame))
                else:
                    cache.append(segmenter.prepare(frame, self.params.quality))
            return segmenter.predict(cache[0], prompt)

        return predict

    def _make_object(self, object_id, target, frame_index, frame, anchors, direction) -> _Object:
        height, width = frame.shape[:2]
        template = None
        if isinstance(target, Label):
            template = target
            mask = shape_to_mask(target.shape, height, width)
        else:
            mask = np.asarray(target)
            if mask.shape != (height, width):
                raise PromptError(f"object {object_id}: mask {mask.shape} does not match the frame {(height, width)}")
            mask = mask.astype(bool)
        if not mask.any():
            raise PromptError(f"object {object_id}: empty mask on frame {frame_index}")
        frames = anchors.get(object_id, ()) if isinstance(anchors, Mapping) else anchors
        ahead = [int(f) for f in frames if (int(f) - frame_index) * direction > 0]
        stop_at = (min(ahead) if direction > 0 else max(ahead)) if ahead else None
        track: ObjectTrack | ModelTrack
        if self.params.step.mode == PropagationMode.MODEL:
            track = new_model_track(object_id, frame_index, frame, mask, self.params.model)
        else:
            track = new_track(object_id, frame_index, frame, mask, self.params.step)
        return _Object(track, template, stop_at)
