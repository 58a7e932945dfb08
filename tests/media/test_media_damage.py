"""Regression tests of issue #17 (media): image bombs in formats Pillow cannot read, one
flipped bit in a container, videos cut near their end. Each builds a minimal file of the
defect's shape and goes through ``framewise info`` (`engine.cli.main.main`)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import MediaError
from engine.media import images as media_images
from engine.media.images import read_id_mask, to_rgb8
from engine.media.open import open_media

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_media"
BOMB = 17000  # 17000² = 289e6 pixels, over the 2**28 limit (the attacker's HDR)


def hdr_bomb(width: int = BOMB, height: int = BOMB) -> bytes:
    """A Radiance HDR header declaring width×height, and one RLE scanline of data."""
    line = bytes([2, 2, width >> 8 & 255, width & 255]) + bytes([128 + 127, 0x80]) * 4
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (height, width) + line


CRAFTED = {
    "hdr": hdr_bomb(),
    "pfm": b"PF\n%d %d\n-1.0\n" % (BOMB, BOMB) + b"\0" * 64,
    "pam": b"P7\nWIDTH %d\nHEIGHT %d\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n" % (BOMB, BOMB) + b"\0" * 64,
    "ppm": b"P6\n# a comment\n%d %d\n255\n" % (BOMB, BOMB) + b"\0" * 64,
}


def info(capsys, path) -> tuple[int, str, str]:
    code = main(["info", str(path), "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, path: Path, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("framewise:")]
    assert code == 2 and len(lines) == 1, err  # EXIT_USAGE: one line, no traceback
    assert str(path) in lines[0] and "Traceback" not in err, err
    assert all(n in lines[0] for n in needles), lines[0]


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image reaches OpenCV's decoder."""
    def refuse(*args, **kwargs):
        raise AssertionError("the image reached cv2.imdecode")

    monkeypatch.setattr(cv2, "imdecode", refuse)


# -- 6. image bombs in every decoder ---------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CRAFTED))
@pytest.mark.parametrize("name", ["bomb.png", "bomb.tif", "bomb.jpg"])
def test_a_crafted_header_pillow_cannot_read_is_refused_before_decoding(capsys, tmp_path, no_decoding, kind, name):
    path = tmp_path / name
    path.write_bytes(CRAFTED[kind])
    code, _, err = info(capsys, path)
    assert_one_line_error(code, err, path, f"declares {BOMB}x{BOMB} pixels", "over the limit")


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_crafted_files_with_their_own_extension_and_in_a_folder(capsys, tmp_path, no_decoding, kind):
    own = tmp_path / f"bomb.{kind}"
    own.write_bytes(CRAFTED[kind])
    code, _, err = info(capsys, own)
    assert code == 2 and str(own) in err  # not a media extension: refused by name
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "f0.png").write_bytes(CRAFTED[kind])
    code, _, err = info(capsys, folder)
    assert_one_line_error(code, err, folder / "f0.png", "over the limit")


@pytest.mark.parametrize("ext", [".hdr", ".pfm", ".pam", ".ppm", ".pgm"])
def test_small_images_pillow_cannot_read_still_open(tmp_path, ext):
    image = np.zeros((6, 10, 3), np.uint8)
    image[:, 5:] = (0, 64, 255)
    written = tmp_path / f"small{ext}"
    data = image if ext != ".pgm" else image[..., 2]
    assert cv2.imwrite(str(written), data.astype(np.float32) / 255 if ext in (".hdr", ".pfm") else data)
    renamed = tmp_path / f"small_{ext[1:]}.png"  # as a user gets it: any known extension
    renamed.write_bytes(written.read_bytes())
    from engine.media.image_headers import read_header

    header = read_header(renamed, renamed.read_bytes())
    assert (header.width, header.height) == (10, 6)
    with open_media(renamed) as source:
        frame = source.frame(0)
    assert frame.shape == (6, 10, 3)
    assert abs(int(frame[0, 9, 0]) - 255) <= 3 and frame[0, 0].max() <= 3  # BGR on disk, RGB out


