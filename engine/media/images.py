"""Still images and image sequences (a folder or a glob pattern) as `FrameSource`s.

Images are read with OpenCV and converted to H×W×3 uint8 RGB: grayscale is replicated,
alpha is dropped (the colour channels are kept as stored), 16-bit and float images are
scaled to 8 bits, and JPEG EXIF orientation is applied.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.limits import MAX_FRAME_PIXELS
from engine.media.image_headers import HEADER_BYTES, check_header, read_header
from engine.media.source import DEFAULT_IMAGE_FPS, IMAGE_EXTENSIONS, FrameSource

_GLOB_CHARS = re.compile(r"[*?\[]")
_DIGITS = re.compile(r"(\d+)")


def is_glob_pattern(text: str) -> bool:
    return bool(_GLOB_CHARS.search(text))


def natural_sort_key(name: str) -> tuple:
    """Sort key where digit runs compare as numbers: ``frame2`` < ``frame10``.

    Ties (``f01`` vs ``f1``) fall back to the plain name so the order is total.
    """
    parts = _DIGITS.split(name)
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p != "")
    return (key, name)


def list_image_files(folder_or_pattern: Path | str) -> list[Path]:
    """Image files of a folder (not recursive, hidden files skipped) or matched by a glob
    pattern, naturally sorted by file name. Raises `MediaError` when there are none."""
    if isinstance(folder_or_pattern, Path) or not is_glob_pattern(str(folder_or_pattern)):
        folder = Path(folder_or_pattern)
        try:
            entries = list(folder.iterdir())
        except OSError as exc:
            raise MediaError(f"{folder}: cannot list folder: {exc}") from exc
        what = "folder"
    else:
        entries = [Path(p) for p in glob.glob(os.path.expanduser(str(folder_or_pattern)))]
        folder = Path(folder_or_pattern)
        what = "pattern"
    files = [
        p for p in entries
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    if not files:
        known = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise MediaError(f"{folder}: {what} has no image files ({known})")
    return sorted(files, key=lambda p: natural_sort_key(p.name))


_CONVERT_ROWS = 512
"""Rows converted at a time by `to_rgb8`: a 16-bit or float image is scaled block by block
into the output, so the conversion costs one H×W×3 uint8 array, not several float copies."""


def to_rgb8(image: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """OpenCV's decoded array (H×W, H×W×1, H×W×3 BGR or H×W×4 BGRA; uint8, uint16 or
    float) as an H×W×3 uint8 RGB array. 16-bit values are rounded to 8 bits, floats are
    taken as 0..1 (NaN as 0, clipped); alpha is dropped. in_place: a contiguous H×W×3
    uint8 ``image`` may be converted in place (no second frame in memory)."""
    import cv2

    if image.dtype != np.uint8 and image.dtype != np.uint16 and image.dtype.kind != "f":
        raise ValueError(f"unsupported image dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    code = {2: cv2.COLOR_GRAY2RGB, 3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}
    channels = 2 if image.ndim == 2 else image.shape[2]
    if channels not in code:
        raise ValueError(f"unsupported number of channels {channels}")
    if image.dtype == np.uint8 and not (channels == 3 and in_place):
        return cv2.cvtColor(image, code[channels])
    if image.dtype == np.uint8:  # BGR to RGB in place, a block at a time (OpenCV copies whole sources)
        for top in range(0, image.shape[0], _CONVERT_ROWS):
            rows = image[top : top + _CONVERT_ROWS]
            cv2.cvtColor(rows, code[channels], dst=rows)
        return image
    out = np.empty((image.shape[0], image.shape[1], 3), np.uint8)
    for top in range(0, image.shape[0], _CONVERT_ROWS):
        rows = image[top : top + _CONVERT_ROWS]
        if rows.dtype == np.uint16:
            block = ((rows.astype(np.uint32) + 128) // 257).astype(np.uint8)
        else:
            scaled = np.nan_to_num(rows.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
            scaled *= 255.0
            scaled += 0.5
            block = np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
        cv2.cvtColor(block, code[channels], dst=out[top : top + _CONVERT_ROWS])
    return out


def read_image(path: Path) -> np.ndarray:
    """Read one image file as H×W×3 uint8 RGB, or raise `MediaError` naming the path.

    The size the header declares is checked first (`check_header`), for every format
    OpenCV decodes, so a crafted header never reaches the decoder."""
    import cv2

    try:
        raw = Path(path).read_bytes()  # not cv2.imread: it cannot say why it failed
    except OSError as exc:
        raise MediaError(f"{path}: cannot read image: {exc}") from exc
    if not raw:
        raise MediaError(f"{path}: image file is empty")
    header = check_header(path, raw)
    # ANYCOLOR|ANYDEPTH keeps 16-bit depth and grayscale but, unlike UNCHANGED, applies
    # EXIF orientation, so the frame matches what image viewers show. Radiance HDR is
    # decoded straight to 8 bits: OpenCV holds two float copies otherwise (measured at the
    # pixel limit: 6.2 GB against 3.9 GB for a 17 MB file).
    flags = cv2.IMREAD_COLOR if header.format == "Radiance HDR" else cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    try:
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), flags)
    except cv2.error as exc:  # OpenCV's messages span lines: keep ours on one
        raise MediaError(f"{path}: cannot decode image: {' '.join(str(exc).split())}") from exc
    del raw
    if image is None or image.size == 0:
        raise MediaError(f"{path}: cannot decode image (corrupt or not an image)")
    try:
        return np.ascontiguousarray(to_rgb8(image, in_place=image.flags.c_contiguous))
    except ValueError as exc:
        raise MediaError(f"{path}: {exc}") from exc


ID_MASK_MODES = ("P", "L", "I", "I;16", "1")
"""Pillow modes `read_id_mask` takes as ids (palette indexes or grey values); ``LA`` is
read as its ``L`` channel."""


def read_id_mask(path: Path | str) -> np.ndarray:
    """H×W object ids of a mask image: a palette PNG's indexes or a grey image's values
    (0 = background), uint8 for 8-bit masks (wider for 16- and 32-bit ones).

    The one mask reader: ground truth of the evaluations (DAVIS annotations, click masks
    with 128 as an ignore band), prelabel's first-frame masks, the sample set's masks.
    Pixel values are kept, never colours: a palette PNG gives its indexes, where OpenCV
    would give the palette's colours. Raises `MediaError` naming the path for a missing
    or corrupt file or a colour image.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise MediaError(
                    f"{path}: mask header declares {width}x{height} pixels, over the limit of "
                    f"{MAX_IMAGE_PIXELS}; not decoded (a crafted or damaged file?)"
                )
            if image.mode == "LA":  # grey with an alpha channel (some DAVIS annotations)
                image = image.getchannel("L")
            if image.mode not in ID_MASK_MODES:
                raise MediaError(f"{path}: mode {image.mode} is not an id mask (palette or grey PNG)")
            ids = np.asarray(image)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit, below ours
        raise MediaError(f"{path}: mask header declares too many pixels ({' '.join(str(exc).split())[:120]})") from exc
    except Exception as exc:  # Pillow's readers raise OSError, SyntaxError, ValueError, EOFError, struct.error…
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise MediaError(f"{path}: cannot read the mask: {reason}") from exc
    return ids.astype(np.uint8) if ids.dtype == bool else ids


