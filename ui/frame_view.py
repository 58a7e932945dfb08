"""The frame canvas: shows the frame with the selection in blue, prompts and labels; turns
mouse gestures into frame-pixel prompts.

Gestures: left click = include point, right click = exclude point, left drag = box,
wheel = zoom about the pointer, middle drag or space + left drag = pan. A `tool`
(`ui.edit_tools.EditTools`) sees left and right presses first and takes those that edit a
label or draw one by hand.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.preview.overlay import SELECTION_RGB
from engine.types import Box, Point, Shape
from ui.colours import draw_label_tag
from ui.state import ViewState
from ui.viewport import Viewport

if TYPE_CHECKING:
    from ui.edit_tools import EditTools

DRAG_THRESHOLD = 5  # screen pixels before a press becomes a box drag
SELECTION_ALPHA = 0.5
INCLUDE = "#28c83c"
EXCLUDE = "#e62828"
BOX = "#1e78ff"


def compose(frame: np.ndarray, selection: np.ndarray | None, viewport: Viewport) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The visible part of the frame scaled for the screen, selection tinted blue.

    frame: H×W×3 uint8 RGB; selection: H×W bool or None.
    Returns (h×w×3 uint8 image, (canvas x, canvas y) of its top-left), or None when off-canvas.
    """
    region = viewport.visible_region()
    if region is None:
        return None
    x0, y0, x1, y1 = region
    crop = frame[y0:y1, x0:x1]
    out_w = max(1, int(round((x1 - x0) * viewport.scale)))
    out_h = max(1, int(round((y1 - y0) * viewport.scale)))
    interpolation = cv2.INTER_AREA if viewport.scale < 1 else cv2.INTER_NEAREST if viewport.scale > 2 else cv2.INTER_LINEAR
    image = cv2.resize(crop, (out_w, out_h), interpolation=interpolation)
    if selection is not None:
        mask = cv2.resize(selection[y0:y1, x0:x1].view(np.uint8), (out_w, out_h), interpolation=cv2.INTER_NEAREST) > 0
        if mask.any():
            tint = np.array(SELECTION_RGB, np.float32) * SELECTION_ALPHA
            image[mask] = (image[mask].astype(np.float32) * (1 - SELECTION_ALPHA) + tint).astype(np.uint8)
    left, top = viewport.edge_to_canvas(x0, y0)
    return image, (int(round(left)), int(round(top)))


def to_photo_data(image: np.ndarray) -> bytes:
    """H×W×3 uint8 RGB -> binary PPM that `tk.PhotoImage(data=...)` reads without PIL."""
    height, width = image.shape[:2]
    return b"P6 %d %d 255\n" % (width, height) + np.ascontiguousarray(image).tobytes()


