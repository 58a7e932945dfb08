"""Where the frame sits on the canvas: fit, zoom about a point, pan, coordinate mapping.

Pure geometry, no Tk: a canvas point (cx, cy) maps to frame pixel-edge coordinates
``x = (cx - offset_x) / scale`` (`canvas_to_edge`). Frame pixel centres are at integer +
0.5 in edge coordinates; the conventions are those of `engine.types`: points (clicks) are
pixel centres, 0 at the centre of the first pixel, so ``canvas_to_frame`` subtracts 0.5;
boxes and polygons are pixel edges, so box corners come from `canvas_to_edge` (a drag from
the top-left corner of pixel a to the bottom-right corner of pixel b is the box [a, b + 1))
and are drawn back with `edge_to_canvas` where the drag was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIN_SCALE = 0.05
MAX_SCALE = 32.0


@dataclass(frozen=True)
class Viewport:
    """The frame's placement on a canvas.

    frame_size: (width, height) of the frame in pixels.
    canvas_size: (width, height) of the canvas in screen pixels.
    scale: screen pixels per frame pixel.
    offset: canvas position (x, y) of the frame's top-left edge.
    """

    frame_size: tuple[int, int]
    canvas_size: tuple[int, int]
    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def fit(cls, frame_size: tuple[int, int], canvas_size: tuple[int, int]) -> Viewport:
        """The whole frame, as large as fits, centred."""
        fw, fh = frame_size
        cw, ch = max(1, canvas_size[0]), max(1, canvas_size[1])
        scale = min(cw / fw, ch / fh)
        return cls(frame_size, (cw, ch), scale, ((cw - fw * scale) / 2, (ch - fh * scale) / 2))

    def resized(self, canvas_size: tuple[int, int]) -> Viewport:
        return Viewport.fit(self.frame_size, canvas_size)

    def canvas_to_frame(self, cx: float, cy: float) -> tuple[float, float]:
        """Canvas point -> frame pixel-centre coordinates (what the Editor takes)."""
        return ((cx - self.offset[0]) / self.scale - 0.5, (cy - self.offset[1]) / self.scale - 0.5)

    def frame_to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Frame pixel-centre coordinates -> canvas point."""
        return ((x + 0.5) * self.scale + self.offset[0], (y + 0.5) * self.scale + self.offset[1])

    def edge_to_canvas(self, x: float, y: float) -> tuple[float, float]:
        """Frame pixel-edge coordinates (polygons, boxes) -> canvas point."""
        return (x * self.scale + self.offset[0], y * self.scale + self.offset[1])

    def canvas_to_edge(self, cx: float, cy: float) -> tuple[float, float]:
        """Canvas point -> frame pixel-edge coordinates (box corners); the inverse of `edge_to_canvas`."""
        return ((cx - self.offset[0]) / self.scale, (cy - self.offset[1]) / self.scale)

    def drag_box(self, press: tuple[float, float], release: tuple[float, float]) -> tuple[float, float, float, float]:
        """The box a drag from canvas point ``press`` to ``release`` outlines: its corners
        (in drag order) in frame pixel edges, clamped to the frame's edges [0, W] × [0, H]."""
        width, height = self.frame_size
        corners = [self.canvas_to_edge(*press), self.canvas_to_edge(*release)]
        (x0, y0), (x1, y1) = [(min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in corners]
        return (x0, y0, x1, y1)

    def contains(self, cx: float, cy: float) -> bool:
        x, y = self.canvas_to_frame(cx, cy)
        return -0.5 <= x < self.frame_size[0] - 0.5 and -0.5 <= y < self.frame_size[1] - 0.5

    def zoom_at(self, cx: float, cy: float, factor: float) -> Viewport:
        """Zoom by ``factor`` keeping the frame point under canvas (cx, cy) in place."""
        scale = min(max(self.scale * factor, MIN_SCALE), MAX_SCALE)
        k = scale / self.scale
        ox = cx - (cx - self.offset[0]) * k
        oy = cy - (cy - self.offset[1]) * k
        return replace(self, scale=scale, offset=(ox, oy))

    def panned(self, dx: float, dy: float) -> Viewport:
        return replace(self, offset=(self.offset[0] + dx, self.offset[1] + dy))

    def visible_region(self) -> tuple[int, int, int, int] | None:
        """The frame pixels shown on the canvas as (x0, y0, x1, y1), edges exclusive; None if off-canvas."""
        fw, fh = self.frame_size
        cw, ch = self.canvas_size
        x0 = max(0, int((0 - self.offset[0]) / self.scale))
        y0 = max(0, int((0 - self.offset[1]) / self.scale))
        x1 = min(fw, int((cw - self.offset[0]) / self.scale) + 1)
        y1 = min(fh, int((ch - self.offset[1]) / self.scale) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        return (x0, y0, x1, y1)
