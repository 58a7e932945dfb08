"""Preview outputs of a pre-labelled media: an H.264 video and a few PNGs with overlays.

Labels are tinted in their class colour and outlined (`engine.preview.overlay`); labels flagged
for review are outlined in red.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.fileio import write_image
from engine.geometry import shape_to_mask
from engine.preview.overlay import blend_mask, hex_to_rgb, render_overlay
from engine.types import Label

REVIEW_COLOUR = "#ff2020"
PREVIEW_LONG_SIDE = 640  # frames larger than this are scaled down: a preview, not a master
PREVIEW_CRF = 30


def overlay_frame(frame: np.ndarray, labels: Iterable[Label], ontology) -> np.ndarray:
    """H×W×3 uint8 RGB: ``frame`` with ``labels`` tinted and outlined."""
    image = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    height, width = image.shape[:2]
    drawn = []
    for label in labels:
        colour = ontology[label.class_name].colour if label.class_name in ontology else "#ffffff"
        blend_mask(image, shape_to_mask(label.shape, height, width), hex_to_rgb(colour), alpha=0.35)
        drawn.append((label, REVIEW_COLOUR if label.review else colour))
    return render_overlay(image, labels=drawn)


def _by_frame(labels: Iterable[Label]) -> dict[int, list[Label]]:
    frames: dict[int, list[Label]] = {}
    for label in labels:
        frames.setdefault(label.frame_index, []).append(label)
    return frames


def _even(value: int) -> int:
    return max(2, value - value % 2)


def write_preview(path: str | Path, source, labels: Iterable[Label], ontology, *, fps: float | None = None) -> Path:
    """Write every frame of ``source`` with its labels as an H.264 MP4 (yuv420p, CRF 30,
    long side at most 640 px, even sizes) to ``path``, atomically."""
    import av
    import cv2

    path = Path(path)
    frames = _by_frame(labels)
    width, height = source.size
    scale = min(1.0, PREVIEW_LONG_SIDE / max(width, height))
    out_w, out_h = _even(round(width * scale)), _even(round(height * scale))
    rate = Fraction(float(fps or source.fps or 25.0)).limit_denominator(1001)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
            stream.options = {"crf": str(PREVIEW_CRF), "preset": "veryfast"}
            for frame_index in range(len(source)):
                image = overlay_frame(source.frame(frame_index), frames.get(frame_index, ()), ontology)
                if (out_w, out_h) != (width, height):
                    image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot write the preview video: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_preview_pngs(folder: str | Path, source, labels: Iterable[Label], ontology, count: int) -> list[Path]:
    """``count`` overlay PNGs ``preview_<frame>.png`` on evenly spaced frames (first and
    last included)."""
    if count <= 0 or len(source) == 0:
        return []
    frames = _by_frame(labels)
    chosen = sorted({int(round(i)) for i in np.linspace(0, len(source) - 1, min(count, len(source)))})
    return [
        write_image(Path(folder) / f"preview_{frame_index:05d}.png",
                    overlay_frame(source.frame(frame_index), frames.get(frame_index, ()), ontology))
        for frame_index in chosen
    ]
