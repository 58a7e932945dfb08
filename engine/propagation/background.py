"""Propagation in the background: a run on its own thread, writing into the store as it goes.

`PropagationJob` runs one `engine.propagation.permanent.run_propagation` call on a thread
of its own, so the caller (the Editor, driven by the UI's editor thread) stays free for
clicks, seeks and corrections while the run writes its frames. The store must be
thread-safe (`engine.project.Project` and `engine.editing.labels.MemoryLabelStore` are:
every transaction holds the store's lock).

The run writes through a `RunGuard`, which lets a person's correction win over the run:
`RunGuard.stop_object(object_id, frame)` (a correction on a frame ahead of the run's
start) makes the run drop every later write of that object at that frame or beyond, so
the correction is never overwritten and the object goes no further (`RunGuard.take_back`
keeps the labels beyond it the run had already written, for the Editor to take back); once every object of
the run is stopped and the run reached the stops, the run is cancelled. The guard also
keeps the object's current class (a class change during the run is not undone by the
run's writes) and the frames actually written (what the run reached).

It takes plain values and callables, never the Editor.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from engine.propagation.permanent import PropagationProgress, PropagationResult, PropagationStore
from engine.types import Label, LabelSource


class RunGuard:
    """The store as one run sees it: reads of its objects, writes of stopped objects dropped.

    store: the label store; start, direction: where the run starts and which way it goes;
    object_ids: the run's objects; cancel: set once every object is stopped and reached.
    """

    def __init__(self, store: PropagationStore, start: int, direction: int, object_ids: Iterable[int],
                 cancel: threading.Event) -> None:
        self._store = store
        self.start = int(start)
        self.direction = int(direction)
        self.object_ids = frozenset(int(o) for o in object_ids)
        self.cancel = cancel
        self.limits: dict[int, int] = {}  # object id -> first frame it must not write
        self.written_frames: set[int] = set()
        self._object_frames: dict[int, set[int]] = {}  # object id -> frames the run wrote it on
        self.reached = self.start
        self.run_kind = ""  # the kind of the run's change sets (set when it opens its first)
        self._carried: list[Label] = []
        self._lock = threading.Lock()

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]:
        """As the store's, except that a whole media's read gives only the run's objects'
        labels (all a run reads them for), found through the store's shape-free
        ``label_tracks`` when it has one: a run starting in a 10,000-label project decodes
        its objects' labels, not every shape (which would hold the GIL for 0.3 s)."""
        if media is None or frame_index is not None:
            return self._store.labels(media, frame_index)
        tracks = getattr(self._store, "label_tracks", None)
        if not callable(tracks):
            return [label for label in self._store.labels(media) if label.object_id in self.object_ids]
        found = (self._store.get(media, frame, object_id) for object_id, frame, _, _ in tracks(media)
                 if object_id in self.object_ids)
        return [label for label in found if label is not None]

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None:
        return self._store.get(media, frame_index, object_id)

    def _ahead(self, frame_index: int, limit: int) -> bool:
        """``frame_index`` is at ``limit`` or past it in the run's direction."""
        return (frame_index - limit) * self.direction >= 0

    def put(self, label: Label, *, kind: str | None = None) -> object:
        """Write ``label`` unless its object was stopped at or before its frame."""
        with self._lock:
            limit = self.limits.get(label.object_id)
            if limit is not None and self._ahead(label.frame_index, limit):
                if all(o in self.limits and self._ahead(label.frame_index, self.limits[o]) for o in self.object_ids):
                    self.cancel.set()
                return None
            find = getattr(self._store, "object", None)
            record = find(label.media, label.object_id) if callable(find) else None
            if record is not None and record.class_name != label.class_name:
                label = replace(label, class_name=record.class_name)  # a class change made during the run
            result = self._store.put(label, kind=kind)
            self.written_frames.add(label.frame_index)
            self._object_frames.setdefault(label.object_id, set()).add(label.frame_index)
            if (label.frame_index - self.reached) * self.direction > 0:
                self.reached = label.frame_index
            return result

    def stop_object(self, object_id: int, frame_index: int, media: str | None = None) -> bool:
        """A correction of ``object_id`` on ``frame_index``: the run writes that object no
        more there or beyond. False when the object is not the run's or the frame is not
        ahead of the run's start. With ``media``, the labels the run already wrote beyond
        the frame (still its: propagated, unconfirmed) are kept for `take_back` (the caller
        deletes them in one change set of ``run_kind``: undone with the run)."""
        object_id, frame_index = int(object_id), int(frame_index)
        if object_id not in self.object_ids or (frame_index - self.start) * self.direction <= 0:
            return False
        with self._lock:
            old = self.limits.get(object_id)
            if old is None or (frame_index - old) * self.direction < 0:
                self.limits[object_id] = frame_index
            if media is not None:
                past = sorted(f for f in self._object_frames.get(object_id, ()) if (f - frame_index) * self.direction > 0)
                found = (self._store.get(media, frame, object_id) for frame in past)
                carried = [label for label in found if label is not None and label.source == LabelSource.PROPAGATED
                           and not label.confirmed]
                if carried and self.run_kind:
                    self._carried.extend(carried)
            if all(o in self.limits and self._ahead(self.reached, self.limits[o] - self.direction)
                   for o in self.object_ids):
                self.cancel.set()  # every object is stopped where the run already is
        return True

    def take_back(self) -> list[Label]:
        """The labels `stop_object` found carried past a correction (each once)."""
        with self._lock:
            carried, self._carried = self._carried, []
        return carried


class PropagationJob:
    """One propagation run on its own thread.

    work: runs the propagation with the guard and a progress callback, and returns its
    result (the Editor's closure); guard: the run's `RunGuard`.
    `progress` is the latest report, `result` / `error` what the run ended with.
    """

    def __init__(self, work: Callable[[RunGuard, Callable[[PropagationProgress], None]], PropagationResult],
                 guard: RunGuard, on_progress: Callable[[PropagationProgress], None] | None = None) -> None:
        self.guard = guard
        self.cancel = guard.cancel
        self.progress: PropagationProgress | None = None
        self.result: PropagationResult | None = None
        self.error: BaseException | None = None
        self._work = work
        self._on_progress = on_progress
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._main, name="framewise-propagate", daemon=True)

    @property
    def object_ids(self) -> frozenset[int]:
        return self.guard.object_ids

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def start(self) -> PropagationJob:
        self._thread.start()
        return self

    def stop_object(self, object_id: int, frame_index: int, media: str | None = None) -> bool:
        return self.guard.stop_object(object_id, frame_index, media)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; False when it is still running after ``timeout``."""
        return self._done.wait(timeout)

    def _report(self, progress: PropagationProgress) -> None:
        self.progress = progress
        if self._on_progress is not None:
            self._on_progress(progress)

    def _main(self) -> None:
        lower_priority()
        try:
            self.result = self._work(self.guard, self._report)
        except BaseException as exc:  # noqa: BLE001 — kept for whoever watches the job
            self.error = exc
        finally:
            self._done.set()


NICE = 10
"""How much lower than the caller's the run's thread is scheduled (Linux; 0: as high)."""


def lower_priority() -> None:
    """Schedule the calling thread below the others (Linux schedules threads one by one), so
    that a run yields the CPU to the window and the editor thread; elsewhere a no-op."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + NICE)
    except (AttributeError, OSError):  # no per-thread priorities here
        pass
