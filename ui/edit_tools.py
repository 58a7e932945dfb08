"""Editing applied labels and drawing labels by hand on the frame canvas.

`EditTools` is the `FrameView`'s tool: it sees a press before the SAM gestures do and
claims it when it is an edit. Any mode: drag a vertex or corner handle of the selected
label; Shift+click (or double-click) on an edge of a selected polygon inserts a vertex;
right-click or Delete on a vertex deletes it; drag inside a selected label moves it.
With SAM off (or a class SAM does not serve): click inside a label selects it; elsewhere
the class's tool draws — polygon (click vertices, Enter or double-click closes), box
(drag), point (click). Every finished gesture is one Editor call (`Editor.edit_label`,
`Editor.draw`), run on the editor thread, so it is undoable and in the session log.
"""

from __future__ import annotations

import tkinter as tk
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from engine.editing.shape_edit import (
    VertexRef,
    box_corners,
    box_from_corners,
    delete_vertex,
    insert_vertex,
    label_at,
    move_vertex,
    nearest_corner,
    nearest_edge,
    nearest_vertex,
    polygon_from_points,
    resize_box,
    shape_contains,
    translate,
)
from engine.errors import EditorStateError
from engine.types import Box, Label, Point, Polygon, Shape, ShapeType

if TYPE_CHECKING:
    from ui.app import App
    from ui.viewport import Viewport

HANDLE_PX = 7  # screen pixels around a vertex or corner that grab it
DRAG_PX = 3  # screen pixels before a press on a handle becomes a drag
HANDLE = "#ffffff"
HOVER = "#ffd400"
DRAFT = "#ffd400"


class DragKind(Enum):
    VERTEX = "vertex"
    CORNER = "corner"
    MOVE = "move"
    NEW_BOX = "new box"
    DRAFT_CLICK = "draft click"  # a click that adds a polygon vertex or a point
    NONE = "none"  # a press that selected or deselected: nothing on release


@dataclass
class Drag:
    kind: DragKind
    press: tuple[float, float]  # canvas
    label: Label | None = None
    vertex: VertexRef | None = None
    corner: int | None = None
    moved: bool = False
    shape: Shape | None = None  # the shape as dragged so far


