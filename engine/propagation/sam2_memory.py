"""Propagation with SAM 2's memory: the person's frames condition, the model tracks.

`Sam2MemoryPropagator` has the interface of `engine.propagation.propagator.Propagator`
(``propagate(source, start_frame, objects, direction, until, anchors, cancel)`` yielding
`PropagationStep`s), but instead of re-prompting a segmenter on every frame it runs SAM 2's
own tracker (`SAM2Base.track_step`): each object's masks on the person's frames are mask
prompts on *conditioning frames* (as `SAM2VideoPredictor.add_new_mask` makes them), and
every other frame is segmented by memory attention over the conditioning frames, the
last frames' spatial memories and object pointers, then encoded into memory itself.

- Conditioning frames: the start frame (the objects given) and, with ``conditioning``,
  more frames of the same objects — e.g. the next confirmed frame of a fill: SAM 2
  attends to every conditioning frame, so a fill between two confirmed frames is one run
  from the first that also sees the last (`engine.propagation.permanent` does this
  instead of the two fused runs of `engine.propagation.fill`).
- Several objects in one pass: each frame's image features are computed once, then each
  object is tracked with its own memory (batch of one, as SAM 2.1's video predictor does:
  objects may have different conditioning frames).
- Anchors (frames a person confirmed) stop an object before them, as in the propagator;
  a frame given in ``conditioning`` is an anchor of its objects.
- Presence: SAM 2 predicts whether the object is on the frame (``object_score_logits``);
  its sigmoid is the label's ``score``. Below ``review_below`` the label is flagged for
  review (``review=True``) and the object goes on. Where SAM 2 says the object is absent
  (logit ≤ 0: its mask is empty) the object is *lost*: it is flagged and, with
  ``on_flag="stop"``, stops there — unless a conditioning frame lies ahead (a fill): then
  it goes on (SAM 2 finds it again after an occlusion) and only the first frame of each
  absent stretch is flagged. With ``on_flag="continue"`` (evaluation) every object goes
  on, with empty masks where absent, each such frame flagged.
- Frames are read lazily from the source and encoded one frame ahead on a worker
  (`engine.propagation.sam2_frames`); memory is bounded (`engine.propagation.sam2_bank`);
  the model calls themselves are sam2's, made in `engine.propagation.sam2_track`.

`track` is the lower-level generator: per frame, each object's mask logits at the frame's
size and presence. torch and sam2 are imported inside the functions that use them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import EditorStateError, PromptError
from engine.geometry import shape_to_mask
from engine.propagation.propagator import FrameAccess, ObjectInput, PropagationStep, label_from_mask, run_end
from engine.propagation.sam2_bank import ObjectMemory
from engine.propagation.sam2_frames import FeaturePrefetcher, FrameFeatures, encode_frame, encode_input, load_frame
from engine.propagation.sam2_track import Sam2Tracker
from engine.types import Label


@dataclass(frozen=True)
class Sam2PropagationParams:
    """Settings of SAM 2's memory propagation.

    review_below: presence (sigmoid of SAM 2's object score) under which a label is
        flagged for review.
    on_flag: ``stop`` (a lost object stops, see the module docstring) or ``continue``.
    prefetch: frames read and loaded ahead on the worker thread (0: none, no worker).
    encode_ahead: the worker also runs the image encoder on them; None (default): on a
        GPU yes (the CPU-side work of both threads overlaps), on the CPU no (two threads'
        torch kernels on the same cores gain no wall time and cost ~4 % more CPU time:
        docs/BENCHMARKS.md, "SAM 2 memory propagation").
    fill_hole_area: SAM 2's hole filling of the low-resolution masks (as the video
        predictor's ``fill_hole_area``; needs sam2's compiled extension, skipped without it).
    polygon_tolerance: simplification of output polygons, in pixels.
    """

    review_below: float = 0.75
    on_flag: str = "stop"
    prefetch: int = 1
    encode_ahead: bool | None = None
    fill_hole_area: int = 8
    polygon_tolerance: float = 1.0

    def __post_init__(self) -> None:
        if self.on_flag not in ("stop", "continue"):
            raise ValueError(f"on_flag must be 'stop' or 'continue', got {self.on_flag!r}")
        if not 0.0 <= self.review_below <= 1.0:
            raise ValueError(f"review_below must be in [0, 1], got {self.review_below}")


@dataclass(frozen=True)
class TrackedFrame:
    """One frame of `Sam2MemoryPropagator.track`: object_id -> H×W float32 mask logits
    (the frame's size; > 0 is the mask) and object_id -> presence in [0, 1]."""

    frame_index: int
    logits: dict[int, np.ndarray]
    presence: dict[int, float]
    seconds: float = 0.0


@dataclass
class _Run:
    """One object in a run: its memory, output template and the frame it must not reach."""

    memory: ObjectMemory
    template: Label | None
    stop_at: int | None
    fill: bool = False  # a conditioning frame lies ahead
    absent: bool = False  # absent on the last frame


class Sam2MemoryPropagator:
    """Carries objects through a video with SAM 2's memory (see the module docstring).

    model: the sam2 segmenter (its ``net``, a `SAM2Base` in eval mode, and its
        ``autocast()``), or a `SAM2Base` itself (then a CUDA model runs under bf16 autocast).
    """

    def __init__(self, model: Any, params: Sam2PropagationParams | None = None) -> None:
        self.segmenter = model
        self.net = getattr(model, "net", model)
        self.params = params or Sam2PropagationParams()
        self.tracker = Sam2Tracker(self.net, self.params.fill_hole_area)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._running = False
        self.held_outputs = 0  # outputs held after the last frame, all objects (for benchmarks)

    def cancel(self) -> None:
        """Stop the running propagation before its next frame."""
        self._cancel.set()

    # -- contexts ----------------------------------------------------------------------
    def _context(self) -> AbstractContextManager[object]:
        """Inference mode and, on a GPU, bf16 autocast (the segmenter's own when it has
        one). Entered per frame and per worker computation: both are per-thread state."""
        import torch

        stack = ExitStack()
        stack.enter_context(torch.inference_mode())
        autocast = getattr(self.segmenter, "autocast", None)
        if callable(autocast):
            stack.enter_context(autocast())
        elif self._device_type() == "cuda":
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    # -- the generators ----------------------------------------------------------------
    def propagate(
        self,
        source: FrameAccess,
        start_frame: int,
        objects: Mapping[int, ObjectInput],
        direction: int = 1,
        until: int | None = None,
        anchors: Iterable[int] | Mapping[int, Iterable[int]] = (),
        cancel: threading.Event | None = None,
        *,
        conditioning: Mapping[int, Mapping[int, ObjectInput]] | None = None,
    ) -> Iterator[PropagationStep]:
        """Yield a `PropagationStep` for each frame after ``start_frame`` in ``direction``.

        objects: object_id -> H×W bool mask or `Label` on ``start_frame`` (its first
            conditioning frame); conditioning: frame -> {object_id: mask or `Label`}, more
            conditioning frames of those objects (each an anchor of its objects);
        until, anchors, cancel: as `Propagator.propagate`.
        """
        runs: dict[int, _Run] = {}
        for tracked in self._track(source, start_frame, objects, direction, until, anchors, cancel,
                                   conditioning or {}, runs):
            yield self._step(tracked, runs)

    def track(
        self,
        source: FrameAccess,
        start_frame: int,
        objects: Mapping[int, ObjectInput],
        direction: int = 1,
        until: int | None = None,
        anchors: Iterable[int] | Mapping[int, Iterable[int]] = (),
        cancel: threading.Event | None = None,
        *,
        conditioning: Mapping[int, Mapping[int, ObjectInput]] | None = None,
    ) -> Iterator[TrackedFrame]:
        """As `propagate`, but yields each frame's raw `TrackedFrame` (every object goes
        on to its anchor, present or not)."""
        yield from self._track(source, start_frame, objects, direction, until, anchors, cancel, conditioning or {}, {})

    def _track(self, source, start_frame, objects, direction, until, anchors, cancel, conditioning,
               runs: dict[int, _Run]) -> Iterator[TrackedFrame]:
        last = run_end(len(source), start_frame, direction, until)
        with self._lock:
            if self._running:
                raise EditorStateError("this propagator is already running; cancel it first")
            self._running = True
            self._cancel.clear()
        try:
            yield from self._frames(source, start_frame, objects, direction, last, anchors, cancel, conditioning, runs)
        finally:
            with self._lock:
                self._running = False

    def _stopped(self, cancel: threading.Event | None) -> bool:
        return self._cancel.is_set() or (cancel is not None and cancel.is_set())

    def _frames(self, source, start_frame, objects, direction, last, anchors, cancel, conditioning,
                runs: dict[int, _Run]) -> Iterator[TrackedFrame]:
        if not objects:
            return
        given = self._given(source, start_frame, objects, conditioning)  # frame -> {object_id: mask}
        for object_id in objects:
            ahead = [f for f, masks in given.items() if object_id in masks and (f - start_frame) * direction > 0]
            frames = anchors.get(object_id, ()) if isinstance(anchors, Mapping) else anchors
            stops = [int(f) for f in frames if (int(f) - start_frame) * direction > 0] + ahead
            template = objects[object_id] if isinstance(objects[object_id], Label) else None
            stop_at = (min(stops) if direction > 0 else max(stops)) if stops else None
            runs[int(object_id)] = _Run(ObjectMemory(int(object_id)), template, stop_at, fill=bool(ahead))
        with self._context():
            for frame_index, masks in given.items():
                features = self._encode(source, frame_index)
                for object_id, mask in masks.items():
                    runs[object_id].memory.conditioning[frame_index] = self.tracker.condition(
                        features, mask, total=len(source))
                del features
        indices = list(range(start_frame + direction, last + direction, direction))
        iter_frames = getattr(source, "iter_frames", None)
        sequential = iter(iter_frames(start_frame + 1, last + 1)) if direction > 0 and callable(iter_frames) else None
        encode_ahead = self.params.encode_ahead
        if encode_ahead is None:
            encode_ahead = self._device_type() == "cuda"
        prefetcher = FeaturePrefetcher(indices, source.frame, lambda index, frame: load_frame(self.net, index, frame),
                                       lambda item: encode_input(self.net, item), self._context,
                                       ahead=self.params.prefetch, encode_ahead=encode_ahead, frames=sequential)
        with prefetcher:
            for frame_index in indices:
                if self._stopped(cancel):
                    return
                for object_id in [o for o, run in runs.items() if run.stop_at == frame_index]:
                    del runs[object_id]
                if not runs:
                    return
                started = time.perf_counter()
                features = next(prefetcher)
                logits: dict[int, np.ndarray] = {}
                presence: dict[int, float] = {}
                with self._context():
                    for object_id, run in runs.items():  # one encoding, each object its own memory
                        logits[object_id], presence[object_id] = self.tracker.track(
                            features, run.memory, direction, len(source))
                del features  # this frame's features are not kept
                self.held_outputs = sum(run.memory.held for run in runs.values())
                yield TrackedFrame(frame_index, logits, presence, seconds=time.perf_counter() - started)

    # -- model calls -------------------------------------------------------------------
    def _given(self, source, start_frame, objects, conditioning) -> dict[int, dict[int, np.ndarray]]:
        """{frame: {object_id: H×W bool mask}} of the conditioning frames, start first."""
        height, width = np.asarray(source.frame(start_frame)).shape[:2]
        given: dict[int, dict[int, np.ndarray]] = {}
        for frame_index, targets in [(start_frame, objects), *sorted(conditioning.items())]:
            for object_id, target in targets.items():
                if int(object_id) not in objects:
                    raise PromptError(f"object {object_id} is given on frame {frame_index} but not on the start frame")
                mask = self._mask(target, height, width, int(object_id), int(frame_index))
                if frame_index == start_frame and not mask.any():
                    raise PromptError(f"object {object_id}: empty mask on frame {frame_index}")
                if frame_index != start_frame and not mask.any():
                    continue  # an empty end gives SAM 2 nothing to condition on
                given.setdefault(int(frame_index), {})[int(object_id)] = mask
        return given

    @staticmethod
    def _mask(target: ObjectInput, height: int, width: int, object_id: int, frame_index: int) -> np.ndarray:
        if isinstance(target, Label):
            return shape_to_mask(target.shape, height, width)
        mask = np.asarray(target)
        if mask.shape != (height, width):
            raise PromptError(f"object {object_id}: mask {mask.shape} on frame {frame_index} "
                              f"does not match the frame {(height, width)}")
        return mask.astype(bool)

    def _encode(self, source: FrameAccess, frame_index: int) -> FrameFeatures:
        return encode_frame(self.net, frame_index, np.asarray(source.frame(frame_index)))

    def _device_type(self) -> str:
        import torch

        return torch.device(self.net.device).type

    # -- steps -------------------------------------------------------------------------
    def _step(self, tracked: TrackedFrame, runs: dict[int, _Run]) -> PropagationStep:
        masks: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        flagged: list[int] = []
        reasons: dict[int, str] = {}
        labels: dict[int, Label] = {}
        for object_id in sorted(tracked.logits):
            run = runs[object_id]
            mask = tracked.logits[object_id] > 0
            score = tracked.presence[object_id]
            if not mask.any():
                first = not run.absent
                run.absent = True
                if self.params.on_flag == "continue":
                    masks[object_id], scores[object_id] = mask, score
                    flagged.append(object_id)
                    reasons[object_id] = f"SAM 2 finds no object (presence {score:.2f})"
                elif run.fill:
                    if first:
                        flagged.append(object_id)
                        reasons[object_id] = f"SAM 2 lost the object (presence {score:.2f})"
                else:
                    flagged.append(object_id)
                    reasons[object_id] = f"SAM 2 lost the object (presence {score:.2f})"
                    del runs[object_id]  # stops here; the run's generator sees it gone
                continue
            run.absent = False
            review = score < self.params.review_below
            masks[object_id], scores[object_id] = mask, score
            if review:
                flagged.append(object_id)
                reasons[object_id] = f"low presence {score:.2f}"
            if run.template is not None:
                label = label_from_mask(run.template, mask, tracked.frame_index, score, review,
                                        self.params.polygon_tolerance)
                if label is not None:
                    labels[object_id] = label
        return PropagationStep(tracked.frame_index, tuple(sorted(masks)), masks, scores, tuple(flagged), reasons,
                               {}, labels, tracked.seconds)

