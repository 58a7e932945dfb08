"""Optical flow for propagation: dense DIS flow, mask warping and sparse point tracking.

Pure functions over numpy arrays; OpenCV is imported inside them.

Conventions:
- grey frames are H×W ``uint8`` (`to_grey` makes them from H×W×3 uint8 RGB frames);
- a flow field is H×W×2 ``float32``, ``flow[y, x] = (dx, dy)`` in frame pixels;
- the *backward* flow of a step t → t+1 maps each pixel of frame t+1 to where it was in
  frame t, which is what warping needs: ``mask_{t+1}(p) = mask_t(p + backward(p))``
  samples every target pixel once (no holes, unlike splatting the forward flow);
- points are N×2 ``float32`` (x, y), pixel centres at integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIS_PRESETS = ("ultrafast", "fast", "medium")


def to_grey(frame: np.ndarray) -> np.ndarray:
    """H×W uint8 luminance of an H×W×3 uint8 RGB frame (H×W input is returned as is)."""
    import cv2

    frame = np.asarray(frame)
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def dense_flow(
    source: np.ndarray,
    target: np.ndarray,
    *,
    preset: str = "medium",
    scale: float = 1.0,
    finest_long_side: int = 300,
) -> np.ndarray:
    """DIS optical flow from ``source`` to ``target`` (both H×W uint8 grey).

    The flow is computed on frames resized by ``scale`` (0 < scale ≤ 1), then resized
    back and rescaled to full-resolution pixels. DIS stops its coarse-to-fine pyramid at a
    "finest scale" (the presets stop at ½ or ¼ size, which on a small frame loses most of
    a small object's motion); it is chosen here as the smallest pyramid level whose long
    side is still ≥ ``finest_long_side`` pixels (full size for frames up to 2× that).
    Returns H×W×2 float32: ``source[y, x]`` moves to ``(x, y) + flow[y, x]`` in ``target``.
    """
    import cv2

    if preset not in DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose one of {', '.join(DIS_PRESETS)}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(f"flow scale {scale!r} must be in (0, 1]")
    if source.shape != target.shape or source.ndim != 2:
        raise ValueError(f"flow needs two H×W grey frames of one size, got {source.shape} and {target.shape}")
    height, width = source.shape
    code = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }[preset]
    small_w, small_h = max(16, int(round(width * scale))), max(16, int(round(height * scale)))
    if (small_w, small_h) != (width, height):
        a = cv2.resize(source, (small_w, small_h), interpolation=cv2.INTER_AREA)
        b = cv2.resize(target, (small_w, small_h), interpolation=cv2.INTER_AREA)
    else:
        a, b = source, target
    dis = cv2.DISOpticalFlow.create(code)
    dis.setFinestScale(finest_scale(max(small_w, small_h), finest_long_side))
    flow = dis.calc(a, b, None)  # type: ignore[call-overload]  # cv2's stubs miss that flow may be None
    if (small_w, small_h) == (width, height):
        return flow
    full = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    full[..., 0] *= width / small_w
    full[..., 1] *= height / small_h
    return full


def finest_scale(long_side: int, finest_long_side: int) -> int:
    """The deepest pyramid level (0 = full size) whose long side is ≥ ``finest_long_side``."""
    level = 0
    while long_side / 2 ** (level + 1) >= finest_long_side:
        level += 1
    return level


def warp_mask(
    mask: np.ndarray,
    backward: np.ndarray,
    forward: np.ndarray | None = None,
    *,
    tolerance: float = 1.0,
    relative: float = 0.05,
    max_drop: float = 1.0,
) -> np.ndarray:
    """Carry ``mask`` (H×W bool, frame t) to frame t+1 with the backward flow.

    backward: H×W×2 float32, flow from frame t+1 to frame t (`dense_flow(grey_{t+1},
        grey_t)`).
    forward: optional H×W×2 float32 flow from frame t to t+1. With it, target pixels whose
        backward flow the forward flow does not send back (within ``tolerance`` px plus
        ``relative`` × the motion) are background: they were hidden on frame t — mostly background
        uncovered behind a moving object, which plain backward warping smears the object
        into, frame after frame. When they would remove more than ``max_drop`` of the
        warped mask, the flow itself is unreliable there (fast, blurred motion) and
        nothing is removed.
    Returns H×W float32 in [0, 1], the bilinearly sampled foreground fraction; threshold
    at 0.5 for a mask. Pixels that come from outside the frame are background.
    """
    import cv2

    mask = np.asarray(mask)
    height, width = mask.shape
    if backward.shape != (height, width, 2):
        raise ValueError(f"flow {backward.shape} does not match mask {mask.shape}")
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = grid_x + backward[..., 0]
    map_y = grid_y + backward[..., 1]
    warped = cv2.remap(
        mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0
    )
    if forward is not None:
        if forward.shape != backward.shape:
            raise ValueError(f"forward flow {forward.shape} does not match backward flow {backward.shape}")
        there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = np.linalg.norm(backward + there, axis=2)
        motion = np.linalg.norm(backward, axis=2)
        hidden = (error > tolerance + relative * motion) & (warped > 0)
        if np.count_nonzero(hidden & (warped >= 0.5)) <= max_drop * max(int(np.count_nonzero(warped >= 0.5)), 1):
            warped[hidden] = 0.0
    return warped


@dataclass(frozen=True)
class TrackedPoints:
    """Points carried from one frame to the next.

    points: N×2 float32 (x, y) in the target frame (meaningless where ``ok`` is False).
    ok: N bool: found by Lucas–Kanade in both directions, back within ``fb_threshold``
        pixels of where it started, and inside the frame.
    fb_error: N float32 forward–backward distance in pixels (inf where not found).
    """

    points: np.ndarray
    ok: np.ndarray
    fb_error: np.ndarray

    @property
    def share_ok(self) -> float:
        """The fraction of points tracked consistently (1.0 when there are none)."""
        return float(self.ok.mean()) if len(self.ok) else 1.0


def track_points(
    source: np.ndarray,
    target: np.ndarray,
    points: np.ndarray,
    *,
    fb_threshold: float = 1.0,
    window: int = 21,
    levels: int = 3,
) -> TrackedPoints:
    """Track ``points`` (N×2 float32 (x, y)) from ``source`` to ``target`` (H×W uint8 grey).

    Pyramidal Lucas–Kanade (`cv2.calcOpticalFlowPyrLK`) forwards, then back from where
    each point landed; a point is kept when it comes back within ``fb_threshold`` pixels
    (Kalal et al.'s forward–backward check, which rejects points that got occluded or
    slid along an edge).
    """
    import cv2

    points = np.asarray(points, np.float32).reshape(-1, 2)
    count = len(points)
    if count == 0:
        empty = np.zeros((0, 2), np.float32)
        return TrackedPoints(empty, np.zeros(0, bool), np.zeros(0, np.float32))
    height, width = source.shape
    win_size = (window, window)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    start = points.reshape(-1, 1, 2)
    forward, status_f, _ = cv2.calcOpticalFlowPyrLK(
        source, target, start, None, winSize=win_size, maxLevel=levels, criteria=criteria
    )
    backward, status_b, _ = cv2.calcOpticalFlowPyrLK(
        target, source, forward, None, winSize=win_size, maxLevel=levels, criteria=criteria
    )
    forward = forward.reshape(-1, 2)
    fb_error = np.linalg.norm(backward.reshape(-1, 2) - points, axis=1).astype(np.float32)
    found = (status_f.reshape(-1) == 1) & (status_b.reshape(-1) == 1) & np.isfinite(fb_error)
    fb_error[~found] = np.inf
    inside = (
        (forward[:, 0] >= -0.5) & (forward[:, 0] <= width - 0.5) & (forward[:, 1] >= -0.5) & (forward[:, 1] <= height - 0.5)
    )
    ok = found & inside & (fb_error <= fb_threshold)
    return TrackedPoints(forward.astype(np.float32), ok, fb_error)
