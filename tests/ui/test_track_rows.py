"""The track panel's rows without a window: read once, then only the frames that changed."""

from __future__ import annotations

from dataclasses import replace

from engine.editing.editor import Editor
from engine.segment.classic.segmenter import ClassicSegmenter
from tests.ui.gui import BALL_CLICK, SAMPLES, ontology
from ui.marks import MarkTracker
from ui.track_panel import read_tracks
from ui.track_rows import TrackReader, row_runs


def test_row_runs_are_the_runs_of_one_kind():
    import numpy as np

    codes = np.array([0, 3, 1, 1, 0, 4, 1, 1], np.uint8)
    assert row_runs(codes) == [(1, 1, "confirmed"), (2, 3, "propagated"), (5, 5, "flagged"), (6, 7, "propagated")]
    assert row_runs(np.zeros(5, np.uint8)) == []


def test_the_reader_rereads_only_touched_frames_and_agrees_with_a_full_read():
    with Editor(ClassicSegmenter(), ontology()) as editor:
        editor.open(SAMPLES / "video.mp4")
        tracker = MarkTracker(editor)
        reader = TrackReader(tracker.follow())
        assert reader.read(editor) == ({}, {}) and reader.rows_read == 0
        editor.toggle_sam()
        editor.click(*BALL_CLICK)
        label = editor.apply()  # an event: its frame is touched
        tracks, _ = reader.read(editor)
        assert tracks == {label.object_id: [(0, 0, "confirmed")]} and reader.rows_read == 1
        for frame in range(1, 6):  # behind the Editor's back, as a background run writes
            editor.store.put(replace(label, frame_index=frame, source="propagated", confirmed=False, review=frame == 4))
        other = replace(label, object_id=label.object_id + 1, frame_index=20)
        editor.store.put(other)
        assert reader.read(editor)[0] == tracks  # not touched yet: nothing re-read
        tracker.touch([1, 2, 3, 4, 5, 20])
        tracks, _ = reader.read(editor)
        assert tracks[label.object_id] == [(0, 0, "confirmed"), (1, 3, "propagated"), (4, 4, "flagged"),
                                           (5, 5, "propagated")]
        assert tracks[other.object_id] == [(20, 20, "confirmed")]
        assert reader.rows_read == 1 + 6  # the touched frames only
        assert tracks == read_tracks(editor)[0]
        kept = tracks[label.object_id]
        editor.undo()  # the last put (the other object): gone from its row
        tracks, _ = reader.read(editor)
        assert other.object_id not in tracks and tracks == read_tracks(editor)[0]
        assert tracks[label.object_id] is kept  # an object whose frames were not touched keeps its very list
        tracker.touch(None)  # everything again
        assert reader.read(editor)[0] == read_tracks(editor)[0]
