"""Media fuzzing seeds and mutations beyond the sample files (issue #17).

- containers: the sample video's first frames re-encoded as small mp4 (H.264), mkv (H.264),
  webm (VP9) and avi (MPEG-4 part 2) files; the mutation is bit flips anywhere in the
  file, headers, indexes and frame data alike (`flip_bits`). One flipped bit in an ``stsd``
  box or a Matroska codec id used to end in an `AttributeError` traceback.
- images Pillow cannot read (Radiance HDR, PFM, PAM) and the PNM family, which OpenCV
  decodes whatever the file is named; the mutations rewrite the numbers of the text header
  (`header_numbers`: 0, -1, 17000, 2**31, ...) or edit bytes (`fuzz_mutations.byte_step`).
  A header declaring 17000×17000 used to reach the decoder (11 GB).

Plans are plain ints, so hypothesis (`tests/media/test_fuzz_media.py`) and ``random.Random``
(``tools/fuzz.py``) drive the same code; `fuzz_support.check_media` judges each case.
"""

from __future__ import annotations

import re
from pathlib import Path

from fuzz_mutations import BYTE_OPS, byte_step

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "sample_media" / "video.mp4"

CONTAINERS = {  # extension: (codec, stream options)
    "mp4": ("libx264", {"g": "4"}),
    "mkv": ("libx264", {"g": "4"}),
    "webm": ("libvpx-vp9", {"g": "4", "deadline": "realtime", "cpu-used": "8"}),
    "avi": ("mpeg4", {"g": "4"}),
}
IMAGES = ("hdr", "pfm", "pam", "ppm")
IMAGE_SUFFIXES = (".png", ".tif", ".jpg", ".webp", None)
"""Names the image seeds get: the known extensions a user's file could carry (None: its own,
which `open_media` refuses by name)."""

IMAGE_OPS = ("numbers", "numbers") + BYTE_OPS  # header numbers twice as often as byte edits
NUMBERS = (b"0", b"-1", b"1", b"+7", b"16385", b"17000", b"65536", b"2147483647", b"2147483648",
           b"4294967297", b"99999999999999999999", b"", b"1e9")
_DIGITS = re.compile(rb"[-+]?\d+")
_HEADER = 256
"""Header numbers are looked for in the first this many bytes."""


def build_media_seeds(folder: Path, frames: int = 12) -> dict[str, Path]:
    """Write the container seeds (``frames`` frames of the sample video at 160×90, 12 fps,
    a keyframe every 4) and the image seeds (16×12) into ``folder``; name -> path."""
    import av
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(SAMPLE_VIDEO)) as source:
        rgb = [f.to_ndarray(format="rgb24")[::4, ::4].copy() for _, f in zip(range(frames), source.decode(video=0))]
    seeds: dict[str, Path] = {}
    for ext, (codec, options) in CONTAINERS.items():
        path = folder / f"clip.{ext}"
        with av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=12)
            stream.width, stream.height, stream.pix_fmt = rgb[0].shape[1], rgb[0].shape[0], "yuv420p"
            stream.options = dict(options)
            for image in rgb:
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        seeds[ext] = path
    bgr = np.ascontiguousarray(cv2.resize(rgb[0], (16, 12))[..., ::-1])
    for ext in IMAGES:
        path = folder / f"small.{ext}"
        image = bgr.astype(np.float32) / 255 if ext in ("hdr", "pfm") else bgr
        if not cv2.imwrite(str(path), image):
            raise RuntimeError(f"OpenCV cannot write {path}")
        seeds[ext] = path
    return seeds


def flip_bits(data: bytes, positions: list[int]) -> bytes:
    """``data`` with one bit flipped per position (bit index, modulo the file's bits)."""
    out = bytearray(data)
    for position in positions:
        bit = position % (8 * len(out)) if out else 0
        if out:
            out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def header_numbers(data: bytes, a: int, b: int) -> bytes:
    """Replace the ``a``-th number of the header (first 256 bytes) with ``NUMBERS[b]``."""
    found = list(_DIGITS.finditer(data[:_HEADER]))
    if not found:
        return data
    match = found[a % len(found)]
    return data[: match.start()] + NUMBERS[b % len(NUMBERS)] + data[match.end():]


def image_step(data: bytes, op: str, a: int, b: int) -> bytes:
    return header_numbers(data, a, b) if op == "numbers" else byte_step(data, op, a, b)


def mutate_image(data: bytes, plan: list[tuple[str, int, int]]) -> bytes:
    for op, a, b in plan:
        data = image_step(data, op, a, b)
    return data


def random_flips(rng) -> list[int]:
    return [rng.randrange(2**40) for _ in range(rng.randint(1, 3))]


def random_image_plan(rng) -> list[tuple[str, int, int]]:
    return [(rng.choice(IMAGE_OPS), rng.randrange(2**31), rng.randrange(2**31)) for _ in range(rng.randint(1, 3))]
