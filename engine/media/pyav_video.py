"""Video frames with PyAV: the fallback backend, and the one that can never run ahead.

PyAV decoding is pull-based: nothing is decoded that was not asked for, so memory is one
decoder's reference frames whatever the access pattern. Random access seeks to the
keyframe at or before the target and decodes forward, matching frames by presentation
timestamp against the probe's index; a request a little ahead of the last one decodes
forward without seeking.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import MediaError
from engine.media.probe import VideoProbe, first_line, frame_to_rgb, open_container
from engine.media.source import FrameSource

if TYPE_CHECKING:  # av is imported when a video is decoded
    from av.container import InputContainer
    from av.video.stream import VideoStream

# Retries with an earlier keyframe when a seek lands after the target (inexact indexes).
_SEEK_RETRIES = 3


class PyAVVideoSource(FrameSource):
    """A video decoded with PyAV.

    fallback_reason: why decord was not used (None when PyAV was asked for).
    """

    def __init__(self, probe: VideoProbe, *, fallback_reason: str | None = None) -> None:
        super().__init__(
            probe.path, kind="video", backend="pyav", num_frames=probe.num_frames,
            width=probe.width, height=probe.height, fps=probe.fps, timestamps=probe.timestamps,
            warnings=probe.warnings,
        )
        self.probe = probe
        self.fallback_reason = fallback_reason
        self._pts = probe.pts
        self._key_positions = np.flatnonzero(probe.keyframes)
        self._container: InputContainer | None = None
        self._stream: VideoStream | None = None
        self._decoded: Iterator | None = None
        self._next_index: int | None = None  # index the decoder yields next, when known
        self._last_error = ""

    # -- decoder plumbing -------------------------------------------------------------
    def _ensure_open(self) -> tuple[InputContainer, VideoStream]:
        """The container and its video stream, opened on first use."""
        if self._container is None or self._stream is None:
            self._container = container = open_container(self.path)
            self._stream = stream = container.streams[self.probe.stream_index]
            stream.thread_type = "AUTO"  # frame + slice threads: ~2x on 2 cores
            self._decoded = None
            self._next_index = None
        return self._container, self._stream

    def _frames(self) -> Iterator:
        """Decoded frames from the container's position; corrupt packets are skipped (the
        frame they held is then reported missing by timestamp)."""
        import av

        container, stream = self._ensure_open()  # opened by `_seek`
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets, None)
            except av.FFmpegError as exc:  # the demuxer gave up: no more frames from here
                self._last_error = first_line(exc)
                return
            if packet is None:
                return
            try:
                frames = stream.codec_context.decode(packet)
            except av.FFmpegError as exc:
                self._last_error = first_line(exc)
                continue
            yield from frames

    def _seek(self, key_position: int) -> None:
        import av

        container, stream = self._ensure_open()
        try:
            container.seek(int(self._pts[key_position]), stream=stream, backward=True)
        except av.FFmpegError as exc:  # found by fuzzing: one flipped bit in an MP4 index
            self._decoded, self._next_index = None, None
            raise MediaError(
                f"{self.path}: cannot seek to frame {key_position} (corrupt index? {first_line(exc)})"
            ) from exc
        self._decoded = self._frames()
        self._next_index = None

    def _keyframe_at_or_before(self, index: int) -> int:
        k = int(np.searchsorted(self._key_positions, index, side="right")) - 1
        return int(self._key_positions[max(k, 0)])

    def _next_frame(self, index: int):
        assert self._decoded is not None, "_seek starts the decoder before frames are read"
        frame = next(self._decoded, None)
        if frame is None:
            detail = f" ({self._last_error})" if self._last_error else ""
            raise MediaError(f"{self.path}: frame {index} cannot be decoded{detail}")
        return frame

    def _decode_at(self, index: int):
        """The av.VideoFrame of frame ``index``."""
        self._ensure_open()
        target = int(self._pts[index])
        key = self._keyframe_at_or_before(index)
        forward = (
            self._decoded is not None
            and self._next_index is not None
            and self._next_index <= index
            and key <= self._next_index
        )
        if not forward:
            self._seek(key)
        retries = 0
        while True:
            try:
                frame = self._next_frame(index)
            except MediaError:
                self._decoded, self._next_index = None, None
                raise
            pts = frame.pts if frame.pts is not None else target
            if pts < target:
                continue
            if pts == target:
                self._next_index = index + 1
                return frame
            # Landed after the target: the container's seek index is coarser than ours.
            retries += 1
            if retries > _SEEK_RETRIES:
                self._decoded, self._next_index = None, None
                raise MediaError(f"{self.path}: cannot seek to frame {index} (landed at pts {pts})")
            earlier = max(0, int(np.searchsorted(self._key_positions, key, side="left")) - retries)
            key = int(self._key_positions[earlier])
            self._seek(key)

    def _read(self, index: int) -> np.ndarray:
        frame = self._decode_at(index)
        turns = self.probe.quarter_turns
        coded = self.size if turns % 2 == 0 else (self._height, self._width)
        # A mid-stream resolution change: keep every frame the size of frame 0.
        rgb = frame_to_rgb(frame, self.path, index, None if (frame.width, frame.height) == coded else coded)
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb

    def validate_tail(self) -> None:
        """Decode the last frame (see `VideoProbe.tail_check_index`), so a file that breaks
        near its end fails at open rather than mid-session."""
        with self._lock:
            self._read(self.probe.tail_check_index)

    def _release(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            finally:
                self._container = self._stream = self._decoded = None
