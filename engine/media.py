"""Media access: `open_media(path) -> FrameSource` for videos, still images and image sequences.

A `FrameSource` is a random-access sequence of frames (H×W×3 uint8 RGB) with timing:

- video (mp4, mov, mkv, avi, webm): decoded with decord, or with PyAV when decord cannot be
  trusted for the file (see `engine.media_video.open_video` for the criteria);
- a still image (png, jpg/jpeg, tif/tiff, bmp, webp): one frame, read with OpenCV;
- an image sequence: a folder of images or a glob pattern, naturally sorted
  (``frame2`` before ``frame10``), all of one size.

Every failure the file can cause (missing, unknown extension, corrupt, truncated, empty)
is a `MediaError` whose one-line message names the path. Heavy libraries (decord, av, cv2)
are imported by the functions that use them, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from engine.errors import FrameIndexError, MediaError

if TYPE_CHECKING:
    from engine.types import MediaInfo

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
    ) -> None:
        self.path = Path(path)
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

    def __enter__(self) -> "FrameSource":
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

    def _release(self) -> None:
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


def open_media(path: Path | str, *, backend: str | None = None) -> FrameSource:
    """Open a video, a still image, a folder of images or a glob pattern of images.

    backend: force ``decord`` or ``pyav`` for a video (default: decord with a PyAV
    fallback); images always use OpenCV.
    Raises `MediaError` naming the path when it is missing, of an unknown kind, corrupt,
    truncated or empty.
    """
    from engine import media_image, media_video

    text = os.fspath(path)
    if backend not in (None, "decord", "pyav"):
        raise ValueError(f"backend must be None, 'decord' or 'pyav', got {backend!r}")
    p = Path(text).expanduser()
    if not p.exists() and media_image.is_glob_pattern(text):
        return media_image.open_image_sequence(text)
    if not p.exists():
        raise MediaError(f"{p}: no such file or folder")
    if p.is_dir():
        return media_image.open_image_sequence(p)
    if not p.is_file():  # a FIFO would block the decoder forever, /dev/zero fill the memory
        raise MediaError(f"{p}: not a regular file (a device, FIFO or socket)")
    suffix = p.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return media_video.open_video(p, backend=backend)
    if suffix in IMAGE_EXTENSIONS:
        return media_image.open_image(p)
    known = ", ".join(sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS))
    raise MediaError(f"{p}: unknown media extension {suffix or '(none)'!r}; expected one of {known}")


# -- fingerprint ---------------------------------------------------------------------------
_CHUNK = 1 << 20  # 1 MiB read at the head and tail of a file
_SAMPLE = 64 << 10  # 64 KiB read at evenly spaced offsets in between
_SAMPLES = 16


def _hash_file(h: "hashlib._Hash", path: Path) -> None:
    size = path.stat().st_size
    h.update(f"{size}\0".encode())
    with open(path, "rb") as fh:
        if size <= 2 * _CHUNK + _SAMPLES * _SAMPLE:
            h.update(fh.read())
            return
        h.update(fh.read(_CHUNK))
        for k in range(1, _SAMPLES + 1):
            fh.seek(size * k // (_SAMPLES + 1))
            h.update(fh.read(_SAMPLE))
        fh.seek(size - _CHUNK)
        h.update(fh.read(_CHUNK))


def media_fingerprint(path: Path | str) -> str:
    """A fast content hash for cache keys (hex sha256), independent of the file's name.

    A file: its size, first and last MiB and 16 sampled 64 KiB chunks (whole file when
    small), so a re-encoded or edited file gets a new key while renaming keeps it.
    A folder or glob pattern: the sorted image names and sizes, plus the sampled content
    of the first, middle and last image. Reads at most a few MiB whatever the size.
    """
    from engine import media_image

    text = os.fspath(path)
    p = Path(text).expanduser()
    h = hashlib.sha256()
    try:
        if p.is_file():
            h.update(b"file\0")
            _hash_file(h, p)
            return h.hexdigest()
        if p.is_dir() or (not p.exists() and media_image.is_glob_pattern(text)):
            files = media_image.list_image_files(p if p.is_dir() else text)
            h.update(b"sequence\0")
            for f in files:
                h.update(f"{f.name}\0{f.stat().st_size}\0".encode())
            # dict, not set: a set of paths iterates in a per-process hash order
            for f in dict.fromkeys([files[0], files[len(files) // 2], files[-1]]):
                _hash_file(h, f)
            return h.hexdigest()
    except OSError as exc:
        raise MediaError(f"{p}: cannot read for fingerprinting: {exc}") from exc
    raise MediaError(f"{p}: no such file or folder")


def media_info(source: FrameSource, name: str | None = None) -> "MediaInfo":
    """The `MediaInfo` of an open source (fingerprints its content: reads a few MiB)."""
    from engine.types import MediaInfo

    files = getattr(source, "files", None)
    width, height = source.size
    return MediaInfo(
        name=str(name if name is not None else source.path),
        fingerprint=media_fingerprint(source.path),
        width=int(width),
        height=int(height),
        frames=len(source),
        fps=float(source.fps),
        timestamps=tuple(float(t) for t in source.timestamps),
        frame_names=tuple(f.name for f in files) if files else (),
    )