def test_an_hdr_header_read_differently_by_line_length_counts_at_its_largest(tmp_path, no_decoding):
    """OpenCV reads HDR header lines 127 bytes at a time: a 127-byte line then reads as a
    blank line, so OpenCV's size line is not the one a whole-line reader sees."""
    data = (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n" + b"A" * 127 + b"\n-Y %d +X %d\n\n-Y 4 +X 4\n" % (BOMB, BOMB))
    path = tmp_path / "tricky.png"
    path.write_bytes(data)
    with pytest.raises(MediaError, match="over the limit"):
        open_media(path)


def test_unknown_signatures_and_unparsable_headers_are_refused(tmp_path, no_decoding):
    for name, data, needle in [
        ("exr.png", b"\x76\x2f\x31\x01" + b"\0" * 64, "not supported"),
        ("noise.png", b"\x01\x02\x03junk", "not an image format"),
        ("pam.png", b"P7\nDEPTH 3\nENDHDR\n" + b"\0" * 8, "unreadable PAM header"),
        ("hdr.png", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\nno size\n", "unreadable Radiance HDR header"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(MediaError, match=needle) as caught:
            open_media(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_jpeg2000_codestream_size_counts_not_only_its_jp2_header(tmp_path):
    """JP2 files declare their size twice (``ihdr`` box, codestream ``SIZ``); OpenJPEG
    allocates from ``SIZ``, Pillow reports ``ihdr``: the larger is checked."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ihdr = box(b"ihdr", struct.pack(">IIHBBBB", 4, 4, 3, 7, 7, 0, 0))  # height, width 4
    siz = b"\xff\x4f\xff\x51" + struct.pack(">HHIIIIIIIIH", 47, 0, BOMB, BOMB, 0, 0, BOMB, BOMB, 0, 0, 3)
    siz += b"\x07\x01\x01" * 3 + b"\xff\xd9"  # three 8-bit components, end of codestream
    data = (box(b"jP  ", b"\r\n\x87\n") + box(b"ftyp", b"jp2 \0\0\0\0jp2 ")
            + box(b"jp2h", ihdr + box(b"colr", b"\x01\0\0\0\0\0\x10")) + box(b"jp2c", siz))
    path = tmp_path / "two_sizes.png"
    path.write_bytes(data)
    from engine.media.image_headers import read_header

    header = read_header(path, data)
    assert (header.format, header.width, header.height) == ("JPEG 2000", BOMB, BOMB)


def test_opencv_own_limit_is_set_before_cv2_loads():
    """Behind the header check: OpenCV refuses the bomb itself once `engine` is imported."""
    code = ("import engine, cv2, numpy as np, sys\n"
            "data = np.frombuffer(sys.stdin.buffer.read(), np.uint8)\n"
            "try:\n    cv2.imdecode(data, cv2.IMREAD_COLOR)\nexcept cv2.error as e:\n"
            "    print('refused' if 'CV_IO_MAX_IMAGE_PIXELS' in str(e) else e)\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], input=hdr_bomb(), capture_output=True, env=env, timeout=60)
    assert done.stdout.decode().strip() == "refused", done.stderr.decode()[-500:]


def test_masks_over_the_limit_are_refused_with_one_line(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_fuzz_media import png_header

    for width, height in [(15000, 15000), (BOMB, BOMB)]:  # Pillow's own limit, then ours
        path = tmp_path / f"mask_{width}.png"
        path.write_bytes(png_header(width, height, colour_type=0))
        with pytest.raises(MediaError, match="too many pixels|over the limit") as caught:
            read_id_mask(path)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_to_rgb8_converts_block_by_block_as_before(monkeypatch):
    monkeypatch.setattr(media_images, "_CONVERT_ROWS", 7)
    rng = np.random.default_rng(0)
    floats = rng.uniform(-0.2, 1.2, (20, 5, 3)).astype(np.float32)
    floats[0, 0] = np.nan
    expected = np.clip(np.nan_to_num(floats) * 255.0 + 0.5, 0, 255).astype(np.uint8)[..., ::-1]
    np.testing.assert_array_equal(to_rgb8(floats), expected)
    wide = rng.integers(0, 65536, (20, 5, 4), dtype=np.uint16)
    expected = ((wide.astype(np.uint32) + 128) // 257).astype(np.uint8)[..., 2::-1]
    np.testing.assert_array_equal(to_rgb8(wide), expected)
    grey = rng.integers(0, 256, (20, 5, 1), dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb8(grey), np.repeat(grey, 3, axis=2))
    bgr = rng.integers(0, 256, (20, 5, 3), dtype=np.uint8)
    converted = to_rgb8(bgr.copy(), in_place=True)
    np.testing.assert_array_equal(converted, bgr[..., ::-1])


# -- 10. one flipped bit in a container -------------------------------------------------------


def small_video(path: Path, codec: str = "libx264", frames: int = 12, options: dict | None = None,
                rate: int = 12) -> Path:
    """The first ``frames`` frames of the sample video at 160×90, ``rate`` fps, a keyframe every 4."""
    import av

    with av.open(str(SAMPLES / "video.mp4")) as source:
        rgb = [f.to_ndarray(format="rgb24")[::4, ::4].copy() for _, f in zip(range(frames), source.decode(video=0))]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = rgb[0].shape[1], rgb[0].shape[0], "yuv420p"
        stream.options = {"g": "4", **(options or {})}
        for image in rgb:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def flip(path: Path, offset: int, bit: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("ext, codec_id", [("mp4", b"avc1"), ("mkv", b"V_MPEG4/ISO/AVC"), ("avi", b"FMP4")])
def test_one_flipped_bit_in_the_codec_id_is_one_line(capsys, tmp_path, ext, codec_id):
    """Found by the attacker: an AttributeError traceback (PyAV's codec_context is None)."""
    path = small_video(tmp_path / f"clip.{ext}", "libx264" if ext != "avi" else "mpeg4")
    data = path.read_bytes()
    at = data.find(codec_id) if ext == "mkv" else data.rfind(codec_id)  # mp4: stsd's, avi: strf's
    assert at > 0
    flip(path, at + {"mp4": 0, "mkv": 9, "avi": 2}[ext], 1)  # avc1 -> cvc1, ISO -> KSO, FMP4 -> FMR4
    code, _, err = info(capsys, path)
    assert_one_line_error(code, err, path, "unknown codec")


def test_one_flipped_bit_in_the_mp4_keyframe_table_is_one_line(capsys, tmp_path):
    """Found by fuzzing: the first ``stss`` entry made huge, FFmpeg's seek fails with
    EPERM, which reached the user as av.error.PermissionError."""
    path = small_video(tmp_path / "clip.mp4")
    data = path.read_bytes()
    stss = data.find(b"stss")
    flip(path, stss + 12, 4)  # type(4) version/flags(4) count(4), then the first entry's top byte
    for backend in ("pyav", None):
        with pytest.raises(MediaError) as caught:
            with open_media(path, backend=backend) as source:
                for index in (0, len(source) // 2, len(source) - 1):
                    source.frame(index)
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# -- 11. Matroska / WebM cut near the end -----------------------------------------------------


@pytest.mark.parametrize("ext, codec", [("mkv", "libx264"), ("webm", "libvpx-vp9")])
@pytest.mark.parametrize("keep", [0.90, 0.98])
def test_matroska_and_webm_cut_near_the_end_say_so(capsys, tmp_path, ext, codec, keep):
    """They opened silently as shorter videos. 2 s at 24 fps: the cut loses 0.1-0.4 s,
    under the 0.5 s that refuses a file outright, so it opens with a warning."""
    options = {"deadline": "realtime", "cpu-used": "8"} if codec == "libvpx-vp9" else {}
    whole = small_video(tmp_path / f"whole.{ext}", codec, frames=48, options=options, rate=24)
    code, out, err = info(capsys, whole)
    assert code == 0 and json.loads(out)["warnings"] == [] and "warning" not in err
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: int(len(data) * keep)])
    code, out, err = info(capsys, cut)
    assert code == 0, err
    result = json.loads(out)
    assert result["frames"] < 48 and len(result["warnings"]) == 1, result
    warning = result["warnings"][0]
    assert warning.startswith(f"{cut}: file looks truncated: declares 2.00 s / 48 frames, only {result['frames']} decode")
    assert f"framewise: warning: {warning}" in err.splitlines()
