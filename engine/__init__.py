"""framewise engine: media, frames, segmenters, geometry and the Editor.

Heavy libraries (torch, segment_anything, decord) are imported lazily by the modules
that need them, so importing `engine` is cheap.
"""

import os as _os

from engine.limits import MAX_FRAME_PIXELS as _MAX_FRAME_PIXELS


def _limit_opencv_images() -> None:
    """OpenCV's own image-size check (``validateInputImageSize``) reads this variable once,
    when cv2 is loaded: set it to our limit before anything imports cv2, as a second line
    behind `engine.media.image_headers` (a smaller value set by the user is kept)."""
    name = "OPENCV_IO_MAX_IMAGE_PIXELS"
    current = _os.environ.get(name, "")
    if not (current.isdigit() and 0 < int(current) <= _MAX_FRAME_PIXELS):
        _os.environ[name] = str(_MAX_FRAME_PIXELS)


_limit_opencv_images()
