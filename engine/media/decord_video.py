"""Video frames with decord, with its run-ahead kept on a leash.

decord 0.6 decodes in a background thread into an unbounded queue. Measured on a 720p H.264
file: after one ``vr[i]`` (or ``vr.next()``) the reader keeps decoding the *rest of the
file* into memory while the caller is idle — +500 MB within 3 s on a 289-frame clip,
~330 MB/s on longer files until the end of the file (dmlc/decord#157, #208). ``get_batch``
also leaves ~200 MB behind per call on the same clip.

What bounds it here:

- reads use ``vr[i]`` (``seek_accurate`` is a no-op when ``i`` is the next frame, so
  sequential reads are plain ``next()`` calls); ``get_batch`` is never used;
- a parker thread calls ``vr.seek(0)`` once the reader has been idle for `PARK_AFTER_S`:
  a seek stops and empties decord's queue, and a reader positioned by a seek decodes
  nothing until asked. Run-ahead is therefore at most `PARK_AFTER_S` of decoding;
- sequential iteration reads chunks of at most `CHUNK_BYTES` back to back and hands them
  out from a buffer, so a slow consumer costs one keyframe re-seek per chunk rather than
  an unbounded queue;
- the reader is recreated after `RECYCLE_AFTER_SEEKS` seeks, returning whatever
  decord/FFmpeg pools have kept.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.errors import MediaError
from engine.media.probe import VideoProbe, first_line
from engine.media.source import FrameSource

# Mean absolute difference (0-255) above which decord's frame 0 is "not the same picture"
# as PyAV's; the two use the same swscale conversion, so agreement is normally exact.
_FIRST_FRAME_TOLERANCE = 8.0


def import_decord():
    """Import decord, after OpenCV.

    decord's wheel bundles zlib 1.2.3 and loads it with global symbols; if decord is loaded
    first, OpenCV's libpng later binds to that zlib and every PNG read fails with
    "libpng error: bad parameters to zlib". Loading cv2 first keeps its own zlib.
    Import decord only through this function.
    """
    import cv2  # noqa: F401  (load order matters, see above)
    import decord

    return decord


class DecordRejected(Exception):
    """decord cannot be trusted for this file; the message says why."""


class _Reader:
    """One ``decord.VideoReader`` plus the parker thread that stops its run-ahead.

    The thread holds only this object (not the source), so a source that is dropped
    without `close()` is still collected, and its `__del__` closes this.
    """

    PARK_AFTER_S = 0.05
    RECYCLE_AFTER_SEEKS = 1000

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._vr: Any = None  # a decord.VideoReader (decord ships no types); None: closed or recycled
        self._position = 0  # the frame decord's next() returns
        self._dirty = False  # decoded since the last park: decord may be running ahead
        self._last_access = 0.0
        self._seeks = 0
        self._closed = False
        self.parks = 0  # diagnostics: run-ahead stops
        self.opens = 0  # diagnostics: readers created
        self._open()
        self._thread = threading.Thread(target=self._park_loop, name="framewise-decord-park", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        decord = import_decord()
        self._vr = decord.VideoReader(self.path, ctx=decord.cpu(0))
        self._position = 0
        self._seeks = 0
        self.opens += 1

    def __len__(self) -> int:
        return len(self._vr)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as H×W×3 uint8 RGB."""
        with self.lock:
            if self._closed:
                raise MediaError(f"{self.path}: the media source is closed")
            if index != self._position:
                self._seeks += 1
                if self._seeks > self.RECYCLE_AFTER_SEEKS:
                    self._vr = None
            if self._vr is None:
                self._open()
            if not self._dirty:
                self._dirty = True
                self._cond.notify()
            try:
                if index == self._position:
                    frame = self._vr.next().asnumpy()
                else:
                    frame = self._vr[index].asnumpy()  # seek_accurate + next
            except BaseException:
                self._position = -1  # decord's position is unknown now: seek next time
                raise
            finally:
                self._last_access = time.monotonic()
            self._position = index + 1
            return frame

    def park(self) -> None:
        """Stop decord's run-ahead now (the next read re-seeks)."""
        with self.lock:
            if self._dirty and self._vr is not None:
                self._vr.seek(0)  # Seek() clears the decoder queue; seek(0) is always valid
                self._position = 0
                self.parks += 1
            self._dirty = False

    def _park_loop(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._dirty:
                    self._cond.wait()
                    continue
                wait = self._last_access + self.PARK_AFTER_S - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                try:
                    self.park()
                except Exception:  # a reader that cannot seek is reopened by the next read
                    self._vr, self._dirty = None, False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._vr = None
            self._cond.notify_all()


class DecordVideoSource(FrameSource):
    """A video decoded with decord (see the module docstring for memory bounding)."""

    CHUNK_BYTES = 96 << 20
    MAX_CHUNK_FRAMES = 32
    FIRST_CHUNK_FRAMES = 4

    def __init__(self, probe: VideoProbe, reader: _Reader) -> None:
        super().__init__(
            probe.path, kind="video", backend="decord", num_frames=probe.num_frames,
            width=probe.width, height=probe.height, fps=probe.fps, timestamps=probe.timestamps,
            warnings=probe.warnings,
        )
        self.probe = probe
        self.fallback_reason: str | None = None
        self._reader = reader

    @classmethod
    def open(cls, probe: VideoProbe) -> DecordVideoSource:
        """Open with decord and cross-check it against the probe; raises `DecordRejected`
        when decord's frame count, frame size, frame 0 or last frame disagree or fail."""
        if probe.skipped_leading:
            raise DecordRejected(
                f"the stream starts mid-GOP ({probe.skipped_leading} undecodable leading "
                f"packets) and decord would invent frames for them"
            )
        try:
            reader = _Reader(str(probe.path))
        except Exception as exc:  # decord raises DECORDError, RuntimeError, AssertionError…
            raise DecordRejected(f"decord cannot open it ({first_line(exc)})") from exc
        try:
            n = len(reader)
            if n != probe.num_frames:
                raise DecordRejected(f"decord counts {n} frames, the container {probe.num_frames}")
            expected = (probe.height, probe.width, 3)
            for index in (0, probe.tail_check_index):
                try:
                    frame = reader.read(index)
                except Exception as exc:
                    raise DecordRejected(f"decord cannot decode frame {index} ({first_line(exc)})") from exc
                if frame.shape != expected:
                    raise DecordRejected(
                        f"decord decodes frame {index} as {frame.shape}, expected {expected}")
                if index == 0:
                    diff = float(np.abs(frame.astype(np.int16) - probe.first_frame).mean())
                    if diff > _FIRST_FRAME_TOLERANCE:
                        raise DecordRejected(
                            f"decord's frame 0 differs from PyAV's (mean abs diff {diff:.1f})")
            reader.park()
        except BaseException:
            reader.close()
            raise
        return cls(probe, reader)

    @property
    def parks(self) -> int:
        """How many times decord's run-ahead was stopped (diagnostics)."""
        return self._reader.parks

    def _read(self, index: int) -> np.ndarray:
        try:
            return self._reader.read(index)
        except MediaError:
            raise
        except Exception as exc:
            raise MediaError(f"{self.path}: frame {index} cannot be decoded ({first_line(exc)})") from exc

    def _iter(self, start: int, stop: int, step: int) -> Iterator[np.ndarray]:
        # Chunks start small (a fast consumer then reuses a few buffers) and double each
        # time the reader was parked while the consumer worked on one: a slow consumer
        # pays one keyframe re-seek per chunk, so its chunks grow to the byte budget.
        largest = max(1, min(self.MAX_CHUNK_FRAMES, self.CHUNK_BYTES // self.frame_nbytes))
        per_chunk = min(self.FIRST_CHUNK_FRAMES, largest)
        indices = range(start, stop, step)
        offset = 0
        while offset < len(indices):
            with self._lock:
                self._check_open()
                chunk = deque([self._read(i) for i in indices[offset : offset + per_chunk]])
                parks = self._reader.parks
            offset += per_chunk
            while chunk:
                yield chunk.popleft()
            if self._reader.parks != parks:
                per_chunk = min(2 * per_chunk, largest)

    def _release(self) -> None:
        self._reader.close()
