"""The pure canvas <-> frame mapping of the label editor (no Tk): points are pixel
centres, box corners pixel edges (engine.types), so a drawn box sits where it was dragged."""

from __future__ import annotations

import numpy as np
import pytest
from counting_media import CountingSource

from engine.editing.editor import Editor
from engine.segment.classic.segmenter import ClassicSegmenter
from ui.viewport import Viewport


def test_a_drag_from_pixel_corner_to_pixel_corner_is_the_edge_box_of_those_pixels():
    view = Viewport(frame_size=(100, 80), canvas_size=(400, 320), scale=4.0, offset=(0.0, 0.0))
    # top-left corner of pixel (10, 20) to bottom-right corner of pixel (29, 39)
    assert view.drag_box((40, 80), (120, 160)) == (10.0, 20.0, 30.0, 40.0)
    assert view.drag_box((120, 160), (40, 80)) == (30.0, 40.0, 10.0, 20.0)  # drag order kept
    assert view.drag_box((-50, -9), (999, 999)) == (0.0, 0.0, 100.0, 80.0)  # clamped to the frame's edges
    # a click inside pixel (10, 20) is that pixel's centre
    assert view.canvas_to_frame(42, 82) == (10.0, 20.0)


@pytest.mark.parametrize("scale, offset", [(4.0, (0.0, 0.0)), (1.37, (12.5, -3.25)), (0.6, (40.0, 7.0))])
def test_box_corners_go_back_to_the_canvas_points_they_came_from(scale, offset):
    view = Viewport(frame_size=(640, 360), canvas_size=(800, 500), scale=scale, offset=offset)
    for cx, cy in [(50, 60), (333, 127), (101, 299)]:
        x, y = view.canvas_to_edge(cx, cy)
        assert view.edge_to_canvas(x, y) == pytest.approx((cx, cy))
        # the pixel-centre mapping of the same point is half a pixel up and left
        assert view.canvas_to_frame(cx, cy) == pytest.approx((x - 0.5, y - 0.5))


def test_a_dragged_box_reaches_the_editor_as_the_edges_of_the_pixels_it_covers():
    frame = np.full((80, 100, 3), 90, np.uint8)
    frame[20:40, 10:30] = (220, 120, 40)
    editor = Editor(ClassicSegmenter(), quality=1.0)
    editor.open(CountingSource([frame]))
    editor.toggle_sam()
    editor.set_class("box")
    view = Viewport.fit((100, 80), (400, 320))
    press, release = view.edge_to_canvas(10, 20), view.edge_to_canvas(30, 40)
    editor.drag_box(*view.drag_box(press, release))
    assert editor.selection.box == pytest.approx((10.0, 20.0, 30.0, 40.0))
    editor.close()