class EditTools:
    """The canvas tool of one `App` (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.view = app.view
        self.selected: int | None = None  # object id of the label being edited
        self.draft: list[tuple[float, float]] = []  # manual polygon vertices (pixel edges)
        self.hover: VertexRef | None = None
        self.drag: Drag | None = None
        self._frame: int | None = None
        self.view.tool = self
        self.view.bind("<Double-Button-1>", self._on_double, add="+")
        self.view.bind("<Motion>", self._on_hover, add="+")
        self.view.bind("<Delete>", self._on_delete_key, add="+")
        app.sidebar.objects.bind("<<TreeviewSelect>>", self._on_list_select, add="+")

    # -- what is shown -------------------------------------------------------------

    @property
    def manual(self) -> bool:
        """The class's own tool draws (SAM mode off, or a class SAM does not serve)."""
        state = self.app.state
        return state is not None and not (state.sam_mode and state.sam_capable)

    @property
    def class_shape(self) -> ShapeType | None:
        state = self.app.state
        if state is None or state.class_name not in self.app.editor.ontology:
            return None
        return ShapeType(self.app.editor.ontology[state.class_name].shape)

    def selected_label(self) -> Label | None:
        state = self.app.state
        if state is None or self.selected is None or self.selected in self.view.hidden_objects:
            return None
        return next((label for label, _ in state.labels if label.object_id == self.selected), None)

    def select(self, object_id: int | None) -> None:
        self.selected = object_id
        self.hover = None
        self.view.redraw()

    def draw(self, view: Viewport) -> None:
        """Called at the end of every `FrameView.redraw`: handles and the draft."""
        state = self.app.state
        if state is not None and state.frame_index != self._frame:
            self._frame = state.frame_index
            self.draft, self.selected, self.hover, self.drag = [], None, None, None
        if self.selected is not None and self.selected_label() is None:
            self.selected, self.hover = None, None
        self._draw_edit(view)

    def _draw_edit(self, view: Viewport) -> None:
        self.view.delete("edit")
        label = self.selected_label()
        shape = self.drag.shape if self.drag is not None and self.drag.shape is not None else None
        if label is not None:
            shown = shape if shape is not None and self.drag is not None and self.drag.label is label else label.shape
            if shown is not label.shape:
                self._outline(view, shown)
            self._handles(view, shown)
        if self.drag is not None and self.drag.kind == DragKind.NEW_BOX and shape is not None:
            self._outline(view, shape)
        if self.draft:
            coords = [c for x, y in self.draft for c in view.edge_to_canvas(x, y)]
            if len(coords) >= 4:
                self.view.create_line(*coords, fill=DRAFT, width=2, dash=(4, 2), tags=("overlay", "edit", "draft"))
            for x, y in self.draft:
                cx, cy = view.edge_to_canvas(x, y)
                self.view.create_oval(cx - 3, cy - 3, cx + 3, cy + 3, fill=DRAFT, outline="",
                                      tags=("overlay", "edit", "draft-vertex"))

    def _outline(self, view: Viewport, shape: Shape) -> None:
        if isinstance(shape, Box):
            x0, y0 = view.edge_to_canvas(shape.x0, shape.y0)
            x1, y1 = view.edge_to_canvas(shape.x1, shape.y1)
            self.view.create_rectangle(x0, y0, x1, y1, outline=DRAFT, dash=(4, 2), width=2, tags=("overlay", "edit", "preview"))
        elif isinstance(shape, Polygon):
            for part in shape.parts:
                for ring in part:
                    coords = [c for x, y in ring for c in view.edge_to_canvas(float(x), float(y))]
                    self.view.create_polygon(coords, outline=DRAFT, fill="", dash=(4, 2), width=2,
                                             tags=("overlay", "edit", "preview"))

    def _handles(self, view: Viewport, shape: Shape) -> None:
        r = 4
        if isinstance(shape, Box):
            for k, (x, y) in enumerate(box_corners(shape)):
                cx, cy = view.edge_to_canvas(x, y)
                self.view.create_rectangle(cx - r, cy - r, cx + r, cy + r, outline="black", fill=HANDLE,
                                           tags=("overlay", "edit", "handle", "corner", f"corner-{k}"))
        elif isinstance(shape, Polygon):
            for p, part in enumerate(shape.parts):
                for q, ring in enumerate(part):
                    for k, (x, y) in enumerate(ring):
                        cx, cy = view.edge_to_canvas(float(x), float(y))
                        fill = HOVER if self.hover == VertexRef(p, q, k) else HANDLE
                        self.view.create_rectangle(cx - r, cy - r, cx + r, cy + r, outline="black", fill=fill,
                                                   tags=("overlay", "edit", "handle", "vertex"))
        elif isinstance(shape, Point):
            cx, cy = view.frame_to_canvas(shape.x, shape.y)
            self.view.create_rectangle(cx - r, cy - r, cx + r, cy + r, outline="black", fill=HANDLE,
                                       tags=("overlay", "edit", "handle"))

    # -- gestures (called by FrameView) ----------------------------------------------

    def _radius(self) -> float:
        view = self.view.viewport
        return HANDLE_PX / view.scale if view is not None else HANDLE_PX

    def _frame_size(self) -> tuple[int, int]:
        view = self.view.viewport
        return view.frame_size if view is not None else (1, 1)

    def press(self, event: tk.Event) -> bool:
        """A left press: True when the tool takes the gesture (the SAM prompts then see nothing)."""
        view = self.view.viewport
        state = self.app.state
        if view is None or state is None:
            return False
        x, y = view.canvas_to_edge(event.x, event.y)
        press = (float(event.x), float(event.y))
        radius = self._radius()
        label = self.selected_label()
        shift = bool(int(event.state) & 0x1)
        if label is not None:
            drag = self._press_selected(label, x, y, radius, press, shift, self.manual)
            if drag is not None:
                self.drag = drag
                return True
        if not self.manual:
            return False
        hit = label_at(self._labels(), x, y, radius)
        if self.draft or (self.class_shape == ShapeType.POLYGON and self.selected is None and hit is None):
            self.drag = Drag(DragKind.DRAFT_CLICK, press)
            return True
        if hit is not None:
            self.select(hit.object_id)
            self.drag = Drag(DragKind.MOVE, press, label=hit)  # press and drag moves it at once
            return True
        if self.selected is not None:
            self.select(None)
            self.drag = Drag(DragKind.NONE, press)
            return True
        if self.class_shape == ShapeType.BOUNDING_BOX:
            self.drag = Drag(DragKind.NEW_BOX, press)
        elif self.class_shape == ShapeType.POINT:
            self.drag = Drag(DragKind.DRAFT_CLICK, press)
        else:
            self.app.status.set(f"class {state.class_name!r}: no hand tool for {self.class_shape} shapes yet")
            self.drag = Drag(DragKind.NONE, press)
        return True

    def _labels(self) -> list[Label]:
        state = self.app.state
        hidden = self.view.hidden_objects
        return [] if state is None else [label for label, _ in state.labels if label.object_id not in hidden]

    def _press_selected(self, label: Label, x: float, y: float, radius: float, press: tuple[float, float],
                        shift: bool, manual: bool) -> Drag | None:
        """The gesture a press on or in the selected label starts (handles in any mode; a
        move from inside only with SAM off, where a click inside is no SAM prompt)."""
        shape = label.shape
        if isinstance(shape, Box):
            corner = nearest_corner(shape, x, y, radius)
            if corner is not None:
                return Drag(DragKind.CORNER, press, label=label, corner=corner)
            return Drag(DragKind.MOVE, press, label=label) if manual and shape_contains(shape, x, y) else None
        if isinstance(shape, Polygon):
            vertex = nearest_vertex(shape, x, y, radius)
            if vertex is not None:
                return Drag(DragKind.VERTEX, press, label=label, vertex=vertex)
            edge = nearest_edge(shape, x, y, radius)
            if edge is not None and shift:
                self._commit(label, insert_vertex(shape, edge[0], *edge[1]))
                return Drag(DragKind.NONE, press)
            if manual and (edge is not None or shape_contains(shape, x, y)):
                return Drag(DragKind.MOVE, press, label=label)
            return None
        if manual and shape_contains(shape, x - 0.5, y - 0.5, radius):  # a point: centres
            return Drag(DragKind.MOVE, press, label=label)
        return None

    def motion(self, event: tk.Event) -> None:
        drag, view = self.drag, self.view.viewport
        if drag is None or view is None:
            return
        if not drag.moved and max(abs(event.x - drag.press[0]), abs(event.y - drag.press[1])) < DRAG_PX:
            return
        drag.moved = True
        x, y = view.canvas_to_edge(event.x, event.y)
        px, py = view.canvas_to_edge(*drag.press)
        shape = drag.label.shape if drag.label is not None else None
        width, height = self._frame_size()
        if drag.kind == DragKind.VERTEX and isinstance(shape, Polygon) and drag.vertex is not None:
            drag.shape = move_vertex(shape, drag.vertex, x, y)
        elif drag.kind == DragKind.CORNER and isinstance(shape, Box) and drag.corner is not None:
            drag.shape = resize_box(shape, drag.corner, x, y)
        elif drag.kind == DragKind.MOVE and shape is not None:
            drag.shape = translate(shape, x - px, y - py, width, height)
        elif drag.kind == DragKind.NEW_BOX:
            drag.shape = box_from_corners(*view.drag_box(drag.press, (event.x, event.y)))
        self._draw_edit(view)

    def release(self, event: tk.Event) -> None:
        drag, view = self.drag, self.view.viewport
        self.drag = None
        if drag is None or view is None:
            return
        if drag.kind == DragKind.DRAFT_CLICK:
            self._click(view, event)
        elif drag.kind == DragKind.NEW_BOX and drag.moved:
            box = box_from_corners(*view.drag_box(drag.press, (event.x, event.y)))
            self._draw_label(box)
        elif drag.moved and drag.label is not None and drag.shape is not None:
            self._commit(drag.label, drag.shape)
        self._draw_edit(view)

    def _click(self, view: Viewport, event: tk.Event) -> None:
        if not view.contains(event.x, event.y):
            return
        if self.class_shape == ShapeType.POINT and not self.draft:
            self._draw_label(Point(*view.canvas_to_frame(event.x, event.y)))
            return
        self.draft.append(view.canvas_to_edge(event.x, event.y))
        self.app.status.set(f"polygon: {len(self.draft)} vertices · Enter or double-click closes, "
                            "Ctrl+Z takes one back, Esc drops it")

    def right(self, event: tk.Event) -> bool:
        """A right click: deletes the vertex under it on a selected polygon."""
        view, label = self.view.viewport, self.selected_label()
        if view is not None and label is not None and isinstance(label.shape, Polygon):
            x, y = view.canvas_to_edge(event.x, event.y)
            vertex = nearest_vertex(label.shape, x, y, self._radius())
            if vertex is not None:
                self._delete_vertex(label, vertex)
                return True
        return self.manual and (bool(self.draft) or label is not None)

    def _on_double(self, event: tk.Event) -> str | None:
        if self.draft:
            self.close_draft()
            return "break"
        view, label = self.view.viewport, self.selected_label()
        if view is not None and label is not None and isinstance(label.shape, Polygon):
            x, y = view.canvas_to_edge(event.x, event.y)
            if nearest_vertex(label.shape, x, y, self._radius()) is None:
                edge = nearest_edge(label.shape, x, y, self._radius())
                if edge is not None:
                    self._commit(label, insert_vertex(label.shape, edge[0], *edge[1]))
                    return "break"
        return None

    def _on_hover(self, event: tk.Event) -> None:
        view, label = self.view.viewport, self.selected_label()
        hover = None
        if view is not None and label is not None and isinstance(label.shape, Polygon):
            hover = nearest_vertex(label.shape, *view.canvas_to_edge(event.x, event.y), self._radius())
        if hover != self.hover:
            self.hover = hover
            if view is not None:
                self._draw_edit(view)

    def _on_delete_key(self, event: tk.Event) -> str | None:
        label = self.selected_label()
        if label is not None and self.hover is not None and isinstance(label.shape, Polygon):
            self._delete_vertex(label, self.hover)
            return "break"
        return None

    def _on_list_select(self, event: tk.Event) -> None:
        chosen = self.app.sidebar.objects.selection()
        if len(chosen) == 1 and str(chosen[0]).isdigit():
            object_id = int(chosen[0])
            if any(label.object_id == object_id for label in self._labels()):
                if object_id != self.selected:
                    self.select(object_id)

    # -- keys the window routes here --------------------------------------------------

    def take_back(self) -> bool:
        """Ctrl+Z: drop the draft's last vertex; False when there is no draft."""
        if not self.draft:
            return False
        self.draft.pop()
        self.view.redraw()
        return True

    def close_draft(self) -> bool:
        """Enter: close the draft polygon (3 vertices at least); False when there is none."""
        if not self.draft:
            return False
        if len(self.draft) < 3:
            self.app.status.set("a polygon needs at least 3 vertices")
            return True
        polygon = polygon_from_points(self.draft)
        self.draft = []
        self._draw_label(polygon)
        return True

    def cancel(self) -> bool:
        """Esc: drop the draft or the label selection; False when there was neither."""
        if not self.draft and self.selected is None:
            return False
        self.draft, self.selected, self.hover = [], None, None
        self.view.redraw()
        return True

    # -- Editor calls -------------------------------------------------------------------

    def _commit(self, label: Label, shape: Shape) -> None:
        object_id, frame = label.object_id, label.frame_index
        self.app.run(lambda: self.app.editor.edit_label(object_id, shape, frame))

    def _delete_vertex(self, label: Label, vertex: VertexRef) -> None:
        assert isinstance(label.shape, Polygon)
        try:
            shape = delete_vertex(label.shape, vertex)
        except EditorStateError as exc:  # a ring at 3 vertices: said on the status line
            self.app.status.set(str(exc))
            return
        self.hover = None
        self._commit(label, shape)

    def _draw_label(self, shape: Shape) -> None:
        self.app.run(lambda: self.app.editor.draw(shape))
