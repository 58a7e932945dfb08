"""Propagation in the background (`Editor.start_propagation`, `engine.propagation.background`):
the Editor answers while a run writes, and a correction stops the run's object there."""

import threading
import time

import numpy as np
from counting_media import CountingSource, moving_square

from engine.editing.editor import Editor
from engine.propagation.background import RunGuard
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Label


def slow_editor(frames: int, pause: float) -> tuple[Editor, list[int]]:
    editor = Editor(ClassicSegmenter(), quality=0.2)
    editor.open(CountingSource(moving_square(frames)[0]))
    editor.background = True
    editor.permanent = True
    reported: list[int] = []

    def progress(report) -> None:  # on the run's thread
        reported.append(report.frame_index)
        time.sleep(pause)

    editor.on_progress = progress
    editor.toggle_sam()
    return editor, reported


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_apply_returns_at_once_and_the_run_writes_while_the_editor_works():
    editor, reported = slow_editor(8, 0.15)
    try:
        editor.click(24, 48)
        label = editor.apply()
        assert editor.selection.proposal is None and editor.labels(0) == [label]
        (job,) = editor.propagation_jobs()
        editor.goto(3)  # the Editor answers while the run goes on
        assert editor.frame_index == 3 and job.running
        wait_until(lambda: len(editor.labels()) >= 3)
        assert job.running
        assert job.join(20) and job.error is None and job.result is not None
        assert sorted(label.frame_index for label in editor.labels()) == list(range(8))
        event = [e for e in editor.log.events if e.kind == "propagate"][-1]
        assert event.frame_index == 0 and event.data["until"] == 7  # at its start, not where the person is
        assert editor.take_finished_propagations() == [job] and editor.take_finished_propagations() == []
    finally:
        editor.close()


def test_a_correction_ahead_stops_the_object_there_and_is_kept():
    editor, reported = slow_editor(10, 0.4)
    try:
        editor.click(24, 48)
        editor.apply()
        (job,) = editor.propagation_jobs()
        wait_until(lambda: bool(reported))
        editor.goto(5)
        editor.click(24 + 10, 48)  # the square moved: prompt where it is now
        correction = editor.apply(object_id=1)  # the person's label for object 1 on frame 5
        assert job.join(20) and job.result is not None
        assert job.result.last == 4 and job.result.cancelled
        assert editor.store.get(editor.media_name, 5, 1) == correction
        first = next(e for e in editor.log.events if e.kind == "propagate" and e.frame_index == 0)
        assert first.frame_index == 0 and first.data["until"] == 4 and first.data["changes"] == 4
        # With permanent drawing on, the correction is propagated in its turn, from frame 5.
        for later in editor.propagation_jobs():
            assert later.join(20)
        runs = sorted((e.frame_index, e.data["until"]) for e in editor.log.events if e.kind == "propagate")
        assert runs == [(0, 4), (5, 9)]
        assert editor.store.get(editor.media_name, 5, 1) == correction
    finally:
        editor.close()


def test_undo_stops_the_runs_first():
    editor, _ = slow_editor(10, 0.2)
    try:
        editor.click(24, 48)
        editor.apply()
        (job,) = editor.propagation_jobs()
        editor.undo()  # the run is stopped, then the newest change (its last frame) taken back
        assert not job.running and not editor.propagation_jobs()
    finally:
        editor.close()


class _Store:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], Label] = {}

    def labels(self, media=None, frame_index=None):
        return list(self.rows.values())

    def get(self, media, frame_index, object_id):
        return self.rows.get((frame_index, object_id))

    def put(self, label, *, kind=None):
        self.rows[(label.frame_index, label.object_id)] = label


def _label(object_id: int, frame: int) -> Label:
    return Label(object_id, frame, "box", Box(0, 0, 4, 4), media="m")


def test_the_guard_drops_writes_at_and_past_a_stop_and_cancels_when_all_are_stopped():
    store, cancel = _Store(), threading.Event()
    guard = RunGuard(store, 2, 1, [1, 2], cancel)
    assert not guard.stop_object(1, 2) and not guard.stop_object(3, 6)  # not ahead / not the run's
    assert guard.stop_object(1, 5)
    for frame in (3, 4, 5, 6):
        guard.put(_label(1, frame))
        guard.put(_label(2, frame))
    assert sorted(store.rows) == [(3, 1), (3, 2), (4, 1), (4, 2), (5, 2), (6, 2)]
    assert not cancel.is_set() and guard.reached == 6
    assert guard.stop_object(2, 7)
    guard.put(_label(2, 7))
    assert cancel.is_set() and (7, 2) not in store.rows


def test_backwards_runs_stop_below():
    store, cancel = _Store(), threading.Event()
    guard = RunGuard(store, 8, -1, [1], cancel)
    assert guard.stop_object(1, 5) and not guard.stop_object(1, 9)
    for frame in (7, 6, 5):
        guard.put(_label(1, frame))
    assert sorted(store.rows) == [(6, 1), (7, 1)] and cancel.is_set()
    assert np.array_equal(sorted(guard.written_frames), [6, 7])
