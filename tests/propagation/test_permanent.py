"""`run_propagation`, the propagation run written into a store, called with plain values
(no Editor): labels, review flags, one undo step, and one decode per frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from counting_media import CountingSource, moving_square
from engine.editing.labels import MemoryLabelStore
from engine.errors import EditorStateError
from engine.frames.server import FrameServer
from engine.geometry import mask_iou, mask_to_polygon, polygon_to_mask
from engine.propagation.permanent import CachedFrames, run_propagation
from engine.propagation.propagator import Propagator, default_params
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Label

QUALITY = 0.2
FRAMES = 16  # far beyond the prefetch window below


def _run(until: int = FRAMES - 1, window=(0, 2)):
    frames, masks = moving_square(FRAMES)
    source = CountingSource(frames)
    segmenter = ClassicSegmenter()
    store = MemoryLabelStore([Label(1, 0, "object", mask_to_polygon(masks[0]), media="clip")])
    server = FrameServer(source, segmenter, quality=QUALITY, window=window)
    server.set_cursor(0)
    try:
        result = run_propagation(
            CachedFrames(server.get_frame, len(source)), store, "clip", 0, segmenter, quality=QUALITY,
            embed=lambda frame_index, frame: server.get_embedding(frame_index), group=store.group, until=until,
        )
    finally:
        server.close()
    return result, store, source, frames, masks


def test_a_run_without_an_editor_writes_propagated_labels_and_is_one_undo_step():
    result, store, source, frames, masks = _run(until=8)
    assert (result.first, result.last, result.written, result.cancelled) == (0, 8, 8, False)
    assert result.object_ids == (1,) and result.changes == 8 and not result.flagged
    labels = store.labels("clip")
    assert [label.frame_index for label in labels] == list(range(9))
    for label in labels[1:]:
        assert label.source == "propagated" and not label.confirmed and not label.review
        assert mask_iou(polygon_to_mask(label.shape, *masks[0].shape), masks[label.frame_index]) > 0.85
    history = [store.undo() for _ in range(8)]
    assert {changeset.kind for changeset in history} == {history[0].kind}  # one run: one kind
    assert history[0].kind.startswith("propagate:")
    assert [label.frame_index for label in store.labels("clip")] == [0]


def test_each_frame_is_decoded_once_beyond_the_prefetch_window():
    result, _, source, _, _ = _run(window=(0, 2))
    assert result.last == FRAMES - 1
    assert set(source.decodes) == set(range(FRAMES))
    assert all(count == 1 for count in source.decodes.values()), dict(source.decodes)


def test_the_stored_labels_are_what_the_propagator_gives_on_the_bare_source():
    result, store, _, frames, masks = _run(until=6)
    start = Label(1, 0, "object", mask_to_polygon(masks[0]), media="clip")
    propagator = Propagator(ClassicSegmenter(), replace(default_params("classic"), quality=QUALITY))
    steps = list(propagator.propagate(CountingSource(frames), 0, {1: start}, 1, 6))
    stored = {label.frame_index: label for label in store.labels("clip")}
    for step in steps:
        expected = step.labels[1]
        got = stored[step.frame_index]
        assert got.score == expected.score
        assert len(got.shape.parts) == len(expected.shape.parts)
        for part_a, part_b in zip(got.shape.parts, expected.shape.parts):
            assert all(np.array_equal(a, b) for a, b in zip(part_a, part_b))


def test_plain_values_are_checked():
    frames, masks = moving_square(3)
    store = MemoryLabelStore([Label(1, 0, "object", mask_to_polygon(masks[0]), media="clip")])
    source = CountingSource(frames)
    with pytest.raises(EditorStateError, match="direction"):
        run_propagation(source, store, "clip", 0, None, direction=2)
    with pytest.raises(EditorStateError, match="no label to propagate"):
        run_propagation(source, store, "clip", 0, None, object_ids=[7])
    result = run_propagation(source, store, "clip", 0, None)  # flow only, no group: still written
    assert result.written == 2 and len(store.labels("clip")) == 3