class FrameView(tk.Canvas):
    """A canvas that draws `ViewState`s and reports prompts in frame pixels.

    on_point(x, y, positive) receives frame pixel-centre coordinates, on_box(x0, y0, x1, y1)
    frame pixel-edge coordinates (the conventions of `engine.types`).
    """

    def __init__(
        self,
        master,
        on_point: Callable[[float, float, bool], None],
        on_box: Callable[[float, float, float, float], None],
        **options,
    ) -> None:
        super().__init__(master, background="#202020", highlightthickness=0, **options)
        self.on_point = on_point
        self.on_box = on_box
        self.state: ViewState | None = None
        self.viewport: Viewport | None = None
        self.hidden_objects: set[int] = set()
        self._photo = tk.PhotoImage(master=self)
        self._image_item = self.create_image(0, 0, anchor="nw", image=self._photo, tags=("frame",))
        self._press: tuple[int, int] | None = None
        self._dragging = False
        self._pan_from: tuple[int, int] | None = None
        self._space = False
        self.tool: EditTools | None = None  # sees a left/right press before the prompts do
        self._tool_drag = False
        self.bind("<Configure>", self._on_resize)
        self.bind("<ButtonPress-1>", self._on_press)
        self.bind("<B1-Motion>", self._on_motion)
        self.bind("<ButtonRelease-1>", self._on_release)
        self.bind("<ButtonRelease-3>", self._on_right)
        self.bind("<ButtonPress-2>", self._on_pan_start)
        self.bind("<B2-Motion>", self._on_pan_move)
        self.bind("<MouseWheel>", lambda e: self.zoom(e.x, e.y, 1.2 if e.delta > 0 else 1 / 1.2))
        self.bind("<Button-4>", lambda e: self.zoom(e.x, e.y, 1.2))
        self.bind("<Button-5>", lambda e: self.zoom(e.x, e.y, 1 / 1.2))
        self.bind("<KeyPress-space>", lambda e: self._set_space(True))
        self.bind("<KeyRelease-space>", lambda e: self._set_space(False))
        self.bind("<Enter>", lambda e: self.focus_set())

    # -- drawing ------------------------------------------------------------------

    def show(self, state: ViewState) -> None:
        size = (state.frame.shape[1], state.frame.shape[0])
        if self.viewport is None or self.viewport.frame_size != size:
            self.viewport = Viewport.fit(size, self._canvas_size())
        self.state = state
        self.redraw()

    def redraw(self) -> None:
        self.delete("overlay")
        if self.state is None or self.viewport is None:
            return
        state, view = self.state, self.viewport
        composed = compose(state.frame, state.selection, view)
        if composed is None:
            self.itemconfigure(self._image_item, state="hidden")
        else:
            image, (left, top) = composed
            self._photo.configure(data=to_photo_data(image), format="PPM")
            self.coords(self._image_item, left, top)
            self.itemconfigure(self._image_item, state="normal")
        for label, colour in state.labels:
            if label.object_id in self.hidden_objects:
                continue
            self._draw_shape(view, label.shape, colour, f"object-{label.object_id}")
            draw_label_tag(self, view, label, colour, state.names.get(label.object_id))
        if state.box is not None:
            x0, y0 = view.edge_to_canvas(state.box[0], state.box[1])
            x1, y1 = view.edge_to_canvas(state.box[2], state.box[3])
            self.create_rectangle(x0, y0, x1, y1, outline=BOX, width=2, dash=(6, 3), tags=("overlay", "prompt-box"))
        for (x, y), positive in zip(state.points, state.point_labels):
            cx, cy = view.frame_to_canvas(float(x), float(y))
            fill = INCLUDE if positive else EXCLUDE
            self.create_oval(cx - 5, cy - 5, cx + 5, cy + 5, fill=fill, outline="white", width=1.5, tags=("overlay", "point"))
        if self.tool is not None:
            self.tool.draw(view)

    def _draw_shape(self, view: Viewport, shape: Shape, colour: str, tag: str) -> None:
        if isinstance(shape, Point):  # a keypoint: a ring at its pixel centre
            cx, cy = view.frame_to_canvas(shape.x, shape.y)
            self.create_oval(cx - 4, cy - 4, cx + 4, cy + 4, outline=colour, width=2, tags=("overlay", "label", tag))
            return
        if isinstance(shape, Box):
            x0, y0 = view.edge_to_canvas(shape.x0, shape.y0)
            x1, y1 = view.edge_to_canvas(shape.x1, shape.y1)
            self.create_rectangle(x0, y0, x1, y1, outline=colour, width=2, tags=("overlay", "label", tag))
            return
        for part in shape.parts:
            for ring in part:
                coords = (ring * view.scale + np.array(view.offset)).ravel().tolist()
                if len(coords) >= 6:
                    self.create_polygon(coords, outline=colour, fill="", width=2, tags=("overlay", "label", tag))

    # -- view changes ---------------------------------------------------------------

    def _canvas_size(self) -> tuple[int, int]:
        return (max(1, self.winfo_width()), max(1, self.winfo_height()))

    def _on_resize(self, event) -> None:
        if self.viewport is not None:
            self.viewport = self.viewport.resized((event.width, event.height))
            self.redraw()

    def fit(self) -> None:
        if self.viewport is not None:
            self.viewport = self.viewport.resized(self._canvas_size())
            self.redraw()

    def zoom(self, cx: float, cy: float, factor: float) -> None:
        if self.viewport is not None:
            self.viewport = self.viewport.zoom_at(cx, cy, factor)
            self.redraw()

    def _set_space(self, down: bool) -> None:
        self._space = down

    def _on_pan_start(self, event) -> None:
        self._pan_from = (event.x, event.y)

    def _on_pan_move(self, event) -> None:
        if self._pan_from is not None and self.viewport is not None:
            dx, dy = event.x - self._pan_from[0], event.y - self._pan_from[1]
            self._pan_from = (event.x, event.y)
            self.viewport = self.viewport.panned(dx, dy)
            self.redraw()

    # -- prompts --------------------------------------------------------------------

    def _on_press(self, event) -> None:
        self.focus_set()
        if self._space:
            self._on_pan_start(event)
            return
        if self.tool is not None and self.tool.press(event):
            self._press, self._tool_drag = None, True
            return
        self._press = (event.x, event.y)
        self._dragging = False

    def _on_motion(self, event) -> None:
        if self._space:
            self._on_pan_move(event)
            return
        if self._tool_drag and self.tool is not None:
            self.tool.motion(event)
            return
        if self._press is None:
            return
        if not self._dragging and max(abs(event.x - self._press[0]), abs(event.y - self._press[1])) >= DRAG_THRESHOLD:
            self._dragging = True
        if self._dragging:
            self.delete("rubber")
            self.create_rectangle(*self._press, event.x, event.y, outline=BOX, width=2, tags=("rubber",))

    def _on_release(self, event) -> None:
        if self._tool_drag and self.tool is not None:
            self._tool_drag = False
            self.tool.release(event)
            return
        if self._space or self._press is None or self.viewport is None:
            self._press = None
            self._pan_from = None
            return
        press, self._press = self._press, None
        self.delete("rubber")
        view = self.viewport
        if self._dragging:  # box corners are pixel edges: drawn back where the rubber band was
            self.on_box(*view.drag_box(press, (event.x, event.y)))
        elif view.contains(event.x, event.y):
            self.on_point(*view.canvas_to_frame(event.x, event.y), True)

    def _on_right(self, event) -> None:
        if self.tool is not None and self.tool.right(event):
            return
        if self.viewport is not None and self.viewport.contains(event.x, event.y):
            self.on_point(*self.viewport.canvas_to_frame(event.x, event.y), False)
