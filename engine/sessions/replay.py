"""Replay a prompt session: drive an `Editor` with a session's events on a media.

On the media the session was recorded on, replay reproduces the labels exactly. On another
media (resized, trimmed, re-encoded) normalised coordinates are scaled to the new frame
size and frames are matched by index or by time; events that do not fit the new media are
reported in the `ReplayReport`, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.editing.events import Event, denormalise_point, denormalise_shape
from engine.errors import FramewiseError
from engine.sessions.record import Session
from engine.types import Label, LabelSource, MediaInfo

MAP_MODES = ("index", "time")

# Kinds that act on the current frame's selection: skipped while the session's current
# frame has no counterpart in the new media. (delete and edit name their own frame.)
_FRAME_BOUND = frozenset({"click", "box", "candidate", "reset", "apply", "unclick", "draw"})
# Kinds that push one change on the store's undo stack (relabel: unless it changed nothing).
_CHANGES = frozenset({"apply", "draw", "edit", "delete", "relabel", "rename", "delete_object", "review", "take_back"})
# Kinds that need no open media (Editor state only).
_NO_MEDIA = frozenset({"open", "class", "sam", "quality", "permanent"})


@dataclass(frozen=True)
class SkippedEvent:
    """An event replay could not apply: its position in the session, kind and why."""

    index: int
    kind: str
    reason: str


@dataclass
class ReplayReport:
    """applied: events replayed; skipped: the others, in order; labels: the replayed
    objects' labels as the store holds them at the end (sorted by frame, object id)."""

    applied: int = 0
    skipped: list[SkippedEvent] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)


class _Skip(Exception):
    """Raised by a handler to skip the event with a reason."""


class _Flags:
    """A stack of booleans kept as runs ([flag, count], newest last): a propagate event
    declares how many undo steps it pushed (up to the media's frames), and pushing them
    costs one run, not one item per step."""

    def __init__(self) -> None:
        self.runs: list[list] = []

    def __bool__(self) -> bool:
        return bool(self.runs)

    def push(self, flag: bool, count: int = 1) -> None:
        if count <= 0:
            return
        if self.runs and self.runs[-1][0] == flag:
            self.runs[-1][1] += count
        else:
            self.runs.append([flag, count])

    def pop(self) -> bool:
        flag, count = self.runs[-1]
        if count == 1:
            self.runs.pop()
        else:
            self.runs[-1][1] = count - 1
        return bool(flag)

    def clear(self) -> None:
        self.runs.clear()


def time_of_frame(frame_index: int, media: MediaInfo) -> float:
    """Seconds from the first frame to ``frame_index`` of the session's media."""
    if media.timestamps and frame_index < len(media.timestamps):
        return float(media.timestamps[frame_index] - media.timestamps[0])
    return frame_index / media.fps


def nearest_frame(seconds: float, timestamps: np.ndarray, fps: float) -> int | None:
    """The frame of ``timestamps`` (N float64 seconds) nearest to ``seconds`` from its first
    frame (ties to the earlier one), or None when ``seconds`` lies more than half a frame
    period (at ``fps``) outside the media."""
    times = np.asarray(timestamps, np.float64)
    if len(times) == 0:
        return None
    times = times - times[0]
    half = 0.5 / fps if fps > 0 else 0.0
    if seconds < -half - 1e-9 or seconds > times[-1] + half + 1e-9:
        return None
    right = int(np.searchsorted(times, seconds))
    if right == 0:
        return 0
    if right >= len(times):
        return len(times) - 1
    return right if times[right] - seconds < seconds - times[right - 1] else right - 1


