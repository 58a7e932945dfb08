"""Propagation in the background (`Editor.start_propagation`, `engine.propagation.background`):
the Editor answers while a run writes, and a correction stops the run's object there."""

import threading
import time
from dataclasses import replace

import numpy as np
from counting_media import CountingSource, moving_square

from engine.editing.editor import Editor
from engine.propagation.background import RunGuard
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Label, LabelSource


def slow_editor(frames: int, pause: float, media=None) -> tuple[Editor, list[int]]:
    editor = Editor(ClassicSegmenter(), quality=0.2)
    editor.open(CountingSource(moving_square(frames)[0]) if media is None else media)
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
        # With permanent drawing on, the correction is propagated in its turn from frame 5,
        # forwards to the end, then (one run at a time) backwards to frame 1 (frame 0 is confirmed).
        wait_until(lambda: any(e.kind == "propagate" and e.data["direction"] == -1 for e in editor.log.events), 40)
        assert not editor.propagation_jobs()
        order = [e.data["direction"] for e in editor.log.events if e.kind == "propagate" and e.frame_index == 5]
        assert order == [1, -1]  # the backward run starts when the forward one has ended
        runs = sorted((e.frame_index, e.data["direction"], e.data["until"]) for e in editor.log.events
                      if e.kind == "propagate")
        assert runs == [(0, 1, 4), (5, -1, 1), (5, 1, 9)]
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


def test_a_correction_behind_the_run_takes_back_what_it_carried_past_it():
    editor, reported = slow_editor(12, 0.3)
    try:
        editor.click(24, 48)
        editor.apply()
        (job,) = editor.propagation_jobs()
        wait_until(lambda: len(reported) >= 6)  # the run wrote frames 1…6 at least
        media = editor.media_name
        ahead = {label.frame_index for label in editor.labels() if label.frame_index > 3}
        assert ahead, "the run went past frame 3 before the correction"
        before = editor.store.get(media, 3, 1)
        editor.edit_label(1, before.shape, frame_index=3)  # the person confirms frame 3
        assert job.join(20) and job.result is not None and job.result.cancelled
        frames = sorted(label.frame_index for label in editor.labels() if label.object_id == 1)
        assert frames == [0, 1, 2, 3]  # the labels carried from before frame 3's correction are gone
        assert editor.store.get(media, 3, 1).confirmed
        event = next(e for e in editor.log.events if e.kind == "propagate")
        assert event.data["changes"] == len(job.guard.written_frames)  # one undo step per frame it wrote
        (taken,) = [e for e in editor.log.events if e.kind == "take_back"]
        assert taken.frame_index == 3 and taken.data["first"] == 4 and taken.data["last"] == max(ahead)
        editor.undo()  # the correction
        assert not editor.store.get(media, 3, 1).confirmed
        editor.undo()  # the run, the labels it took back with it
        assert [label.frame_index for label in editor.labels()] == [0]
        editor.redo()  # the run as it ended: its frames up to the correction, none past it
        assert sorted(label.frame_index for label in editor.labels()) == [0, 1, 2, 3]
        assert not editor.store.get(media, 3, 1).confirmed
    finally:
        editor.close()


def test_the_guard_keeps_the_labels_it_carried_past_a_stop_for_take_back():
    store, cancel = _Store(), threading.Event()
    guard = RunGuard(store, 0, 1, [1], cancel)
    guard.run_kind = "propagate:0:1:0"
    for frame in (1, 2, 3, 4):
        guard.put(replace(_label(1, frame), source=LabelSource.PROPAGATED, confirmed=False))
    store.rows[(4, 1)] = replace(store.rows[(4, 1)], source=LabelSource.MANUAL, confirmed=True)  # a person's since
    assert guard.stop_object(1, 2, "m") and cancel.is_set()
    assert [label.frame_index for label in guard.take_back()] == [3]
    assert guard.take_back() == []


def test_a_session_with_a_run_and_a_correction_behind_it_replays_to_the_same_labels(tmp_path):
    from engine.media.fingerprint import media_info
    from engine.sessions.record import SegmenterInfo, load_session, session_from_log, write_session
    from engine.sessions.replay import replay_order, replay_session

    import cv2

    folder = tmp_path / "clip"
    folder.mkdir()
    for index, frame in enumerate(moving_square(12)[0]):
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame[:, :, ::-1])
    editor, reported = slow_editor(12, 0.3, folder)
    try:
        editor.click(24, 48)
        editor.apply()
        (job,) = editor.propagation_jobs()
        wait_until(lambda: len(reported) >= 6)
        editor.goto(3)
        editor.edit_label(1, editor.store.get(editor.media_name, 3, 1).shape)
        assert job.join(20)
        editor.take_finished_propagations()
        recorded = sorted(editor.labels(), key=lambda l: (l.frame_index, l.object_id))
        data = session_from_log(editor.log.events, media_info(editor.source), editor.ontology,
                                SegmenterInfo.of(editor.segmenter, editor.quality))
    finally:
        editor.close()
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.index("take_back") < kinds.index("edit") < kinds.index("propagate")  # as they happened
    session = load_session(write_session(tmp_path / "S.json", data))
    order = [session.events[i].kind for i in replay_order(session.events)]
    assert order.index("propagate") < order.index("take_back") < order.index("edit")  # the run where it started
    with Editor(ClassicSegmenter(), quality=0.2) as again:
        report = replay_session(session, folder, again)
        replayed = sorted(again.labels(), key=lambda l: (l.frame_index, l.object_id))
    assert report.skipped == []
    assert [(l.frame_index, l.source, l.confirmed) for l in replayed] == [(l.frame_index, l.source, l.confirmed) for l in recorded]
    assert [l.frame_index for l in recorded] == [0, 1, 2, 3]


def test_apply_with_permanent_drawing_carries_the_object_both_ways_up_to_confirmed_frames():
    editor = Editor(ClassicSegmenter(), quality=0.2)
    editor.open(CountingSource(moving_square(9)[0]))
    try:
        editor.permanent = True  # in the caller's thread (background off)
        editor.toggle_sam()
        editor.goto(4)
        editor.click(24 + 8, 48)
        label = editor.apply()
        assert sorted(l.frame_index for l in editor.labels() if l.object_id == label.object_id) == list(range(9))
        runs = sorted((e.data["direction"], e.data["until"]) for e in editor.log.events if e.kind == "propagate")
        assert runs == [(-1, 0), (1, 8)]
        editor.goto(0)  # on the first frame there is nothing behind: one run, forwards
        editor.click(24, 48)
        second = editor.apply()
        runs = [e for e in editor.log.events if e.kind == "propagate" and second.object_id in e.data["objects"]]
        assert [e.data["direction"] for e in runs] == [1]
    finally:
        editor.close()
