"""The size an image file declares, read from its header before any decoder runs.

OpenCV picks its decoder by the file's first bytes, whatever the file's name, and allocates
what the header declares: a few hundred bytes of Radiance HDR header declaring 17000×17000
made `framewise info` take 11 GB. So the size is checked here for every format OpenCV
decodes, by the same signature OpenCV looks at:

- formats Pillow parses (PNG, JPEG, BMP, GIF, TIFF, WebP, Sun raster, JPEG 2000, AVIF):
  Pillow reads the header, restricted to that one format's plugin, so a file Pillow would
  take for something else cannot slip past (a JPEG 2000 file also has its codestream's
  ``SIZ`` marker read, which is what OpenJPEG allocates from);
- formats Pillow does not know or reads differently (Radiance HDR, PAM, PFM and the PNM
  family): a parser here that follows OpenCV's own header reader;
- anything else (OpenEXR, unknown signatures): refused, never decoded blindly.

When a file matches several signatures (a crafted polyglot), every matching reading must
succeed and the largest size counts. `engine` also sets ``OPENCV_IO_MAX_IMAGE_PIXELS`` before
OpenCV is imported, so OpenCV's own check backs this one up.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MediaError
from engine.limits import MAX_FRAME_PIXELS

HEADER_BYTES = 64 << 10
"""Text headers (HDR, PAM, PNM) are looked for in this many leading bytes."""


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header declares: its format (OpenCV's decoder) and size."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


class _Unreadable(Exception):
    """A header that does not say its size (the message says why)."""


_SPACE = b" \t\n\v\f\r"


def _isspace(data: bytes, index: int) -> bool:
    return len(data) > index and data[index] in _SPACE


# -- formats parsed here ---------------------------------------------------------------------


def _fgets_lines(data: bytes, size: int = 128) -> list[bytes]:
    """``data`` split as C's ``fgets(buf, size)`` reads it: at most ``size - 1`` bytes a line,
    newline kept (OpenCV's HDR reader reads its header this way)."""
    lines: list[bytes] = []
    pos = 0
    while pos < len(data) and len(lines) < 4096:
        end = data.find(b"\n", pos, pos + size - 1)
        stop = end + 1 if end >= 0 else min(pos + size - 1, len(data))
        lines.append(data[pos:stop])
        pos = stop
    return lines


_HDR_SIZE = re.compile(rb"\s*[-+]\s*[XY]\s*([-+]?\d+)\s*[-+]\s*[XY]\s*([-+]?\d+)")


def _hdr_size_from(lines: list[bytes]) -> tuple[int, int] | None:
    """(width, height) from the resolution line that follows the header's blank line."""
    for i, line in enumerate(lines[1:], start=1):
        if line in (b"\n", b"") or line.startswith(b"\0"):
            if i + 1 >= len(lines):
                return None
            match = _HDR_SIZE.match(lines[i + 1])
            if match is None:
                return None
            first, second = int(match.group(1)), int(match.group(2))
            y_first = lines[i + 1].lstrip()[1:2] == b"Y"
            return (second, first) if y_first else (first, second)
    return None


def _hdr(data: bytes) -> tuple[int, int]:
    """Radiance HDR: text lines, a blank line, then ``-Y height +X width``. Read both as
    OpenCV reads it (128-byte ``fgets`` lines) and as whole lines; the larger counts."""
    head = data[:HEADER_BYTES]
    sizes = [s for s in (_hdr_size_from(_fgets_lines(head)), _hdr_size_from(head.split(b"\n"))) if s]
    if not sizes:
        raise _Unreadable("no '-Y height +X width' line after the header")
    return max(sizes, key=lambda s: abs(s[0] * s[1]))


_NUMBER = re.compile(rb"\d+")


def _pnm_numbers(data: bytes, start: int, count: int) -> list[int]:
    """``count`` decimal numbers after ``start``, separated by white space and ``#``
    comments (OpenCV's PxM and PFM readers)."""
    numbers: list[int] = []
    pos = start
    while len(numbers) < count:
        while pos < len(data) and (data[pos] in _SPACE or data[pos] == ord("#")):
            if data[pos] == ord("#"):
                while pos < len(data) and data[pos] not in b"\r\n":
                    pos += 1
            pos += 1
        match = _NUMBER.match(data, pos)
        if match is None:
            raise _Unreadable(f"expected a number at byte {pos}")
        numbers.append(int(match.group()))
        pos = match.end()
    return numbers


def _pnm(data: bytes) -> tuple[int, int]:
    """PBM/PGM/PPM (``P1``…``P6``) and PFM (``PF``/``Pf``): width then height."""
    width, height = _pnm_numbers(data[:HEADER_BYTES], 2, 2)
    return width, height


def _pam(data: bytes) -> tuple[int, int]:
    """PAM (``P7``): ``WIDTH w`` and ``HEIGHT h`` lines up to ``ENDHDR``; repeated keys
    count at their largest."""
    found: dict[bytes, int] = {}
    for line in re.split(rb"[\r\n]", data[:HEADER_BYTES])[1:]:
        words = line.split(b"#", 1)[0].split()
        if words and words[0].upper() == b"ENDHDR":
            break
        if len(words) >= 2 and words[0].upper() in (b"WIDTH", b"HEIGHT"):
            if not re.fullmatch(rb"[-+]?\d+", words[1]):
                raise _Unreadable(f"{words[0].decode('latin-1')} is not a number")
            found[words[0].upper()] = max(found.get(words[0].upper(), 0), abs(int(words[1])))
    if b"WIDTH" not in found or b"HEIGHT" not in found:
        raise _Unreadable("no WIDTH and HEIGHT lines")
    return found[b"WIDTH"], found[b"HEIGHT"]


def _j2k_codestream(data: bytes) -> tuple[int, int]:
    """JPEG 2000: the image area of the codestream's ``SIZ`` marker (what OpenJPEG allocates)."""
    at = data.find(b"\xff\x4f\xff\x51")
    if at < 0 or len(data) < at + 24:
        raise _Unreadable("no SIZ marker")
    xsiz, ysiz, x0, y0 = struct.unpack(">IIII", data[at + 8 : at + 24])
    return max(xsiz - x0, 0), max(ysiz - y0, 0)


# -- formats Pillow parses -------------------------------------------------------------------


def _pillow(plugin: str) -> Callable[[bytes], tuple[int, int]]:
    def read(data: bytes) -> tuple[int, int]:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data), formats=[plugin]) as image:
                return image.size
        except Image.DecompressionBombError as exc:
            match = re.search(r"\((\d+) pixels\)", str(exc))
            pixels = int(match.group(1)) if match else MAX_FRAME_PIXELS + 1
            return pixels, 1  # only the product matters to the caller
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error…
            raise _Unreadable(" ".join(str(exc).split())[:160] or type(exc).__name__) from exc

    return read