MAX_IMAGE_PIXELS = MAX_FRAME_PIXELS
"""Images whose header declares more pixels than this (16384×16384) are refused before
decoding: a few bytes of crafted header would otherwise make the decoder allocate gigabytes.
`check_header` enforces it for every format OpenCV decodes, `read_id_mask` for masks."""


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding (EXIF orientation applied),
    or None when unknown (the per-read shape check then catches a mismatch)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(0x0112, 1)  # EXIF 5-8 swap width and height
    except Exception:  # not a format Pillow knows (HDR, PAM): OpenCV's header then
        try:
            with open(path, "rb") as fh:
                header = read_header(path, fh.read(HEADER_BYTES))
        except (OSError, MediaError):
            return None  # let the decoder report what is wrong when the frame is read
        return header.width, header.height
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


class ImageSource(FrameSource):
    """One still image as a one-frame source."""

    def __init__(self, path: Path, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        super().__init__(
            path, kind="image", backend="opencv", num_frames=1, width=w, height=h,
            fps=DEFAULT_IMAGE_FPS, timestamps=np.zeros(1), fps_nominal=True,
        )
        self._image = image
        self._image.setflags(write=False)

    def _read(self, index: int) -> np.ndarray:
        return self._image.copy()

    def _release(self) -> None:
        self._image = np.zeros((0, 0, 3), np.uint8)


class ImageSequenceSource(FrameSource):
    """Images of a folder or glob pattern, naturally sorted, as consecutive frames.

    ``files`` lists the frame files in order. Frames are decoded on demand; nothing is
    cached here (the `FrameServer` caches).
    """

    def __init__(self, path: Path | str, files: list[Path], first: np.ndarray) -> None:
        h, w = first.shape[:2]
        n = len(files)
        super().__init__(
            path, kind="image_folder", backend="opencv", num_frames=n, width=w, height=h,
            fps=DEFAULT_IMAGE_FPS, timestamps=np.arange(n) / DEFAULT_IMAGE_FPS, fps_nominal=True,
        )
        self.files = files
        self._first: np.ndarray | None = first  # frame 0, decoded by the opener; dropped on close

    def _read(self, index: int) -> np.ndarray:
        if index == 0 and self._first is not None:
            return self._first.copy()
        image = read_image(self.files[index])
        self._check_shape(self.files[index], image.shape[:2])
        return image

    def _check_shape(self, file: Path, hw: tuple[int, int]) -> None:
        if tuple(hw) != self.shape:
            raise MediaError(
                f"{file}: image is {hw[1]}x{hw[0]} but the sequence {self.path} is "
                f"{self._width}x{self._height}; all images of a sequence must have one size"
            )

    def _release(self) -> None:
        self._first = None


def open_image(path: Path) -> ImageSource:
    return ImageSource(path, read_image(path))


def open_image_sequence(folder_or_pattern: Path | str) -> ImageSequenceSource:
    """Open a folder or glob pattern; checks every header's size up front (cheap) so a
    mismatched image is reported at open rather than mid-session."""
    files = list_image_files(folder_or_pattern)
    first = read_image(files[0])
    source = ImageSequenceSource(folder_or_pattern, files, first)
    expected = (first.shape[1], first.shape[0])
    for f in files[1:]:
        size = _header_size(f)
        if size is not None and size != expected:
            source.close()
            raise MediaError(
                f"{f}: image is {size[0]}x{size[1]} but {files[0].name} is {expected[0]}x{expected[1]}; "
                f"all images of the sequence {folder_or_pattern} must have one size"
            )
    return source