class _Replay:
    """The state of one replay: where the session is and where the Editor is."""

    def __init__(self, session: Session, media: Any, editor: Any, mode: str) -> None:
        self.session = session
        self.media = media
        self.editor = editor
        self.mode = mode
        self.opened = False
        self.skipped_frame: int | None = None  # the session frame with no counterpart
        self.touched: dict[tuple[int, int], None] = {}  # (frame, object id) of replayed labels
        # The session's undo and redo stacks, one flag per change (kept as runs): was it
        # replayed? Undo and redo are replayed only when the change they act on was, so they
        # never reach a change the session did not make.
        self.done = _Flags()
        self.undone = _Flags()

    # -- helpers -----------------------------------------------------------------------
    def open(self) -> None:
        self.editor.open(self.media)
        self.opened = True
        self.skipped_frame = None

    def map_frame(self, frame_index: int) -> int:
        source = self.editor.source
        count = len(source)
        if self.mode == "index":
            if frame_index >= count:
                raise _Skip(f"frame {frame_index} is beyond the new media's {count} frames")
            return frame_index
        seconds = time_of_frame(frame_index, self.session.media)
        mapped = nearest_frame(seconds, source.timestamps, source.fps)
        if mapped is None:
            duration = float(source.timestamps[-1] - source.timestamps[0])
            raise _Skip(f"frame {frame_index} at {seconds:.3f} s is beyond the new media's {duration:.3f} s")
        return mapped

    def frame_pixels(self, u: float, v: float) -> tuple[float, float]:
        width, height = self.editor.frame_size
        return denormalise_point(u, v, width, height)

    # -- handlers: one per event kind --------------------------------------------------
    def on_goto(self, event: Event) -> None:
        if event.frame_index is None:
            raise _Skip("goto without a frame")
        try:
            mapped = self.map_frame(event.frame_index)
        except _Skip:
            self.skipped_frame = event.frame_index
            raise
        self.editor.goto(mapped)
        self.skipped_frame = None

    def on_class(self, event: Event) -> None:
        self.editor.set_class(event.data["name"])

    def on_sam(self, event: Event) -> None:
        if self.editor.sam_mode != bool(event.data["on"]):
            self.editor.toggle_sam()

    def on_quality(self, event: Event) -> None:
        self.editor.set_quality(event.data["value"])

    def on_permanent(self, event: Event) -> None:
        self.editor.set_permanent(event.data["on"])

    def on_click(self, event: Event) -> None:
        x, y = self.frame_pixels(event.data["x"], event.data["y"])
        self.editor.click(x, y, positive=event.data["positive"])

    def on_box(self, event: Event) -> None:
        width, height = self.editor.frame_size
        d = event.data
        self.editor.drag_box(d["x0"] * width, d["y0"] * height, d["x1"] * width, d["y1"] * height)

    def on_candidate(self, event: Event) -> None:
        proposal = self.editor.selection.proposal
        wanted = int(event.data["index"])
        if proposal is None:
            raise _Skip("no proposal to pick a candidate from")
        if wanted >= len(proposal):
            raise _Skip(f"candidate {wanted} asked, the proposal has {len(proposal)}")
        for _ in range(len(proposal)):
            if self.editor.selection.candidate == wanted:
                return
            self.editor.cycle_candidate()

    def on_reset(self, event: Event) -> None:
        self.editor.reset()

    def on_apply(self, event: Event) -> None:
        recorded = event.data["class_name"]
        if self.editor.class_name != recorded:
            raise _Skip(f"the active class is {self.editor.class_name!r}, the session applied {recorded!r}")
        label = self.editor.apply(object_id=int(event.data["object_id"]))
        self.touched[(label.frame_index, label.object_id)] = None

    def on_unclick(self, event: Event) -> None:
        self.editor.unclick()

    def on_draw(self, event: Event) -> None:
        recorded = event.data["class_name"]
        if self.editor.class_name != recorded:
            raise _Skip(f"the active class is {self.editor.class_name!r}, the session drew {recorded!r}")
        shape = denormalise_shape(event.data["shape"], *self.editor.frame_size)
        label = self.editor.draw(shape, object_id=int(event.data["object_id"]))
        self.touched[(label.frame_index, label.object_id)] = None

    def event_frame(self, event: Event) -> int:
        """The mapped frame of an event that must have one (`check.FRAME_REQUIRED`)."""
        if event.frame_index is None:
            raise _Skip(f"{event.kind} without a frame")
        return self.map_frame(event.frame_index)

    def on_delete(self, event: Event) -> None:
        frame_index = self.event_frame(event)
        self.editor.delete_label(int(event.data["object_id"]), frame_index)

    def on_edit(self, event: Event) -> None:
        frame_index = self.event_frame(event)
        shape = denormalise_shape(event.data["shape"], *self.editor.frame_size)
        label = self.editor.edit_label(int(event.data["object_id"]), shape, frame_index)
        self.touched[(label.frame_index, label.object_id)] = None

    def on_relabel(self, event: Event) -> bool:
        """True when the class changed (a change on the undo stack)."""
        return self.editor.change_class(int(event.data["object_id"]), event.data["class_name"]) is not None

    def on_propagate(self, event: Event) -> None:
        """Propagate the same objects up to the (mapped) frame the recorded run reached."""
        recorded = int(event.data["changes"])
        try:
            try:
                until = self.map_frame(int(event.data["until"]))
            except _Skip:
                until = None  # the new media ends first: go to its end
            origin = self.event_frame(event) if event.frame_index is not None else None  # a background run's start
            result = self.editor.propagate(int(event.data["direction"]), until, event.data["objects"], origin)
        except (_Skip, FramewiseError):
            self.pushed(False, recorded)
            raise
        replayed = min(recorded, result.changes)
        self.pushed(True, replayed)
        self.pushed(False, recorded - replayed)
        start = result.first
        for label in self.editor.store.labels(self.editor.media_name):
            ahead = (label.frame_index - start) * result.direction > 0
            if label.object_id in result.object_ids and label.source == LabelSource.PROPAGATED and ahead:
                self.touched[(label.frame_index, label.object_id)] = None

    def on_interpolate(self, event: Event) -> None:
        """Interpolate the same object between the (mapped) keyframes."""
        recorded, data = int(event.data["changes"]), event.data
        try:
            first, last = self.map_frame(int(data["frame_a"])), self.map_frame(int(data["frame_b"]))
            written = self.editor.interpolate(int(data["object_id"]), first, last)
        except (_Skip, FramewiseError):
            self.pushed(False, recorded)
            raise
        self.pushed(bool(written), recorded)
        for label in written:
            self.touched[(label.frame_index, label.object_id)] = None

    def on_rename(self, event: Event) -> bool:
        """True when the name changed (a change on the undo stack)."""
        return self.editor.rename_object(int(event.data["object_id"]), event.data["name"]) is not None

    def on_delete_object(self, event: Event) -> None:
        self.editor.delete_object(int(event.data["object_id"]))

    def on_review(self, event: Event) -> None:
        frame_index = self.event_frame(event)
        object_id, action = int(event.data["object_id"]), event.data["action"]
        if action == "accept":
            label = self.editor.accept_label(object_id, frame_index)
            self.touched[(label.frame_index, label.object_id)] = None
        else:
            self.editor.mark_outside(object_id, frame_index, action)

    def on_take_back(self, event: Event) -> bool:
        """What a correction took back from a background run (true when labels were deleted)."""
        first, last = self.map_frame(int(event.data["first"])), self.map_frame(int(event.data["last"]))
        return self.editor.take_back(int(event.data["object_id"]), first, last, self.event_frame(event)) > 0

    def on_undo(self, event: Event) -> None:
        self.step(self.done, self.undone, "undo")

    def on_redo(self, event: Event) -> None:
        self.step(self.undone, self.done, "redo")

    def step(self, source: _Flags, target: _Flags, kind: str) -> None:
        """Move the session's change from ``source`` to ``target``; replay it if it was replayed."""
        if not source:
            raise _Skip(f"nothing to {kind}: the change was made before the session")
        replayed = source.pop()
        target.push(replayed)
        if not replayed:
            raise _Skip(f"the change to {kind} was not replayed")
        changeset = getattr(self.editor, kind)(single=True)  # one recorded event, one change set
        if changeset is None:
            raise _Skip(f"the editor had nothing to {kind}")
        for label in changeset.labels:
            if label.media == self.editor.media_name:
                self.touched[(label.frame_index, label.object_id)] = None

    def pushed(self, replayed: bool, count: int = 1) -> None:
        """Mirror ``count`` changes the session made on its undo stack (none: nothing)."""
        if count > 0:
            self.done.push(replayed, count)
            self.undone.clear()

    # -- driving -----------------------------------------------------------------------
    def handler(self, kind: str) -> Callable[[Event], None] | None:
        return getattr(self, f"on_{kind}", None)

    def run(self) -> ReplayReport:
        report = ReplayReport()
        for index in replay_order(self.session.events):
            event = self.session.events[index]
            if event.kind == "open" or (not self.opened and event.kind not in _NO_MEDIA):
                self.open()  # fatal when it fails; lazily for a session cut before its open
                if event.kind == "open":
                    report.applied += 1
                    continue
            handle = self.handler(event.kind)
            try:
                if handle is None:
                    raise _Skip(f"this framewise cannot replay {event.kind!r} events")
                if event.kind in _FRAME_BOUND and self.skipped_frame is not None:
                    raise _Skip(f"frame {self.skipped_frame} was skipped")
                result = handle(event)
            except (_Skip, FramewiseError) as exc:
                report.skipped.append(SkippedEvent(index, event.kind, str(exc)))
                if event.kind in _CHANGES:
                    self.pushed(False)
            else:
                report.applied += 1
                if event.kind in _CHANGES and result is not False:
                    self.pushed(True)
        report.labels = self.labels()
        return report

    def labels(self) -> list[Label]:
        if not self.opened:
            return []
        store, media_name = self.editor.store, self.editor.media_name
        found = (store.get(media_name, frame, object_id) for frame, object_id in sorted(self.touched))
        return [label for label in found if label is not None]


