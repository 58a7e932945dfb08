"""Permanent drawing runs of the `engine.editing.editor.Editor`: one in the caller's
thread (`propagate`) or in the background (`start_propagation`, `engine.propagation.background`),
their cancellation, and a correction stopping a run at its frame. A mixin: the Editor
holds the state it uses (declared here for the type checker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.editing.history import RecordingStore
from engine.errors import EditorStateError
from engine.propagation.background import PropagationJob, RunGuard
from engine.propagation.permanent import CachedFrames, PropagationProgress, PropagationResult, run_propagation, start_labels
from engine.types import Label, LabelSource

if TYPE_CHECKING:
    from engine.editing.events import Event, SessionLog
    from engine.editing.labels import LabelStore
    from engine.frames.server import FrameServer
    from engine.segment.base import Segmenter


class PropagationRuns:
    """The Editor's propagation calls (see `engine.editing.editor.Editor`)."""

    segmenter: Segmenter
    store: LabelStore
    frame_index: int
    media_name: str
    quality: float
    on_progress: Callable[[PropagationProgress], None] | None
    background: bool
    _cancel: threading.Event | None
    _jobs: list[PropagationJob]
    _jobs_lock: threading.Lock
    log: SessionLog

    if TYPE_CHECKING:
        @property
        def server(self) -> FrameServer: ...

        def _record(self, kind: str, *, at_frame: int | None = None, **data) -> Event: ...

        def _transaction(self) -> AbstractContextManager: ...

    def propagate(self, direction: int = 1, until: int | None = None,
                  object_ids: Iterable[int] | None = None, start: int | None = None) -> PropagationResult:
        """Carry the objects of the current frame (or of frame ``start``: replaying a run
        that went on in the background while the person moved on; all objects, or ``object_ids``) frame by frame
        forwards (1) or backwards (-1) up to ``until`` or the next confirmed frame; labels
        land in the store as ``propagated``; lost objects flag their frame for review.
        One ``propagate`` event with the frame it reached, so a replay covers the same
        frames. Frames are read through the frame server, as the embeddings are: one decode."""
        server = self.server  # raises when no media is open
        start = self.frame_index if start is None else int(start)
        self._cancel = threading.Event()
        result = run_propagation(
            CachedFrames(server.get_frame, len(server.source), server.iter_frames), self.store, self.media_name, start,
            self.segmenter, quality=self.quality, embed=lambda frame_index, frame: server.get_embedding(frame_index),
            group=getattr(self.store, "group", None), direction=direction, until=until, object_ids=object_ids,
            cancel=self._cancel, progress=self.on_progress,
        )
        self._record("propagate", at_frame=start, objects=list(result.object_ids), direction=direction,
                     until=result.last, changes=result.changes)
        return result

    def _carry(self, label: Label) -> None:
        """Permanent drawing after `apply`: ``label``'s object is carried forwards and
        backwards, each way up to its next confirmed frame (a correction re-runs only the
        frames between its neighbours), in the background when ``background`` is on: forwards
        first, then backwards on the same thread's chain, so an apply adds one run at a time. A side
        with no frame to go to (the media's end, a confirmed label next to it) starts no run."""
        length, media, ids = len(self.server.source), self.media_name, [label.object_id]
        sides = []
        for direction in (1, -1):
            near = label.frame_index + direction
            beside = self.store.get(media, near, label.object_id) if 0 <= near < length else None
            if 0 <= near < length and not (beside is not None and beside.confirmed
                                           and beside.source != LabelSource.PROPAGATED):
                sides.append(direction)
        if not self.background:
            for direction in sides:
                self.propagate(direction, object_ids=ids)
            return

        def backwards() -> None:  # on the forward run's thread: one run at a time per apply
            if self.media_name == media:
                try:
                    self.start_propagation(-1, object_ids=ids, start=label.frame_index)
                except EditorStateError:  # its label was deleted meanwhile: nothing to carry
                    pass

        if sides == [1, -1]:
            self.start_propagation(1, object_ids=ids, then=backwards)
        elif sides:
            self.start_propagation(sides[0], object_ids=ids)

    def cancel_propagation(self) -> None:
        """Stop every running propagation (the one `propagate` runs and the background
        ones) before its next frame (safe from any thread)."""
        if self._cancel is not None:
            self._cancel.set()
        for job in self.propagation_jobs():
            job.cancel.set()

    def start_propagation(self, direction: int = 1, until: int | None = None,
                          object_ids: Iterable[int] | None = None, *, start: int | None = None,
                          then: Callable[[], object] | None = None) -> PropagationJob:
        """`propagate` on a thread of its own (`engine.propagation.background`): returns at
        once with the running job; labels land in the store frame by frame while the Editor
        takes other calls. A correction of one of its objects on a frame ahead (`apply` with
        its id, `draw`, `edit_label`, `delete_label`, `mark_outside`) stops that object there;
        `undo`, `redo`, `open` and `close` stop every run first. The ``propagate`` event is
        recorded when the run ends, at its start frame; `take_finished_propagations` hands
        the ended jobs (result or error) to whoever shows them. ``start``: the frame it starts
        from (default the current one); ``then``: called on the run's thread when it ended
        without being cancelled or stopped (the next run of a chain)."""
        server = self.server  # raises when no media is open
        start = self.frame_index if start is None else int(start)
        media, quality, store = self.media_name, self.quality, self.store
        ids = sorted(start_labels(store.labels(media, start), start, object_ids))
        guard = RunGuard(store, start, direction, ids, threading.Event())

        def progress(report: PropagationProgress) -> None:
            callback = self.on_progress
            if callback is not None:
                callback(report)

        def group(kind: str) -> AbstractContextManager:  # the run's change sets: one kind
            guard.run_kind = kind
            return store.group(kind)  # type: ignore[attr-defined]

        def work(target: RunGuard, report: Callable[[PropagationProgress], None]) -> PropagationResult:
            result = run_propagation(
                CachedFrames(server.get_frame, len(server.source), server.iter_frames), target, media, start,
                self.segmenter, quality=quality, embed=lambda frame_index, frame: server.get_embedding(frame_index),
                group=group if callable(getattr(store, "group", None)) else None, direction=direction,
                until=until, object_ids=ids, cancel=target.cancel, progress=report,
            )
            if target.limits:  # writes past a correction were dropped: what the run really did
                result = replace(result, last=target.reached, changes=len(target.written_frames),
                                 cancelled=result.cancelled or target.cancel.is_set())
            self._record("propagate", at_frame=start, objects=list(result.object_ids), direction=direction,
                         until=result.last, changes=result.changes, back=len(self.log.events) - started)
            if then is not None and not target.cancel.is_set():
                then()
            return result

        started = len(self.log.events)  # a replay runs it here, before what was done meanwhile
        job = PropagationJob(work, guard, progress)
        with self._jobs_lock:
            self._jobs.append(job)
        return job.start()

    def propagation_jobs(self, ended: bool = False) -> list[PropagationJob]:
        """The background runs still running (and, with ``ended``, those that ended and
        were not taken by `take_finished_propagations` yet)."""
        with self._jobs_lock:
            return [job for job in self._jobs if ended or job.running]

    def take_finished_propagations(self) -> list[PropagationJob]:
        """The background runs that ended since the last call (oldest first), forgotten here."""
        with self._jobs_lock:
            finished = [job for job in self._jobs if not job.running]
            self._jobs = [job for job in self._jobs if job.running]
        return finished

    def stop_propagations(self, timeout: float = 60.0) -> None:
        """Cancel the background runs and wait for them to end (before undo, redo, open)."""
        for _ in range(3):  # a run that ended as it was stopped may have started the next of its chain
            jobs = self.propagation_jobs()
            for job in jobs:
                job.cancel.set()
            for job in jobs:
                job.join(timeout)

    def _stop_runs_at(self, object_id: int | None, frame_index: int) -> None:
        """A correction of ``object_id`` on ``frame_index``: background runs carrying that
        object stop it there (before the correction is written), and the labels they had
        already written beyond it, carried from before the correction, are taken back (one
        undo step; a label a person confirmed there meanwhile stays)."""
        if object_id is None:
            return
        # The store's lock first, then the run's (`RunGuard`): the order a run's writes take them in.
        with self._transaction():
            for job in self.propagation_jobs():
                if not job.stop_object(int(object_id), int(frame_index), self.media_name):
                    continue
                carried = job.guard.take_back()
                if carried:  # one change set of the run's own kind: undone with it
                    self._take_back(job.guard.run_kind, carried, int(frame_index))

    def take_back(self, object_id: int, first: int, last: int, at_frame: int | None = None) -> int:
        """Delete object ``object_id``'s propagated, unconfirmed labels on frames ``first``
        to ``last`` (one undo step; how a replay does what a correction did to a background
        run that had carried the object past it). Returns how many were deleted."""
        low, high = sorted((int(first), int(last)))
        with self._transaction():
            carried = [label for label in self.store.labels(self.media_name) if label.object_id == int(object_id)
                       and low <= label.frame_index <= high and label.source == LabelSource.PROPAGATED
                       and not label.confirmed]
            if carried:
                self._take_back("take_back", carried, low if at_frame is None else int(at_frame))
        return len(carried)

    def _take_back(self, kind: str, labels: list[Label], at_frame: int) -> None:
        group = self.store.group(kind) if isinstance(self.store, RecordingStore) else nullcontext()
        with group:  # the change set is pushed on leaving it, before the event ties to it
            for label in labels:
                self.store.delete(label.media, label.frame_index, label.object_id)
        frames = [label.frame_index for label in labels]
        self._record("take_back", at_frame=at_frame, object_id=labels[0].object_id, first=min(frames), last=max(frames))
