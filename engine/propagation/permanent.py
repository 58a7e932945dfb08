"""Permanent drawing: a propagation run written into a label store.

`run_propagation` carries objects of one media from one frame through the next ones (or
the previous ones) with `engine.propagation.propagator.Propagator` and writes what it finds
into a store, one transaction per frame, so a crash keeps every finished frame (the run's
change sets share a kind, so an undo takes the whole run back at once):
- accepted masks become labels with source ``propagated``, unconfirmed, with the
  propagator's score;
- where an object's checks fail (it left, was occluded, drifted) the object stops and the
  frame gets a *review* label for it: the last accepted shape, score 0, ``review=True``,
  which the timeline shows as flagged and N / Shift+N jump to; a label the propagator
  only doubts (its estimated risk of being wrong is high) is written with ``review=True``
  and the object goes on;
- frames a person confirmed are anchors: a run stops before the next one and never
  overwrites a confirmed label;
- an object whose label on the start frame is a person's, and which has its next
  confirmed label ahead within the run's reach, is filled from both ends
  (`engine.propagation.fill.fill_between`): the run from that next label back to the start
  first (progress counts its frames too), then the run from the start, fused frame by
  frame and written in the direction of travel. Both runs continue past flags (the other
  run covers a frame one of them lost); the fused label keeps the fused score and is
  flagged for review when the runs disagree or both flag it.

With a SAM 2 segmenter (`engine.propagation.backends.uses_memory`) the run is one pass of
`engine.propagation.sam2_memory.Sam2MemoryPropagator` for all objects: the start labels,
each object's nearest confirmed label behind the start and, for the objects filled from
both ends, their next confirmed labels are SAM 2's conditioning frames (it attends to all
of them at once, so there is no second run to fuse; each frame is read once); each object
stops before its next confirmed frame; the labels' score is SAM 2's object presence, and
low presence flags a label for review.

It takes plain values (frames, store, media name, start frame, segmenter, quality, an
embedding function, a per-frame group factory), never the Editor: `Editor.propagate` calls
it with its frame server, store and cursor.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from engine.errors import EditorStateError
from engine.propagation.backends import make_propagator, uses_memory
from engine.propagation.fill import fill_between, fill_ends
from engine.propagation.propagator import (
    FrameAccess,
    ObjectInput,
    PropagationParams,
    PropagationStep,
    Propagator,
    anchors_from_labels,
    default_params,
)
from engine.propagation.sam2_memory import Sam2MemoryPropagator
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Embedding, Label, LabelSource, Point

Embed = Callable[[int, np.ndarray], Embedding]
"""``(frame_index, frame) -> Embedding``: the frame is the one the propagator decoded."""

FrameGroup = Callable[[str], AbstractContextManager[object]]
"""``group(kind)``: a context in which one frame's writes are one transaction and one
change set of ``kind`` (e.g. `engine.editing.history.RecordingStore.group`)."""


class PropagationStore(Protocol):
    """What a run needs of a label store (`engine.editing.labels.LabelStore` and
    `engine.project.Project` are ones)."""

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]: ...

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None: ...

    def put(self, label: Label, *, kind: str | None = None) -> object: ...


@dataclass(frozen=True)
class CachedFrames:
    """`FrameAccess` through a frame cache: ``read(i)`` (e.g. `FrameServer.get_frame`),
    the frame count and, optionally, ``run(start, stop)`` reading forwards in one pass.
    With an ``embed`` that reads frames through the same cache (the frame server's
    embedding worker) every frame of a run is decoded once."""

    read: Callable[[int], np.ndarray]
    count: int
    run: Callable[[int, int], Iterator[np.ndarray]] | None = None

    def __len__(self) -> int:
        return self.count

    def frame(self, frame_index: int) -> np.ndarray:
        return self.read(frame_index)

    def iter_frames(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start … stop − 1`` in order: through ``run`` (a sequential reader such
        as `engine.frames.server.FrameServer.iter_frames`) when given, else one by one."""
        if self.run is not None:
            return self.run(start, stop)
        return (self.read(index) for index in range(start, stop))


