"""`open_media(path) -> FrameSource`: picks the reader for a video, an image, a folder or a glob."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import MediaError
from engine.media import images as media_image
from engine.media import video as media_video
from engine.media.source import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FrameSource


def open_media(path: Path | str, *, backend: str | None = None) -> FrameSource:
    """Open a video, a still image, a folder of images or a glob pattern of images.

    backend: force ``decord`` or ``pyav`` for a video (default: decord with a PyAV
    fallback); images always use OpenCV.
    Raises `MediaError` naming the path when it is missing, of an unknown kind, corrupt,
    truncated or empty.
    """
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


