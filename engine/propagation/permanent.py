"""Permanent drawing: the Editor's side of propagation.

`run_propagation` carries objects of the open media from one frame through the next ones
(or the previous ones) with `engine.propagation.propagator.Propagator` and writes what it finds into
the Editor's store, one transaction per frame, so a crash keeps every finished frame
(the run's change sets share a kind, so `Editor.undo` takes the whole run back at once):
- accepted masks become labels with source ``propagated``, unconfirmed, with the
  propagator's score;
- where an object's checks fail (it left, was occluded, drifted) the object stops and the
  frame gets a *review* label for it: the last accepted shape, score 0, ``review=True``,
  which the timeline shows as flagged and N / Shift+N jump to;
- frames a person confirmed are anchors: a run stops before the next one and never
  overwrites a confirmed label.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from engine.errors import EditorStateError
from engine.types import Label


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
    """The labels on ``frame_index`` that a run starts from (all, or those of ``object_ids``)."""
    wanted = None if object_ids is None else {int(o) for o in object_ids}
    chosen = {
        label.object_id: label
        for label in labels
        if label.frame_index == frame_index and not label.review and (wanted is None or label.object_id in wanted)
    }
    missing = (wanted or set()) - set(chosen)
    if missing:
        raise EditorStateError(f"no label to propagate for object(s) {sorted(missing)} on frame {frame_index}")
    return chosen


def run_propagation(
    editor,
    *,
    direction: int = 1,
    until: int | None = None,
    object_ids: Iterable[int] | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[PropagationProgress], None] | None = None,
) -> PropagationResult:
    """Propagate from the Editor's current frame; see the module docstring."""
    from engine.propagation.propagator import Propagator, anchors_from_labels, default_params

    if direction not in (1, -1):
        raise EditorStateError(f"direction must be 1 or -1, got {direction}")
    source, store, media = editor.source, editor.store, editor.media_name
    start = editor.frame_index
    every = store.labels(media)
    objects = start_labels(every, start, object_ids)
    last = (len(source) - 1 if direction > 0 else 0) if until is None else max(0, min(int(until), len(source) - 1))
    total = abs(last - start)
    result = dict(written=0, flagged={}, reached=start, changes=0)
    if not objects or total == 0:
        return PropagationResult(tuple(sorted(objects)), direction, start, start, 0, {}, False)
    confirmed = anchors_from_labels(label for label in every if label.object_id in objects and label.frame_index != start)
    backend = getattr(editor.segmenter, "name", None)
    propagator = Propagator(
        editor.segmenter,
        replace(default_params(backend), quality=editor.quality),
        embed=lambda frame_index, frame: editor.server.get_embedding(frame_index),
    )
    previous = dict(objects)
    run_kind = f"propagate:{start}:{direction}:{time.time_ns()}"  # groups the run's frames for undo
    steps = propagator.propagate(source, start, objects, direction, last, anchors=confirmed, cancel=cancel)
    for step in steps:
        # One frame = one transaction; the run's change sets share ``run_kind`` (one undo step).
        with store.group(run_kind) if hasattr(store, "group") else editor._transaction():
            before = result["written"] + len(result["flagged"])
            for object_id, label in step.labels.items():
                store.put(replace(label, source="propagated", confirmed=False, review=False, media=media), kind="propagate")
                previous[object_id] = label
                result["written"] += 1
            for object_id in step.flagged:
                flag = replace(previous[object_id], frame_index=step.frame_index, source="propagated", score=0.0,
                               confirmed=False, review=True, media=media)
                if not _confirmed_here(store, media, step.frame_index, object_id):
                    store.put(flag, kind="propagate")
                result["flagged"][object_id] = step.frame_index
            result["changes"] += int(result["written"] + len(result["flagged"]) > before)
        result["reached"] = step.frame_index
        if progress is not None:
            progress(PropagationProgress(step.frame_index, abs(step.frame_index - start), total,
                                         result["written"], len(result["flagged"])))
    cancelled = bool(cancel is not None and cancel.is_set())
    return PropagationResult(tuple(sorted(objects)), direction, start, result["reached"], result["written"],
                             dict(result["flagged"]), cancelled, result["changes"])


def _confirmed_here(store, media: str, frame_index: int, object_id: int) -> bool:
    existing = store.get(media, frame_index, object_id)
    return existing is not None and existing.confirmed and existing.source != "propagated"
