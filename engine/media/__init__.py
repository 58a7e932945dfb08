"""Media access: `open_media(path) -> FrameSource` for videos, still images and image sequences.

A `FrameSource` is a random-access sequence of frames (H×W×3 uint8 RGB) with timing:

- video (mp4, mov, mkv, avi, webm): decoded with decord, or with PyAV when decord cannot be
  trusted for the file (see `engine.media.video.open_video` for the criteria);
- a still image (png, jpg/jpeg, tif/tiff, bmp, webp): one frame, read with OpenCV;
- an image sequence: a folder of images or a glob pattern, naturally sorted
  (``frame2`` before ``frame10``), all of one size.

Every failure the file can cause (missing, unknown extension, corrupt, truncated, empty)
is a `MediaError` whose one-line message names the path. Heavy libraries (decord, av, cv2)
are imported by the functions that use them, so importing this module is cheap.
"""

from engine.media.fingerprint import media_fingerprint, media_info
from engine.media.open import open_media
from engine.media.source import (
    BACKENDS,
    DEFAULT_IMAGE_FPS,
    IMAGE_EXTENSIONS,
    MEDIA_KINDS,
    VIDEO_EXTENSIONS,
    FrameSource,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_IMAGE_FPS",
    "IMAGE_EXTENSIONS",
    "MEDIA_KINDS",
    "VIDEO_EXTENSIONS",
    "FrameSource",
    "media_fingerprint",
    "media_info",
    "open_media",
]