@dataclass(frozen=True)
class PropagationProgress:
    """Where a run is: frames done of at most ``total``; labels written; objects flagged."""

    frame_index: int
    done: int
    total: int
    written: int
    flagged: int


@dataclass(frozen=True)
class PropagationResult:
    """What a run did: the frame range covered (``first`` → ``last`` in ``direction``),
    labels written, objects flagged (object id -> frame), and whether it was cancelled."""

    object_ids: tuple[int, ...]
    direction: int
    first: int
    last: int
    written: int
    flagged: dict[int, int]
    cancelled: bool
    changes: int = 0  # undo steps pushed: one per frame that got labels


def start_labels(labels: Iterable[Label], frame_index: int, object_ids: Iterable[int] | None) -> dict[int, Label]:
    """The labels on ``frame_index`` that a run starts from (all, or those of ``object_ids``);
    keypoints (`Point`) are no regions to carry and stay behind."""
    wanted = None if object_ids is None else {int(o) for o in object_ids}
    chosen = {
        label.object_id: label
        for label in labels
        if label.frame_index == frame_index and not label.review and (wanted is None or label.object_id in wanted)
        and not isinstance(label.shape, Point)
    }
    missing = (wanted or set()) - set(chosen)
    if missing:
        raise EditorStateError(f"no label to propagate for object(s) {sorted(missing)} on frame {frame_index}")
    return chosen


def run_propagation(
    frames: FrameAccess,
    store: PropagationStore,
    media: str,
    start: int,
    segmenter: Segmenter | None,
    *,
    quality: float = QUALITY_DEFAULT,
    embed: Embed | None = None,
    group: FrameGroup | None = None,
    direction: int = 1,
    until: int | None = None,
    object_ids: Iterable[int] | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[PropagationProgress], None] | None = None,
) -> PropagationResult:
    """Propagate the labels of ``media`` on frame ``start`` (all, or those of ``object_ids``)
    in ``direction`` up to ``until`` (default: the end) and write them into ``store``.

    frames: the media's frames, each read once (`CachedFrames` over a frame server; a fill
        from both ends reads the frames between twice, backwards first).
    segmenter, quality: re-prompted on every frame (None: flow warping only).
    embed: the segmenter's embedding of a frame (default ``segmenter.prepare``).
    group: wraps each frame's writes (default: none); see `FrameGroup`.
    cancel: stops the run between frames; progress: called after every frame.
    See the module docstring.
    """
    if direction not in (1, -1):
        raise EditorStateError(f"direction must be 1 or -1, got {direction}")
    every = store.labels(media)
    objects = start_labels(every, start, object_ids)
    last = (len(frames) - 1 if direction > 0 else 0) if until is None else max(0, min(int(until), len(frames) - 1))
    total = abs(last - start)
    written, reached, changes = 0, start, 0
    flagged: dict[int, int] = {}  # object id -> the frame it was flagged on
    if not objects or total == 0:
        return PropagationResult(tuple(sorted(objects)), direction, start, start, 0, {}, False)
    confirmed = anchors_from_labels(label for label in every if label.object_id in objects and label.frame_index != start)
    ends = fill_ends(objects, confirmed, start, direction, last)  # object id -> its next confirmed frame
    params = replace(default_params(getattr(segmenter, "name", None)), quality=quality)
    one_sided = {object_id: label for object_id, label in objects.items() if object_id not in ends}
    streams: list[Iterator[PropagationStep]] = []
    total = abs(last - start) if one_sided else 0
    done = 0
    if uses_memory(segmenter):
        stream, total = _memory_run(segmenter, params, frames, every, objects, confirmed, ends, start, direction,
                                    last if one_sided else None, cancel)
        streams.append(stream)
        ends = {}  # filled by the same pass
    elif one_sided:
        streams.append(Propagator(segmenter, params, embed=embed).propagate(
            frames, start, one_sided, direction, last, anchors=confirmed, cancel=cancel))

    def far_frame(frame_index: int) -> None:  # the run back from the next confirmed frame
        nonlocal done
        done += 1
        if progress is not None:
            progress(PropagationProgress(frame_index, done, total, written, len(flagged)))

    filler = Propagator(segmenter, replace(params, on_flag="continue"), embed=embed)
    for end in sorted(set(ends.values()), key=lambda frame: abs(frame - start)):
        ids = [object_id for object_id, frame in ends.items() if frame == end]
        at_end = {label.object_id: label for label in every if label.frame_index == end and label.object_id in ids}
        total += 2 * (abs(end - start) - 1)
        streams.append(fill_between(filler, frames, start, end, {o: objects[o] for o in ids}, at_end, cancel=cancel,
                                    on_far_frame=far_frame))
    previous = dict(objects)
    run_kind = f"propagate:{start}:{direction}:{time.time_ns()}"  # groups the run's frames for undo
    for step in itertools.chain.from_iterable(streams):
        # One frame = one transaction; the run's change sets share ``run_kind`` (one undo step).
        with group(run_kind) if group is not None else nullcontext():
            before = written + len(flagged)
            for object_id, label in step.labels.items():
                # a label the propagator doubts (flagged, but the object goes on) keeps review
                store.put(replace(label, source=LabelSource.PROPAGATED, confirmed=False, media=media), kind="propagate")
                previous[object_id] = label
                written += 1
            for object_id in step.flagged:
                if object_id in step.labels:
                    flagged[object_id] = step.frame_index
                    continue
                flag = replace(previous[object_id], frame_index=step.frame_index, source=LabelSource.PROPAGATED, score=0.0,
                               confirmed=False, review=True, media=media)
                if not _confirmed_here(store, media, step.frame_index, object_id):
                    store.put(flag, kind="propagate")
                flagged[object_id] = step.frame_index
            changes += int(written + len(flagged) > before)
        if (step.frame_index - reached) * direction > 0:
            reached = step.frame_index
        done += 1
        if progress is not None:
            progress(PropagationProgress(step.frame_index, done, max(total, done), written, len(flagged)))
    cancelled = bool(cancel is not None and cancel.is_set())
    return PropagationResult(tuple(sorted(objects)), direction, start, reached, written, dict(flagged), cancelled, changes)