def replay_order(events: list[Event]) -> list[int]:
    """The order to replay ``events`` in: as recorded, except that a background run's
    ``propagate`` event (recorded when the run ended, ``back`` events after it started)
    goes where the run started, before what the person did while it ran."""
    def key(index: int) -> tuple[int, int, int]:
        back = int(events[index].data.get("back", 0)) if events[index].kind == "propagate" else 0
        return (index - back, 0, index) if back > 0 else (index, 1, index)

    return sorted(range(len(events)), key=key)


def replay_session(session: Session, media: Any, editor: Any, *, map: str = "index") -> ReplayReport:  # noqa: A002
    """Replay ``session`` on ``media`` through ``editor``.

    media: a path (video, image, folder, glob) or an open `FrameSource`; every ``open``
        event opens it (a media that fails to open raises `MediaError`: that is fatal).
    editor: an `engine.editing.editor.Editor` (its store receives the labels). Its quality is set
        to the session's starting quality first when they differ.
    map: how session frames find their frame in the new media: ``index`` (same index) or
        ``time`` (the frame nearest the original frame's time, from the session's
        timestamps or frame / fps).
    Returns a `ReplayReport`; events that do not fit the new media are skipped and
    reported, and prompts on a skipped frame are skipped until the next goto.
    """
    if map not in MAP_MODES:
        raise ValueError(f"map must be one of {', '.join(MAP_MODES)}, got {map!r}")
    if abs(editor.quality - session.segmenter.quality) > 1e-9:
        editor.set_quality(session.segmenter.quality)
    # Propagations are replayed from their own events (which say how far they went), not
    # started again by apply().
    auto, editor.auto_propagate = getattr(editor, "auto_propagate", True), False
    try:
        return _Replay(session, media, editor, map).run()
    finally:
        editor.auto_propagate = auto
