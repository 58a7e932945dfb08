"""Editing what was applied, and the hand tools, on the real window under Xvfb with real X
input (xdotool): Ctrl+Z on prompts, polygon vertices, boxes, manual polygons and points."""

from __future__ import annotations

import numpy as np
import pytest

from engine.types import Box, Point, Polygon
from tests.ui.gui import BALL_CLICK, close_project_app, focus_window, open_project_app, pump, stored_labels, xdotool


@pytest.fixture
def project_app(screen, tmp_path, ontology_file):
    folder = tmp_path / "project"
    app, project = open_project_app(folder, ontology_file)
    focus_window(app)
    app.folder = folder
    try:
        yield app, project
    finally:
        close_project_app(app, project)


def at_edge(app, x: float, y: float) -> tuple[int, int]:
    """Screen position of frame pixel edge point (x, y)."""
    cx, cy = app.view.viewport.edge_to_canvas(x, y)
    return app.view.winfo_rootx() + int(round(cx)), app.view.winfo_rooty() + int(round(cy))


def at_centre(app, x: float, y: float) -> tuple[int, int]:
    cx, cy = app.view.viewport.frame_to_canvas(x, y)
    return app.view.winfo_rootx() + int(round(cx)), app.view.winfo_rooty() + int(round(cy))


def edge_of(app, screen: tuple[int, int]) -> tuple[float, float]:
    """The frame pixel edge point a screen position maps to (what the window records)."""
    return app.view.viewport.canvas_to_edge(screen[0] - app.view.winfo_rootx(), screen[1] - app.view.winfo_rooty())


def click(app, screen: tuple[int, int], button: int = 1, *extra: str) -> None:
    xdotool(app, "mousemove", "--sync", str(screen[0]), str(screen[1]), *extra, "click", str(button))


def drag(app, start: tuple[int, int], end: tuple[int, int]) -> None:
    middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
    xdotool(app, "mousemove", "--sync", *map(str, start), "mousedown", "1",
            "mousemove", "--sync", *map(str, middle), "mousemove", "--sync", *map(str, end), "mouseup", "1")


def press(app, keys: str) -> None:
    xdotool(app, "key", "--clearmodifiers", keys)


def the_label(project, object_id: int = 1):
    (label,) = [label for label in project.labels() if label.object_id == object_id]
    return label


def ring(project, object_id: int = 1) -> np.ndarray:
    shape = the_label(project, object_id).shape
    assert isinstance(shape, Polygon)
    return shape.parts[0][0]


def canvas_ring(app, object_id: int = 1) -> np.ndarray:
    (item,) = app.view.find_withtag(f"object-{object_id}")
    return np.array(app.view.coords(item)).reshape(-1, 2)


def test_ctrl_z_takes_back_the_last_point_then_undoes_the_last_change(project_app):
    app, project = project_app
    press(app, "shift+a")
    ball = at_centre(app, *BALL_CLICK)
    click(app, ball)
    press(app, "Return")
    assert stored_labels(app.folder) == [(0, 1, "sam")]
    click(app, at_centre(app, 420, 128))
    click(app, at_centre(app, 60, 150), 3)
    assert app.state.point_labels.tolist() == [1, 0]
    press(app, "ctrl+z")  # the exclude point goes, the label stays
    assert app.state.point_labels.tolist() == [1] and app.state.selection is not None
    assert len(app.view.find_withtag("point")) == 1
    assert stored_labels(app.folder) == [(0, 1, "sam")]
    press(app, "ctrl+z")
    assert len(app.state.points) == 0 and app.state.selection is None
    assert not app.view.find_withtag("point")
    assert stored_labels(app.folder) == [(0, 1, "sam")]
    press(app, "ctrl+z")  # no prompt left: the apply is undone
    assert stored_labels(app.folder) == []
    assert not app.view.find_withtag("object-1")
    assert [e.kind for e in project.events()][-3:] == ["unclick", "unclick", "undo"]


def draw_square(app) -> list[tuple[int, int]]:
    corners = [at_edge(app, x, y) for x, y in ((300, 60), (400, 60), (400, 140), (300, 140))]
    for corner in corners:
        click(app, corner)
    assert len(app.view.find_withtag("draft-vertex")) == 4
    press(app, "Return")
    return corners