def _memory_run(segmenter: Segmenter | None, params: PropagationParams, frames: FrameAccess, every: list[Label],
                objects: dict[int, Label], confirmed: dict[int, set[int]], ends: dict[int, int], start: int,
                direction: int, last: int | None,
                cancel: threading.Event | None) -> tuple[Iterator[PropagationStep], int]:
    """SAM 2's one pass for all ``objects`` and the frames it may cover: up to ``last`` (None:
    every object is filled) and to the frame before each filled object's end (``ends``).
    Its conditioning frames, beyond the start: each object's next confirmed label ahead (a
    fill) and its nearest confirmed label behind the start."""
    memory = make_propagator(segmenter, params)
    assert isinstance(memory, Sam2MemoryPropagator)
    wanted: dict[int, set[int]] = {object_id: {end} for object_id, end in ends.items()}
    for object_id in objects:
        behind = [frame for frame in confirmed.get(object_id, ()) if (frame - start) * direction < 0]
        if behind:
            wanted.setdefault(object_id, set()).add(max(behind, key=lambda frame: (frame - start) * direction))
    conditioning: dict[int, dict[int, ObjectInput]] = {}
    for label in every:
        if label.frame_index in wanted.get(label.object_id, ()) and not isinstance(label.shape, Point):
            conditioning.setdefault(label.frame_index, {})[label.object_id] = label
    reach = max([abs(end - start) - 1 for end in ends.values()] + ([abs(last - start)] if last is not None else []))
    stream = memory.propagate(frames, start, objects, direction, start + direction * reach, anchors=confirmed,
                              cancel=cancel, conditioning=conditioning)
    return stream, reach


def _confirmed_here(store: PropagationStore, media: str, frame_index: int, object_id: int) -> bool:
    existing = store.get(media, frame_index, object_id)
    return existing is not None and existing.confirmed and existing.source != LabelSource.PROPAGATED
