"""Permanent drawing with the sam2 backend, end to end through the Editor: a label drawn on
a frame is carried forwards and backwards by SAM 2's memory propagator, and the labels it
writes carry SAM 2's object presence as their score and review flag."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sam2")

from counting_media import CountingSource, moving_square  # noqa: E402

from engine.editing.editor import Editor  # noqa: E402
from engine.propagation.backends import make_propagator, uses_memory  # noqa: E402
from engine.propagation.sam2_memory import Sam2MemoryPropagator  # noqa: E402
from engine.types import LabelSource, Polygon  # noqa: E402

FRAMES = 6


def square(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon(((np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]),),))


@pytest.fixture(scope="module")
def segmenter():
    from engine.segment.sam2.build import build_random_sam2
    from engine.segment.sam2.segmenter import Sam2Segmenter

    return Sam2Segmenter(build_random_sam2("tiny", image_size=128, seed=0), "random-tiny", device="cpu")


def test_the_factory_gives_sam2_its_memory_propagator(segmenter):
    assert uses_memory(segmenter)
    assert isinstance(make_propagator(segmenter), Sam2MemoryPropagator)


def test_a_drawn_label_is_carried_both_ways_with_presence_scores(segmenter):
    frames, _ = moving_square(FRAMES)
    source = CountingSource(frames)
    # no embedding prefetch: the propagator reads SAM 2's image features itself
    with Editor(segmenter, quality=0.2, frame_server_options={"window": (0, 0)}) as editor:
        editor.open(source)
        editor.goto(2)
        drawn = editor.draw(square(14, 32, 46, 64))
        forwards = editor.propagate(1)
        backwards = editor.propagate(-1)
        labels = {label.frame_index: label for label in editor.labels() if label.object_id == drawn.object_id}
    assert labels[2] == drawn  # the person's label stays as it was
    reached = set(range(forwards.first + 1, forwards.last + 1)) | set(range(backwards.last, 2))
    assert reached and reached == {f for f in labels if f != 2}
    for frame_index in reached:
        label = labels[frame_index]
        assert label.source == LabelSource.PROPAGATED and not label.confirmed
        assert isinstance(label.shape, Polygon)
        if label.score > 0:  # a propagated label: SAM 2's presence, flagged below 0.75
            assert label.score < 1.0 and label.review == (label.score < 0.75)
        else:  # the object was lost there: a review flag with the last shape
            assert label.review
    assert any(0 < labels[f].score < 1 for f in reached)  # SAM 2's presence, not a constant
    assert all(source.decodes[f] == 1 for f in range(FRAMES))  # each frame decoded once


def test_a_fill_between_two_confirmed_frames_is_one_run(segmenter):
    frames, _ = moving_square(FRAMES)
    with Editor(segmenter, quality=0.2, frame_server_options={"window": (0, 0)}) as editor:
        editor.open(CountingSource(frames))
        first = editor.draw(square(8, 32, 40, 64))
        editor.goto(4)
        editor.draw(square(20, 32, 52, 64), object_id=first.object_id)
        editor.goto(0)
        result = editor.propagate(1)
        labels = {label.frame_index: label for label in editor.labels()}
    assert result.last == 3  # the fill stops before the next confirmed frame
    assert labels[4].confirmed and labels[4].source == LabelSource.MANUAL
    assert all(labels[f].source == LabelSource.PROPAGATED for f in (1, 2, 3) if f in labels)