def test_a_manual_polygon_then_vertex_drag_insert_and_delete(project_app):
    app, project = project_app
    assert not app.state.sam_mode and app.state.class_name == "ball"
    corners = draw_square(app)
    assert stored_labels(app.folder) == [(0, 1, "manual")]
    np.testing.assert_allclose(ring(project), [edge_of(app, c) for c in corners])
    assert not app.view.find_withtag("draft")
    click(app, at_edge(app, 350, 100))  # inside: selects it, handles drawn
    assert app.edit_tools.selected == 1
    assert len(app.view.find_withtag("vertex")) == 4

    target = at_edge(app, 420, 40)
    drag(app, corners[1], target)
    moved = ring(project)
    np.testing.assert_allclose(moved[1], edge_of(app, target))
    np.testing.assert_allclose(moved[[0, 2, 3]], [edge_of(app, corners[k]) for k in (0, 2, 3)])
    label = the_label(project)
    assert label.source == "manual" and label.confirmed
    drawn = canvas_ring(app)
    assert drawn[1].tolist() == pytest.approx([target[0] - app.view.winfo_rootx(), target[1] - app.view.winfo_rooty()], abs=0.51)

    bottom = at_edge(app, 350, 140)
    click(app, bottom, 1, "keydown", "shift")  # Shift+click on an edge inserts a vertex there
    xdotool(app, "keyup", "shift")
    inserted = ring(project)
    assert len(inserted) == 5
    np.testing.assert_allclose(inserted[3], edge_of(app, bottom), atol=1.0)
    assert len(app.view.find_withtag("vertex")) == 5 and len(canvas_ring(app)) == 5

    click(app, at_edge(app, *inserted[3]), 3)  # right-click on a vertex deletes it
    assert len(ring(project)) == 4 and len(app.view.find_withtag("vertex")) == 4

    left = at_edge(app, 300, 100)
    xdotool(app, "mousemove", "--sync", *map(str, left), "click", "--repeat", "2", "--delay", "80", "1")
    assert len(ring(project)) == 5  # double-click on an edge inserts too

    xdotool(app, "mousemove", "--sync", *map(str, at_edge(app, *ring(project)[0])))
    press(app, "Delete")  # Delete on the hovered vertex
    assert len(ring(project)) == 4
    press(app, "ctrl+z")
    assert len(ring(project)) == 5
    kinds = [e.kind for e in project.events()]
    assert kinds.count("edit") == 5 and kinds[-1] == "undo" and "draw" in kinds


def test_a_manual_box_moved_and_resized(project_app):
    app, project = project_app
    press(app, "2")
    assert app.state.class_name == "leaf"
    start, end = at_edge(app, 200, 200), at_edge(app, 280, 260)
    drag(app, start, end)
    box = the_label(project).shape
    assert isinstance(box, Box) and the_label(project).source == "manual"
    assert box.as_list() == pytest.approx([*edge_of(app, start), *edge_of(app, end)])

    grab, drop = at_edge(app, 240, 230), at_edge(app, 260, 240)
    drag(app, grab, drop)  # inside: moves it
    dx, dy = np.subtract(edge_of(app, drop), edge_of(app, grab))
    moved = the_label(project).shape
    assert moved.as_list() == pytest.approx([box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy])
    assert len(app.view.find_withtag("corner")) == 4

    corner = at_edge(app, moved.x1, moved.y1)
    pulled = (corner[0] + 30, corner[1] + 15)
    drag(app, corner, pulled)  # the bottom-right handle resizes it
    resized = the_label(project).shape
    assert resized.as_list() == pytest.approx([moved.x0, moved.y0, *edge_of(app, pulled)])
    (item,) = app.view.find_withtag("object-1")
    x0, y0 = app.view.viewport.edge_to_canvas(resized.x0, resized.y0)
    x1, y1 = app.view.viewport.edge_to_canvas(resized.x1, resized.y1)
    assert app.view.coords(item) == pytest.approx([x0, y0, x1, y1], abs=1e-3)
    press(app, "ctrl+z")
    assert the_label(project).shape == moved
    press(app, "Escape")  # drops the label selection
    assert app.edit_tools.selected is None and not app.view.find_withtag("corner")
    app.sidebar.objects.selection_set("1")  # picked in the objects list: handles again
    pump(app.root, 0.1)
    assert app.edit_tools.selected == 1 and len(app.view.find_withtag("corner")) == 4


def test_a_point_class_labels_points(project_app):
    app, project = project_app
    press(app, "3")
    assert app.state.class_name == "marker"
    spot = at_centre(app, 150, 100)
    click(app, spot)
    label = the_label(project)
    x, y = app.view.viewport.canvas_to_frame(spot[0] - app.view.winfo_rootx(), spot[1] - app.view.winfo_rooty())
    assert isinstance(label.shape, Point) and (label.shape.x, label.shape.y) == pytest.approx((x, y))
    assert label.source == "manual" and label.class_name == "marker"
    (item,) = app.view.find_withtag("object-1")
    cx0, cy0, cx1, cy1 = app.view.coords(item)
    assert ((cx0 + cx1) / 2, (cy0 + cy1) / 2) == pytest.approx(app.view.viewport.frame_to_canvas(x, y), abs=1e-3)
    click(app, at_centre(app, 400, 300))
    assert stored_labels(app.folder) == [(0, 1, "manual"), (0, 2, "manual")]
    target = at_centre(app, 170, 120)
    drag(app, spot, target)  # a keypoint is dragged where it belongs
    moved = the_label(project).shape
    assert (moved.x, moved.y) == pytest.approx(app.view.viewport.canvas_to_frame(
        target[0] - app.view.winfo_rootx(), target[1] - app.view.winfo_rooty()))
    assert len(project.labels()) == 2
