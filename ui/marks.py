"""Timeline marks (one per frame: none, confirmed, propagated, flagged), kept up to date
without re-reading the media's labels.

`MarkTracker` reads every label's (frame, source, review) once when a media opens; after
that it listens to the Editor's event log and re-reads only the frames an event changed
(the label's frame for apply, edit and delete; the change set's labels for undo and redo;
the frames a propagation or an interpolation covered). A propagation run also touches
each frame as it is written, so the timeline fills in while it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from engine.types import LabelSource

MARK_NONE, MARK_CONFIRMED, MARK_PROPAGATED, MARK_FLAGGED = 0, 1, 2, 3

# Event kinds that never change a label's frame, source or review flag (class changes
# and names do not show on the timeline).
UNMARKED_EVENTS = frozenset({"goto", "class", "sam", "click", "box", "reset", "quality", "candidate",
                             "permanent", "relabel", "rename"})
MAX_QUERIES = 32  # more separate runs of changed frames than this: one query over their span

Flags = list[tuple[int, str, bool]]


class _Event(Protocol):
    kind: str
    frame_index: int | None
    data: dict[str, Any]


def mark_kind(source: LabelSource | str, review: bool) -> int:
    """The timeline mark of one label (``source`` as `Label.source` or as the store reads it)."""
    return MARK_FLAGGED if review else (MARK_PROPAGATED if source == LabelSource.PROPAGATED else MARK_CONFIRMED)


def touched_frames(event: _Event, media: str) -> list[int] | None:
    """The frames whose labels ``event`` may have changed; None: any frame (reread all)."""
    kind, frame, data = event.kind, event.frame_index, event.data
    if kind in UNMARKED_EVENTS:
        return []
    if kind in ("apply", "edit", "delete"):
        return [] if frame is None else [frame]
    if kind == "review" and data.get("action") == "accept":  # a flag cleared on the event's frame
        return [] if frame is None else [frame]
    if kind in ("undo", "redo"):
        return [int(key[1]) for key in data.get("labels", []) if key[0] == media]
    if kind == "propagate" and frame is not None and "until" in data:
        low, high = sorted((frame, int(data["until"])))
        return list(range(low, high + 1))
    if kind == "interpolate" and "frame_a" in data and "frame_b" in data:
        low, high = sorted((int(data["frame_a"]), int(data["frame_b"])))
        return list(range(low, high + 1))
    return None  # open, or an event this module does not know


def frame_runs(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted distinct ``frames`` as inclusive (first, last) runs of consecutive frames;
    one run over their whole span when there would be more than `MAX_QUERIES`."""
    ordered = sorted(set(frames))
    runs: list[tuple[int, int]] = []
    for frame in ordered:
        if runs and frame == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], frame)
        else:
            runs.append((frame, frame))
    if len(runs) > MAX_QUERIES:
        return [(ordered[0], ordered[-1])]
    return runs


def read_flags(store: Any, media: str, first: int | None = None, last: int | None = None) -> Flags:
    """(frame, source, review) of the labels on frames ``first`` to ``last`` (None: all):
    the store's `label_flags` query when it has one, else read from its labels."""
    query = getattr(store, "label_flags", None)
    if callable(query):
        return query(media, first, last)
    labels = store.labels(media, first) if first is not None and first == last else store.labels(media)
    return [
        (label.frame_index, label.source, label.review)
        for label in labels
        if (first is None or label.frame_index >= first) and (last is None or label.frame_index <= last)
    ]


def fill_marks(marks: np.ndarray, flags: Flags) -> None:
    """Raise each frame's mark to its labels' strongest kind (flagged > propagated > confirmed)."""
    if not flags:
        return
    frames = np.fromiter((f for f, _, _ in flags), np.int64, len(flags))
    kinds = np.fromiter((mark_kind(s, r) for _, s, r in flags), np.uint8, len(flags))
    inside = (frames >= 0) & (frames < len(marks))
    np.maximum.at(marks, frames[inside], kinds[inside])


def _frozen(marks: np.ndarray) -> np.ndarray:
    marks.setflags(write=False)
    return marks


class TouchedFrames:
    """The frames touched since its last `take`, for one more reader of the frames a
    `MarkTracker` hears about (the track panel's rows); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: set[int] | None = None  # None: every frame (the first read reads all)

    def put(self, frames: Iterable[int] | None) -> None:
        """Add ``frames`` (None: every frame)."""
        with self._lock:
            if frames is None:
                self._frames = None
            elif self._frames is not None:
                self._frames.update(int(f) for f in frames)

    def take(self) -> set[int] | None:
        """The frames touched since the last call (None: every frame), and forget them."""
        with self._lock:
            frames, self._frames = self._frames, set()
        return frames


class MarkTracker:
    """The open media's timeline marks for the snapshots (use on the editor thread).

    editor: an `engine.editing.editor.Editor`; the tracker subscribes to its event log.
    `marks()` returns a read-only array that is replaced, never changed, when marks change.
    """

    def __init__(self, editor: Any) -> None:
        self._editor = editor
        self._lock = threading.Lock()
        self._media: str | None = None
        self._marks = _frozen(np.zeros(0, np.uint8))
        self._dirty: set[int] = set()
        self._reload = True
        self.frames_read = 0  # frames re-read since the tracker was made (tests, benchmark)
        self._followers: list[TouchedFrames] = []
        editor.log.subscribe(self._on_event)

    def follow(self) -> TouchedFrames:
        """A new reader of the touched frames: every `touch` from now on reaches it too."""
        follower = TouchedFrames()
        with self._lock:
            self._followers.append(follower)
        return follower

    def _on_event(self, event: _Event) -> None:
        frames = touched_frames(event, self._editor.media_name)
        self.touch(frames)

    def touch(self, frames: Iterable[int] | None) -> None:
        """Mark ``frames`` (None: every frame) as changed; they are re-read on the next `marks`."""
        frames = None if frames is None else [int(f) for f in frames]
        with self._lock:
            if frames is None:
                self._reload = True
            else:
                self._dirty.update(frames)
            followers = list(self._followers)
        for follower in followers:
            follower.put(frames)

    def marks(self) -> np.ndarray:
        """frame count uint8 marks of the open media, re-reading only the changed frames."""
        editor = self._editor
        media, count = editor.media_name, len(editor.source)
        with self._lock:
            reload = self._reload or media != self._media or count != len(self._marks)
            dirty, self._dirty, self._reload = self._dirty, set(), False
        try:
            if reload:
                marks = np.zeros(count, np.uint8)
                fill_marks(marks, read_flags(editor.store, media))
                self.frames_read += count
            elif dirty:
                marks = self._marks.copy()
                for first, last in frame_runs(f for f in dirty if 0 <= f < count):
                    marks[first : last + 1] = MARK_NONE
                    fill_marks(marks, read_flags(editor.store, media, first, last))
                    self.frames_read += last - first + 1
            else:
                return self._marks
        except BaseException:
            self.touch(None if reload else dirty)  # read them again next time
            raise
        self._marks, self._media = _frozen(marks), media
        return self._marks
