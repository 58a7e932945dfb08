"""`FrameSource`: the random-access frame sequence every media reader implements, and the
extensions and constants shared by the readers."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.errors import FrameIndexError, MediaError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})

# Images carry no timing. A nominal rate keeps `fps` a float everywhere (exports such as
# CVAT-video and MOT need one); `FrameSource.fps_nominal` says it was not measured.
DEFAULT_IMAGE_FPS = 25.0

MEDIA_KINDS = ("video", "image", "image_folder")
BACKENDS = ("decord", "pyav", "opencv")


class FrameSource(ABC):
    """Random access to the frames of one media item.

    Attributes:
        path: the file, folder or glob pattern that was opened.
        kind: ``video`` | ``image`` | ``image_folder`` (a folder or a glob pattern).
        backend: ``decord`` | ``pyav`` | ``opencv``.
        fps: frames per second (float). Images: `DEFAULT_IMAGE_FPS`, with
            ``fps_nominal`` True.
        timestamps: N float64, seconds of each frame from the start of the stream
            (images: ``i / fps``).
        warnings: one-line notes naming the path on a media that opened but is not
            quite what its container declares (a video cut near its end); empty when fine.

    Thread-safe: decoder state is guarded by a per-source lock, so one source can serve a
    UI thread and a worker thread; calls are serialised, not parallel.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        kind: str,
        backend: str,
        num_frames: int,
        width: int,
        height: int,
        fps: float,
        timestamps: np.ndarray,
        fps_nominal: bool = False,
        warnings: tuple[str, ...] = (),
    ) -> None:
        self.path = Path(path)
        self.warnings = tuple(warnings)
        self.kind = kind
        self.backend = backend
        self.fps = float(fps)
        self.fps_nominal = bool(fps_nominal)
        self.timestamps = np.asarray(timestamps, np.float64)
        self.timestamps.setflags(write=False)
        self._num_frames = int(num_frames)
        self._width = int(width)
        self._height = int(height)
        self._lock = threading.RLock()
        self._closed = False
        if len(self.timestamps) != self._num_frames:
            raise AssertionError(f"{len(self.timestamps)} timestamps for {self._num_frames} frames")

    # -- shape and timing -------------------------------------------------------------
    def __len__(self) -> int:
        return self._num_frames

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (self._width, self._height)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels, the first two dimensions of every frame."""
        return (self._height, self._width)

    @property
    def frame_nbytes(self) -> int:
        """Bytes of one decoded frame (H·W·3)."""
        return self._width * self._height * 3

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, kind={self.kind}, backend={self.backend}, "
            f"frames={len(self)}, size={self._width}x{self._height}, fps={self.fps:g})"
        )

    # -- access -----------------------------------------------------------------------
    def frame(self, frame_index: int) -> np.ndarray:
        """Frame ``frame_index`` as H×W×3 uint8 RGB (a new array the caller owns).

        Raises `FrameIndexError` outside ``[0, len(self))`` (negative indices included:
        they are almost always a bug in frame arithmetic, not a wish to count from the end).
        """
        index = self.check_index(frame_index)
        with self._lock:
            self._check_open()
            return self._read(index)

    def iter_frames(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[np.ndarray]:
        """Decode frames ``start, start+step, …`` below ``stop`` (default: the end) in order.

        Sequential decoding without per-frame seeks: as fast as the bare decoder.
        Yields H×W×3 uint8 RGB arrays the caller owns.
        """
        start, stop, step = self._check_range(start, stop, step)
        return self._iter(start, stop, step)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    def close(self) -> None:
        """Release the decoder; later reads raise `MediaError`. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten source must not keep decoder threads alive
        try:
            self.close()
        except Exception:
            pass

    # -- for subclasses -----------------------------------------------------------------
    @abstractmethod
    def _read(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (already checked); called with the lock held."""

    def _iter(self, start: int, stop: int, step: int) -> Iterator[np.ndarray]:
        for index in range(start, stop, step):
            yield self.frame(index)

    def _release(self) -> None:  # noqa: B027 (an optional hook, not abstract: most sources hold nothing)
        """Free decoder resources; called once, with the lock held."""

    def _check_open(self) -> None:
        if self._closed:
            raise MediaError(f"{self.path}: the media source is closed")

    def check_index(self, frame_index: int) -> int:
        """``frame_index`` as an int, or `FrameIndexError` naming the index, length and path."""
        if isinstance(frame_index, (bool, np.bool_)) or not isinstance(frame_index, (int, np.integer)):
            raise TypeError(f"frame index must be an int, got {type(frame_index).__name__}")
        index = int(frame_index)
        if not 0 <= index < self._num_frames:
            raise FrameIndexError(
                f"frame {index} is outside [0, {self._num_frames}) of {self.path} "
                f"({self._num_frames} frames)"
            )
        return index

    def _check_range(self, start: int, stop: int | None, step: int) -> tuple[int, int, int]:
        if int(step) < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        n = self._num_frames
        start = int(start)
        if not 0 <= start <= n:
            raise FrameIndexError(f"start frame {start} is outside [0, {n}] of {self.path}")
        stop = n if stop is None else min(int(stop), n)
        return start, max(stop, start), int(step)
