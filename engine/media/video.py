"""Open a video file: decord first, PyAV when decord cannot be trusted for the file.

decord is rejected (and PyAV used) when it cannot open the file, counts a different number
of frames than the container index, decodes frame 0 or the last frame at a different size
or not at all, or decodes a frame 0 that differs from PyAV's; and when the stream starts
mid-GOP, where decord silently fills the undecodable leading frames with copies.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.errors import MediaError
from engine.media.decord_video import DecordRejected, DecordVideoSource
from engine.media.probe import probe_video
from engine.media.pyav_video import PyAVVideoSource
from engine.media.source import FrameSource

log = logging.getLogger(__name__)


def open_video(path: Path, *, backend: str | None = None) -> FrameSource:
    """A `FrameSource` for a video file; ``backend`` forces ``decord`` or ``pyav``.

    Raises `MediaError` naming the path for unreadable, empty, truncated or corrupt
    files, and when ``backend="decord"`` is forced on a file decord cannot read. A file
    that opens but looks cut near its end has a note on the source's ``warnings`` (logged
    at INFO; `framewise info` prints them).
    """
    probe = probe_video(path)
    for warning in probe.warnings:  # on `FrameSource.warnings`: `framewise info` prints them
        log.info("%s", warning)
    reason = "PyAV was asked for"
    if backend != "pyav":
        try:
            return DecordVideoSource.open(probe)
        except DecordRejected as exc:
            if backend == "decord":
                raise MediaError(f"{path}: decord cannot read this video: {exc}") from exc
            reason = str(exc)
            log.info("%s: using PyAV: %s", path, reason)
    source = PyAVVideoSource(probe, fallback_reason=reason if backend != "pyav" else None)
    try:
        source.validate_tail()
    except MediaError as exc:
        source.close()
        raise MediaError(f"{path}: truncated or corrupt video: its last frames cannot be decoded") from exc
    return source
