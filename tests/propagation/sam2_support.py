"""Shared set-up of the SAM 2 propagation tests: one random tiny SAM 2.1 at 128 px, the bare
`SAM2VideoPredictor` with the same weights, and a short JPEG clip both read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SIZE = 128  # the smallest square the tests need: ~0.3 s a frame on 2 cores
CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def random_net(image_size: int = IMAGE_SIZE):
    """A random tiny SAM 2.1 (``SAM2Base``, eval) built as the sam2 backend builds it."""
    from engine.segment.sam2.build import build_random_sam2

    return build_random_sam2("tiny", image_size=image_size, seed=0)


def bare_predictor(net, image_size: int = IMAGE_SIZE):
    """sam2's own `SAM2VideoPredictor` (its post-processing settings) with ``net``'s weights."""
    from sam2.build_sam import build_sam2_video_predictor

    from engine.segment.sam2.build import image_size_overrides

    predictor = build_sam2_video_predictor(CONFIG, None, device="cpu",
                                           hydra_overrides_extra=image_size_overrides(image_size))
    predictor.load_state_dict(net.state_dict())
    return predictor.eval()


def two_squares(count: int, height: int = 72, width: int = 96) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """``count`` frames of two textured squares moving over noise, and their masks on frame 0."""
    rng = np.random.default_rng(3)
    frames = []
    for t in range(count):
        frame = rng.integers(0, 70, (height, width, 3)).astype(np.uint8)
        frame[20 + t:50 + t, 10 + 2 * t:40 + 2 * t] = (210, 60, 50)
        frame[5:25, 60 - t:85 - t] = (40, 200, 70)
        frames.append(frame)
    first = np.zeros((height, width), bool), np.zeros((height, width), bool)
    first[0][20:50, 10:40] = True
    first[1][5:25, 60:85] = True
    return frames, {1: first[0], 2: first[1]}


def write_jpegs(frames: list[np.ndarray], folder: Path) -> list[np.ndarray]:
    """Write ``frames`` as ``00000.jpg …`` (SAM 2's video folder) and return them as PIL decodes
    them, which is what SAM 2's loader reads."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    decoded = []
    for index, frame in enumerate(frames):
        path = folder / f"{index:05d}.jpg"
        Image.fromarray(frame).save(path, quality=95)
        decoded.append(np.asarray(Image.open(path).convert("RGB")))
    return decoded


class ListSource:
    """`FrameAccess` over a list of H×W×3 uint8 frames; ``reads`` counts the reads."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, frame_index: int) -> np.ndarray:
        self.reads.append(frame_index)
        return self.frames[frame_index]