def _jpeg2000(data: bytes) -> tuple[int, int]:
    sizes = [_pillow("JPEG2000")(data), _j2k_codestream(data)]
    return max(sizes, key=lambda s: s[0] * s[1])


# (name, signature test, size reader or None when the size cannot be checked), in OpenCV's order.
_FORMATS: list[tuple[str, Callable[[bytes], bool], Callable[[bytes], tuple[int, int]] | None]] = [
    ("BMP", lambda d: d[:2] == b"BM", _pillow("BMP")),
    ("Radiance HDR", lambda d: d.startswith((b"#?RGBE", b"#?RADIANCE")), _hdr),
    ("JPEG", lambda d: d[:3] == b"\xff\xd8\xff", _pillow("JPEG")),
    ("WebP", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _pillow("WEBP")),
    ("Sun raster", lambda d: d[:4] == b"\x59\xa6\x6a\x95", _pillow("SUN")),
    ("PNM", lambda d: d[:1] == b"P" and d[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and _isspace(d, 2), _pnm),
    ("PFM", lambda d: d[:1] == b"P" and d[1:2] in (b"f", b"F") and _isspace(d, 2), _pnm),
    ("TIFF", lambda d: d[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), _pillow("TIFF")),
    ("PNG", lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", _pillow("PNG")),
    ("JPEG 2000", lambda d: d[:12] == b"\0\0\0\x0cjP  \r\n\x87\n" or d[:4] == b"\xff\x4f\xff\x51", _jpeg2000),
    ("OpenEXR", lambda d: d[:4] == b"\x76\x2f\x31\x01", None),
    ("PAM", lambda d: d[:2] == b"P7" and _isspace(d, 2), _pam),
    ("GIF", lambda d: d[:6] in (b"GIF87a", b"GIF89a"), _pillow("GIF")),
    ("AVIF", lambda d: d[4:8] == b"ftyp", _pillow("AVIF")),
]


def read_header(path: Path | str, data: bytes) -> ImageHeader:
    """The format and size ``data`` (the content of ``path``) declares, as OpenCV would
    decode it; raises `MediaError` naming ``path`` when no decoder takes it or its size
    cannot be read from the header."""
    matches = [(name, reader) for name, accepts, reader in _FORMATS if accepts(data)]
    if not matches:
        raise MediaError(f"{path}: cannot decode image: not an image format OpenCV reads (starts with {data[:8]!r})")
    found: list[ImageHeader] = []
    for name, reader in matches:
        if reader is None:
            raise MediaError(
                f"{path}: cannot decode image: {name} images are not supported (their size cannot be checked before decoding)"
            )
        try:
            width, height = reader(data)
        except _Unreadable as exc:
            raise MediaError(f"{path}: cannot decode image: unreadable {name} header ({exc})") from None
        found.append(ImageHeader(name, width, height))
    return max(found, key=lambda h: abs(h.pixels))


def check_header(path: Path | str, data: bytes, limit: int = MAX_FRAME_PIXELS) -> ImageHeader:
    """`read_header`, refusing a declared size that is empty or over ``limit`` pixels."""
    header = read_header(path, data)
    if header.pixels > limit:
        size = f"{header.width}x{header.height}" if header.height != 1 or header.width <= limit else f"{header.width}"
        raise MediaError(
            f"{path}: {header.format} image header declares {size} pixels, over the limit of {limit}; "
            f"not decoded (a crafted or damaged file?)"
        )
    if header.width <= 0 or header.height <= 0:
        raise MediaError(f"{path}: {header.format} image header declares an empty image ({header.width}x{header.height})")
    return header
