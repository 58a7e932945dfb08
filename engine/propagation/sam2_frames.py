"""Frames for SAM 2's memory propagation: read lazily, encoded one frame ahead on a worker.

SAM 2's own video predictor (`SAM2VideoPredictor.init_state`) loads and normalises every
frame of a video before it starts; here frames come one at a time from a `FrameAccess`
(the frame server), in the run's order, and the image encoder of the next frames runs on a
worker thread while the main thread runs the current frame's memory attention, mask
decoder and memory encoder (torch releases the GIL in its kernels). Where the encoder
would only fight the main thread for the same cores (a CPU), the worker reads and
loads the next frame only and the encoder runs in turn on the main thread
(``encode_ahead=False``; see `engine.propagation.sam2_memory.Sam2PropagationParams`).

`preprocess` turns an H×W×3 uint8 RGB frame into the model's input exactly as SAM 2's
video loader does (`sam2.utils.misc._load_img_as_tensor` + `load_video_frames`): a PIL
resize to image_size × image_size (PIL's default filter), /255 in float64, float32, then
minus the ImageNet mean, over its std. `FeaturePrefetcher` yields `FrameFeatures` in order;
only the frames it holds (at most ``ahead`` + 1) have features in memory.

torch is imported inside the functions that need it (this module imports without it).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class FrameFeatures:
    """One frame's image features, as `SAM2Base._prepare_backbone_features` lays them out
    for a batch of one: ``vision_feats`` / ``vision_pos_embeds`` are lists of (H_l·W_l)×1×C
    tensors per feature level, ``feat_sizes`` their (H_l, W_l); ``height``, ``width``: the
    frame's own size in pixels (the masks are resized back to it)."""

    frame_index: int
    vision_feats: list[Any]
    vision_pos_embeds: list[Any]
    feat_sizes: list[tuple[int, int]]
    height: int
    width: int


def preprocess(frame: np.ndarray, image_size: int, device: Any) -> Any:
    """1×3×S×S float32 tensor on ``device`` (S = ``image_size``) from ``frame`` (H×W×3 uint8
    RGB), normalised as SAM 2's video loader does (see the module docstring)."""
    import torch
    from PIL import Image

    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB frame, got {frame.shape} {frame.dtype}")
    resized = np.asarray(Image.fromarray(frame).convert("RGB").resize((image_size, image_size)))
    image = torch.from_numpy(resized / 255.0).permute(2, 0, 1).to(torch.float32)
    mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGE_STD, dtype=torch.float32)[:, None, None]
    image -= mean
    image /= std
    return image.unsqueeze(0).to(device)


@dataclass(frozen=True)
class FrameInput:
    """A frame made ready for the image encoder: ``image`` 1×3×S×S float32 on the model's
    device (`preprocess`), the frame's own ``height`` and ``width`` in pixels."""

    frame_index: int
    image: Any
    height: int
    width: int


def load_frame(net: Any, frame_index: int, frame: np.ndarray) -> FrameInput:
    """`preprocess` ``frame`` (H×W×3 uint8 RGB) for ``net`` (a `SAM2Base`)."""
    frame = np.asarray(frame)
    return FrameInput(frame_index, preprocess(frame, int(net.image_size), net.device), int(frame.shape[0]),
                      int(frame.shape[1]))


def encode_input(net: Any, item: FrameInput) -> FrameFeatures:
    """The image features of a loaded frame: ``net.forward_image`` and
    ``net._prepare_backbone_features``. Call it under ``torch.inference_mode()`` (and
    autocast on a GPU)."""
    backbone_out = net.forward_image(item.image)
    _, vision_feats, vision_pos_embeds, feat_sizes = net._prepare_backbone_features(backbone_out)
    return FrameFeatures(item.frame_index, list(vision_feats), list(vision_pos_embeds),
                         [(int(h), int(w)) for h, w in feat_sizes], item.height, item.width)


def encode_frame(net: Any, frame_index: int, frame: np.ndarray) -> FrameFeatures:
    """The image features of ``frame`` (H×W×3 uint8 RGB): `load_frame` then `encode_input`."""
    return encode_input(net, load_frame(net, frame_index, frame))


class FeaturePrefetcher:
    """Features of ``frame_indices`` in order. One worker thread reads and loads (decode,
    resize, normalise) up to ``ahead`` frames before they are asked for and, with
    ``encode_ahead``, runs the image encoder on them too; otherwise the encoder runs on the
    calling thread in `__next__`. ``ahead=0``: everything on the calling thread, no worker.

    read: ``frame_index -> frame`` (H×W×3 uint8 RGB); frames: optionally an iterator of
        those same frames in order (a sequential reader), used instead of ``read``;
    load: ``(frame_index, frame) -> FrameInput`` (`load_frame` with the net);
    encode: ``FrameInput -> FrameFeatures`` (`encode_input` with the net);
    context: a fresh context per computation (``torch.inference_mode`` and autocast are
        per thread, so the worker enters its own).
    A worker's exception is raised by `__next__` at the frame it failed on. `close` stops
    the worker after the computation in flight; use it as a context manager.
    """

    def __init__(self, frame_indices: list[int], read: Callable[[int], np.ndarray],
                 load: Callable[[int, np.ndarray], FrameInput], encode: Callable[[FrameInput], FrameFeatures],
                 context: Callable[[], AbstractContextManager[object]], *, ahead: int = 1,
                 encode_ahead: bool = True, frames: Iterator[np.ndarray] | None = None) -> None:
        if ahead < 0:
            raise ValueError(f"ahead must be >= 0, got {ahead}")
        self._indices = deque(frame_indices)
        self._read = read
        self._frames = frames
        self._load = load
        self._encode = encode
        self._context = context
        self._ahead = ahead
        self._encode_ahead = encode_ahead
        self._queue: deque[Future] = deque()
        self._lock = threading.Lock()  # the sequential frame iterator is read by one thread at a time
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framewise-sam2-encode") if ahead else None

    def _prepare(self, frame_index: int, encode: bool) -> FrameInput | FrameFeatures:
        with self._lock:
            frame = next(self._frames) if self._frames is not None else self._read(frame_index)
        with self._context():
            item = self._load(frame_index, np.asarray(frame))
            return self._encode(item) if encode else item

    def _fill(self, count: int) -> None:
        assert self._pool is not None
        while self._indices and len(self._queue) < count:
            self._queue.append(self._pool.submit(self._prepare, self._indices.popleft(), self._encode_ahead))

    def __iter__(self) -> FeaturePrefetcher:
        return self

    def __next__(self) -> FrameFeatures:
        if self._pool is None:
            if not self._indices:
                raise StopIteration
            result = self._prepare(self._indices.popleft(), True)
        else:
            self._fill(1)
            if not self._queue:
                raise StopIteration
            future = self._queue.popleft()
            self._fill(self._ahead)  # the next frames start before this one is used
            result = future.result()
        if isinstance(result, FrameFeatures):
            return result
        with self._context():
            return self._encode(result)

    def close(self) -> None:
        """Cancel the queued frames and stop the worker (after the one in flight)."""
        for future in self._queue:
            future.cancel()
        self._queue.clear()
        self._indices.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FeaturePrefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
