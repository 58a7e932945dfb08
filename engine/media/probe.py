"""Probe a video with PyAV: a frame index built from the container, and sanity checks.

The index (presentation timestamps of every frame, sorted, with keyframe flags) comes from
demuxing packets, which reads the file but decodes nothing. Both video backends use it:
it is the reference that decord's own count is checked against, and PyAV's random access
maps timestamps to frame indices with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.limits import MAX_FRAME_PIXELS, MAX_FRAMES

# A leading run of undecodable packets longer than this is not "a cut mid-GOP" but junk.
_MAX_LEADING_PACKETS = 1000


# Decoding the last frame at open proves the tail decodes, but costs decoding from its
# keyframe; past this many frames the last keyframe is checked instead.
TAIL_CHECK_MAX_DECODE = 120

TRUNCATION_WARN_FRAMES = 0.5
"""A video whose container declares at least this many frame periods more than its last
frame reaches is reported as looking truncated (a warning; more than 0.5 s or 3 frames
missing is an error). Half a frame: durations are exact to the tick in the containers that
store them, and the last frame's own duration comes from its packet."""


@dataclass(frozen=True)
class VideoProbe:
    """What the container says about a video, checked against one decoded frame.

    pts: N int64, sorted presentation timestamps (stream time base) of the frames that
        decode; frame ``i`` is the one with ``pts[i]``.
    keyframes: N bool, True where a decoder can start.
    timestamps: N float64, seconds from the stream's start time.
    first_frame: H×W×3 uint8 RGB, frame 0 as PyAV decodes it (display rotation applied).
    quarter_turns: counter-clockwise quarter turns (``np.rot90``'s k) that the stream's
        display matrix asks for, as phones record portrait video; width and height are
        the displayed (rotated) size, as decord reports them.
    skipped_leading: packets before the first decodable frame (a stream cut mid-GOP),
        left out of the index.
    warnings: one-line notes on a video that opens but is not quite what the container
        declares (a file cut near its end), each naming the file.
    """

    path: Path
    stream_index: int
    container_format: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    time_base: Fraction
    pts: np.ndarray
    keyframes: np.ndarray
    timestamps: np.ndarray
    header_frames: int
    skipped_leading: int
    first_frame: np.ndarray
    quarter_turns: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    @property
    def tail_check_index(self) -> int:
        """The frame to decode at open to check the tail: the last one, or the last
        keyframe when the last GOP is long (a single-GOP clip would decode entirely)."""
        last = self.num_frames - 1
        last_key = int(np.flatnonzero(self.keyframes)[-1])
        return last if last - last_key <= TAIL_CHECK_MAX_DECODE else last_key


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def frame_to_rgb(frame, path: Path, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """An av.VideoFrame as H×W×3 uint8 RGB (scaled to ``size`` = (width, height) when
    given); a frame FFmpeg cannot convert (a corrupt header's odd format or size) is a
    `MediaError` naming the file."""
    import av

    try:
        if size is None:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
    except (av.FFmpegError, ValueError) as exc:
        raise MediaError(f"{path}: frame {index} cannot be converted to RGB ({first_line(exc)})") from exc


def open_container(path: Path):
    """``av.open`` with every failure turned into a `MediaError` naming the path."""
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or first_line(exc)  # strerror: without the path again
        raise MediaError(
            f"{path}: not a readable video: corrupt, truncated or not a video ({reason})"
        ) from exc


def pick_video_stream(container, path: Path):
    """The first video stream that is not an attached cover picture."""
    import av

    unknown = 0
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        if stream.codec_context is None:  # FFmpeg has no decoder for the codec id it read
            unknown += 1
            continue
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        if width * height > MAX_FRAME_PIXELS:
            raise MediaError(
                f"{path}: the video stream declares {width}x{height} pixels a frame, over the "
                f"limit of {MAX_FRAME_PIXELS}; not decoded (a crafted or damaged file?)"
            )
        return stream
    if unknown:
        raise MediaError(f"{path}: corrupt video or unknown codec: no decoder for its video stream")
    raise MediaError(f"{path}: has no video stream")


def _demux_index(container, stream, path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(pts, keyframes) of the packets, sorted by pts, and the duration of the last frame
    (stream time base; 0 when the container does not say)."""
    import av

    pts: list[int | None] = []
    keys: list[bool] = []
    last_pts, last_duration = None, 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            pts.append(packet.pts if packet.pts is not None else packet.dts)
            keys.append(bool(packet.is_keyframe))
            if pts[-1] is not None and (last_pts is None or pts[-1] >= last_pts):
                last_pts, last_duration = pts[-1], int(packet.duration or 0)
            if len(pts) > MAX_FRAMES:
                raise MediaError(f"{path}: the video holds more than {MAX_FRAMES} frames, over the limit")
    except av.FFmpegError as exc:
        raise MediaError(
            f"{path}: corrupt video data after {len(pts)} frames ({first_line(exc)})"
        ) from exc
    if not pts:
        raise MediaError(f"{path}: video has no frames")
    if any(p is None for p in pts):
        # No timestamps at all (rare raw streams): decode order is presentation order.
        pts = list(range(len(pts)))
    order = np.argsort(np.asarray(pts, np.int64), kind="stable")
    return np.asarray(pts, np.int64)[order], np.asarray(keys, bool)[order], max(last_duration, 0)


def _decode_first(path: Path, stream_index: int, max_packets: int):
    """The first frame the decoder produces from the start of the file, or None."""
    import av

    with open_container(path) as container:
        stream = container.streams[stream_index]
        seen = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = stream.codec_context.decode(packet)
                except av.FFmpegError:
                    frames = []  # a leading packet that references frames before the cut
                if frames:
                    return frames[0]
                seen += 1
                if seen > max_packets:
                    break
        except av.FFmpegError:  # the demuxer gave up: no frame came before it did
            return None
    return None


def _declared_end(container, stream) -> float | None:
    """Where the container says the video stream ends, in seconds of the stream's clock:
    the stream's duration, Matroska's per-track ``DURATION`` tag, or the container's
    duration when the video is its only stream. None when nothing is declared."""
    tb = stream.time_base
    start = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
    if stream.duration is not None and tb:
        return float(stream.duration * tb) + start
    tag = _MKV_DURATION.fullmatch(str((stream.metadata or {}).get("DURATION", "")).strip())
    if tag:
        hours, minutes, seconds = tag.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds) + start
    if container.duration and len(container.streams) == 1:
        return (container.duration + (container.start_time or 0)) / 1_000_000
    return None


_MKV_DURATION = re.compile(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)")


def _check_complete(container, stream, path: Path, pts: np.ndarray, fps: float, last_duration: int) -> list[str]:
    """Raise `MediaError` when the container promises much more video than its packets
    hold; a warning (returned) when it promises a few more frames (a file cut near its end,
    as Matroska and WebM files open without complaint)."""
    header = int(stream.frames or 0)
    if header > len(pts):
        raise MediaError(
            f"{path}: truncated video: the container lists {header} frames but only "
            f"{len(pts)} are present"
        )
    end = _declared_end(container, stream)
    if end is None or not stream.time_base:
        return []
    tb = stream.time_base
    last = float(pts[-1] * tb)
    frame_s = float(last_duration * tb) if 0 < last_duration * tb < 4.0 / fps else 1.0 / fps
    missing = end - (last + frame_s)
    if missing > max(3.0 / fps, 0.5):
        raise MediaError(
            f"{path}: truncated video: the container says it lasts until {end:.2f} s but "
            f"frames stop at {last:.2f} s"
        )
    if missing * fps >= TRUNCATION_WARN_FRAMES:
        start = float(stream.start_time * tb) if stream.start_time is not None else float(pts[0] * tb)
        declared = int(round((end - start) * fps))
        return [
            f"{path}: file looks truncated: declares {end - start:.2f} s / {declared} frames, "
            f"only {len(pts)} decode (frames stop at {last - start:.2f} s)"
        ]
    return []


def _frame_rate(stream, pts: np.ndarray, tb: Fraction) -> float:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    if len(pts) > 1:
        step = float(np.median(np.diff(pts)) * tb)
        if step > 0:
            return 1.0 / step
    return 25.0  # one frame and no declared rate: any positive value will do


def probe_video(path: Path) -> VideoProbe:
    """Index and check a video file; raises `MediaError` when it is unreadable, has no
    video stream or no frames, is truncated, or no frame decodes."""
    with open_container(path) as container:
        stream = pick_video_stream(container, path)
        tb = stream.time_base or Fraction(1, 1)
        pts, keys, last_duration = _demux_index(container, stream, path)
        fps = _frame_rate(stream, pts, tb)
        warnings = _check_complete(container, stream, path, pts, fps, last_duration)
        info = dict(
            stream_index=stream.index,
            container_format=container.format.name,
            codec=stream.codec_context.name,
            pix_fmt=str(stream.codec_context.pix_fmt),
            header_frames=int(stream.frames or 0),
        )
        origin = stream.start_time if stream.start_time is not None else int(pts[0])
    first = _decode_first(path, info["stream_index"], min(len(pts), _MAX_LEADING_PACKETS))
    if first is None:
        raise MediaError(f"{path}: corrupt video: no frame can be decoded")
    skipped = 0
    if first.pts is not None and first.pts in set(pts.tolist()):
        # Packets before the first decodable frame belong to a GOP whose keyframe was cut
        # away; no decoder can show them, so they are not frames of this video.
        keep = pts >= first.pts
        skipped = int((~keep).sum())
        pts, keys = pts[keep], keys[keep]
    keys = keys.copy()
    keys[0] = True  # decoding from the start of the file always reaches frame 0
    timestamps = (pts - origin).astype(np.float64) * float(tb)
    turns = int(round((getattr(first, "rotation", 0) or 0) / 90)) % 4
    rgb = np.ascontiguousarray(np.rot90(frame_to_rgb(first, path, 0), turns))
    return VideoProbe(
        path=path,
        width=rgb.shape[1],
        height=rgb.shape[0],
        quarter_turns=turns,
        fps=fps,
        time_base=Fraction(tb),
        pts=pts,
        keyframes=keys,
        timestamps=timestamps,
        skipped_leading=skipped,
        first_frame=rgb,
        warnings=tuple(warnings),
        **info,
    )
