"""An in-memory `FrameSource` that counts its decodes, for tests that a frame is decoded once."""

from __future__ import annotations

from collections import Counter

import numpy as np

from engine.media.source import FrameSource


class CountingSource(FrameSource):
    """Frames held in memory; ``decodes[i]`` counts the reads of frame ``i`` (``_read``,
    which `FrameSource.frame` calls and every decoder implements)."""

    def __init__(self, frames: list[np.ndarray], path: str = "counting-clip") -> None:
        height, width = frames[0].shape[:2]
        super().__init__(path, kind="image_folder", backend="opencv", num_frames=len(frames), width=width,
                         height=height, fps=25.0, timestamps=np.arange(len(frames)) / 25.0, fps_nominal=True)
        self._frames = frames
        self.decodes: Counter[int] = Counter()

    def _read(self, index: int) -> np.ndarray:
        self.decodes[index] += 1
        return self._frames[index].copy()


def moving_square(count: int, *, height: int = 96, width: int = 160, side: int = 32, speed: int = 3,
                  seed: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` frames of a textured orange square moving right over a textured blue
    background, and its masks."""
    rng = np.random.default_rng(seed)
    background = np.clip(rng.normal((70, 90, 170), 18, (height, width, 3)), 0, 255).astype(np.uint8)
    patch = np.clip(rng.normal((220, 130, 60), 18, (side, side, 3)), 0, 255).astype(np.uint8)
    frames, masks = [], []
    top = (height - side) // 2
    for t in range(count):
        image, mask = background.copy(), np.zeros((height, width), bool)
        x = 8 + speed * t
        image[top:top + side, x:x + side] = patch
        mask[top:top + side, x:x + side] = True
        frames.append(image)
        masks.append(mask)
    return frames, masks
