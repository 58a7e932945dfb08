"""engine.media: opening every media kind, frame content and timing, fallbacks, errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.demo import samples
from engine.errors import FrameIndexError, MediaError
from engine.media import DEFAULT_IMAGE_FPS
from engine.media import decord_video as media_decord
from engine.media.fingerprint import media_fingerprint
from engine.media.images import natural_sort_key, read_id_mask
from engine.media.open import open_media

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_media"
W, H, N, FPS = 96, 64, 30, 24


def pattern(k: int) -> np.ndarray:
    """Frame ``k`` of the synthetic test clips: colours ramp with k and a bar moves, so a
    decoded frame is identified by its nearest pattern despite codec loss. H×W×3 uint8."""
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = 30 + 5 * k
    img[..., 1] = 90
    img[..., 2] = 200 - 4 * k
    x = (3 * k) % (W - 8)
    img[:, x : x + 8] = 255
    return img


PATTERNS = np.stack([pattern(k) for k in range(N)]).astype(np.int16)


def identify(frame: np.ndarray) -> int:
    return int(np.argmin(np.abs(PATTERNS - frame.astype(np.int16)).mean(axis=(1, 2, 3))))


def write_video(path: Path, codec: str, frames=None, pix_fmt="yuv420p", options=None, fmt_options=None) -> Path:
    import av

    frames = [pattern(k) for k in range(N)] if frames is None else frames
    with av.open(str(path), "w", options=fmt_options or {}) as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        if options:
            stream.options = options
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def assert_media_error(excinfo, path) -> None:
    message = str(excinfo.value)
    assert str(path) in message, message
    assert "\n" not in message, message


# -- videos ------------------------------------------------------------------------------
CONTAINERS = [
    ("mp4", "libx264", "yuv420p"),
    ("mov", "libx264", "yuv420p"),
    ("mkv", "ffv1", "yuv444p"),
    ("avi", "mpeg4", "yuv420p"),
    ("webm", "libvpx-vp9", "yuv420p"),
]


@pytest.mark.parametrize("ext,codec,pix_fmt", CONTAINERS)
def test_every_container_opens_with_right_frames_and_timing(tmp_path, ext, codec, pix_fmt):
    path = write_video(tmp_path / f"clip.{ext}", codec, pix_fmt=pix_fmt)
    with open_media(path) as decord_src, open_media(path, backend="pyav") as pyav_src:
        assert decord_src.backend == "decord" and pyav_src.backend == "pyav"
        for src in (decord_src, pyav_src):
            assert src.kind == "video" and src.path == path
            assert len(src) == N
            assert src.size == (W, H) and src.shape == (H, W)
            assert src.fps == pytest.approx(FPS)
            assert src.timestamps.dtype == np.float64
            np.testing.assert_allclose(src.timestamps, np.arange(N) / FPS, atol=1e-3)  # mkv/webm: ms
            frames = list(src)
            assert [identify(f) for f in frames] == list(range(N))
            assert all(f.dtype == np.uint8 and f.shape == (H, W, 3) for f in frames)
            assert np.abs(frames[7].astype(np.int16) - PATTERNS[7]).mean() < 6
        order = [17, 3, 29, 0, 28, 4, 5, 12]
        for k in order:  # both backends use FFmpeg's swscale: the same pixels
            np.testing.assert_array_equal(decord_src.frame(k), pyav_src.frame(k))


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_sample_video_content_iteration_and_random_access(backend):
    with open_media(SAMPLES / "video.mp4", backend=backend) as src:
        assert (len(src), src.size, src.fps) == (samples.NUM_FRAMES, samples.VIDEO_SIZE, samples.FPS)
        np.testing.assert_allclose(src.timestamps, np.arange(samples.NUM_FRAMES) / samples.FPS, atol=1e-6)
        frames = list(src.iter_frames())
        for k in (0, 23, 24, 47):  # both sides of the keyframe at 24
            rgb, _ = samples.render_frame(k)
            assert np.abs(frames[k].astype(np.int16) - rgb).mean() < 3.5
        rng = np.random.default_rng(0)
        for k in rng.permutation(samples.NUM_FRAMES)[:16]:
            np.testing.assert_array_equal(src.frame(int(k)), frames[k])
        stepped = list(src.iter_frames(5, 40, 7))
        assert len(stepped) == 5
        for got, k in zip(stepped, range(5, 40, 7)):
            np.testing.assert_array_equal(got, frames[k])
        assert list(src.iter_frames(47, 200)) and not list(src.iter_frames(48))


def test_decord_iteration_with_slow_consumer_parks_and_stays_exact(monkeypatch):
    monkeypatch.setattr(media_decord.DecordVideoSource, "MAX_CHUNK_FRAMES", 4)
    with open_media(SAMPLES / "video.mp4") as src:
        reference = [src.frame(k) for k in range(0, 48, 5)]
        parks_before = src.parks
        got = []
        for k, frame in enumerate(src):
            if k % 5 == 0:
                got.append(frame)
            if k % 9 == 0:
                time.sleep(0.12)  # idle longer than PARK_AFTER_S: decord's run-ahead is stopped
        assert src.parks > parks_before
        for a, b in zip(got, reference):
            np.testing.assert_array_equal(a, b)


def test_decord_run_ahead_is_parked_when_idle():
    with open_media(SAMPLES / "video.mp4") as src:
        parks = src.parks
        src.frame(3)
        deadline = time.monotonic() + 3
        while src.parks == parks and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        assert src.parks == parks + 1  # once, and not again while nothing is read
        np.testing.assert_array_equal(src.frame(4), list(src.iter_frames(4, 5))[0])


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_display_rotation_is_applied_by_both_backends(tmp_path, degrees):
    """Phones store portrait video as landscape plus a display rotation."""
    import av

    path = tmp_path / f"rot{degrees}.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        stream.set_display_rotation(degrees)
        for k in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pattern(k), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    expected = np.rot90(PATTERNS[1], degrees // 90)  # counter-clockwise, as players show it
    with open_media(path) as a, open_media(path, backend="pyav") as b:
        assert a.backend == "decord" and a.shape == b.shape == expected.shape[:2]
        for src in (a, b):
            assert np.abs(src.frame(1).astype(np.int16) - expected).mean() < 3


def test_decord_reader_is_recycled_after_many_seeks(monkeypatch):
    monkeypatch.setattr(media_decord._Reader, "RECYCLE_AFTER_SEEKS", 3)
    with open_media(SAMPLES / "video.mp4") as src, open_media(SAMPLES / "video.mp4", backend="pyav") as ref:
        opens = src._reader.opens
        order = (40, 5, 30, 2, 47, 11, 25, 1)  # eight seeks whether or not it parks between
        got = [src.frame(k) for k in order]
        assert src._reader.opens == opens + 2
        for k, frame in zip(order, got):
            np.testing.assert_array_equal(frame, ref.frame(k))


def test_pyav_fallback_when_decord_cannot_open(tmp_path, monkeypatch):
    decord = media_decord.import_decord()

    def refuse(*args, **kwargs):
        raise decord.DECORDError("simulated: cannot open")

    monkeypatch.setattr(decord, "VideoReader", refuse)
    path = write_video(tmp_path / "clip.mp4", "libx264")
    with open_media(path) as src:
        assert src.backend == "pyav"
        assert "decord cannot open" in src.fallback_reason
        assert [identify(f) for f in src] == list(range(N))
    with pytest.raises(MediaError) as excinfo:
        open_media(path, backend="decord")
    assert_media_error(excinfo, path)


def test_pyav_fallback_when_decord_miscounts(tmp_path, monkeypatch):
    monkeypatch.setattr(media_decord._Reader, "__len__", lambda self: len(self._vr) + 3)
    path = write_video(tmp_path / "clip.mkv", "libx264")
    with open_media(path) as src:
        assert src.backend == "pyav" and len(src) == N
        assert f"decord counts {N + 3} frames" in src.fallback_reason


def test_pyav_fallback_real_case_stream_cut_mid_gop(tmp_path):
    """A stream copied from the middle of a GOP (``ffmpeg -ss … -c copy``): decord counts
    the undecodable leading packets as frames and fills them with copies; PyAV drops them."""
    import av

    cut = tmp_path / "cut.mp4"
    with av.open(str(SAMPLES / "video.mp4")) as inp, av.open(str(cut), "w") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for i, packet in enumerate(inp.demux(stream)):
            if packet.dts is None or i < 10:
                continue
            packet.stream = copy
            out.mux(packet)
    assert len(media_decord.import_decord().VideoReader(str(cut))) == 38  # what decord claims
    with open_media(cut) as src:
        assert src.backend == "pyav"
        assert "mid-GOP" in src.fallback_reason
        assert len(src) == 24  # frames 24..47: from the keyframe at 24 on
        for k in (0, 23):
            rgb, _ = samples.render_frame(24 + k)
            assert np.abs(src.frame(k).astype(np.int16) - rgb).mean() < 3.5
        np.testing.assert_allclose(np.diff(src.timestamps), 1 / samples.FPS, atol=1e-6)


def test_png_reads_after_decord_is_loaded():
    """decord's bundled zlib breaks OpenCV's PNG reader if decord loads first (fresh process)."""
    code = (
        "from engine.media import open_media\n"
        f"open_media({str(SAMPLES / 'video.mp4')!r}).frame(0)\n"
        "import cv2\n"
        f"assert cv2.imread({str(SAMPLES / 'masks' / 'video' / '00000.png')!r}) is not None\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# -- images ------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"])
def test_still_image_formats(tmp_path, ext):
    rgb = pattern(5)
    path = tmp_path / f"still.{ext}"
    assert cv2.imwrite(str(path), rgb[..., ::-1])
    with open_media(path) as src:
        assert (src.kind, src.backend, len(src)) == ("image", "opencv", 1)
        assert src.size == (W, H) and src.fps == DEFAULT_IMAGE_FPS and src.fps_nominal
        np.testing.assert_array_equal(src.timestamps, [0.0])
        frame = src.frame(0)
        assert frame.dtype == np.uint8 and frame.shape == (H, W, 3)
        tolerance = 4 if ext in ("jpg", "jpeg", "webp") else 0
        assert np.abs(frame.astype(np.int16) - rgb).max() <= max(tolerance * 10, 0)
        assert np.abs(frame.astype(np.int16) - rgb).mean() <= tolerance


def test_grayscale_alpha_and_16_bit_images(tmp_path):
    gray = np.arange(H * W, dtype=np.uint32).reshape(H, W) % 251
    cv2.imwrite(str(tmp_path / "gray.png"), gray.astype(np.uint8))
    bgra = np.dstack([pattern(2)[..., ::-1], np.full((H, W), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    cv2.imwrite(str(tmp_path / "deep.png"), (gray * 257).astype(np.uint16))
    cv2.imwrite(str(tmp_path / "deep.tif"), np.dstack([(gray * 257).astype(np.uint16)] * 3))
    np.testing.assert_array_equal(open_media(tmp_path / "gray.png").frame(0), np.dstack([gray] * 3))
    np.testing.assert_array_equal(open_media(tmp_path / "alpha.png").frame(0), pattern(2))
    np.testing.assert_array_equal(open_media(tmp_path / "deep.png").frame(0), np.dstack([gray] * 3))
    np.testing.assert_array_equal(open_media(tmp_path / "deep.tif").frame(0), np.dstack([gray] * 3))


def test_natural_sort_key():
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.png", "frame02.png", "a.png"]
    assert sorted(names, key=natural_sort_key) == [
        "a.png", "frame1.png", "frame02.png", "frame2.png", "Frame3.png", "frame10.png"]


def test_image_folder_natural_order_and_glob(tmp_path):
    for k in (1, 2, 10, 3, 20):
        cv2.imwrite(str(tmp_path / f"frame{k}.png"), pattern(k)[..., ::-1])
    (tmp_path / "notes.txt").write_text("not an image")
    cv2.imwrite(str(tmp_path / ".hidden.png"), pattern(0))
    with open_media(tmp_path) as src:
        assert (src.kind, src.backend, len(src)) == ("image_folder", "opencv", 5)
        assert [f.name for f in src.files] == ["frame1.png", "frame2.png", "frame3.png", "frame10.png", "frame20.png"]
        assert [identify(f) for f in src] == [1, 2, 3, 10, 20]
        np.testing.assert_allclose(src.timestamps, np.arange(5) / DEFAULT_IMAGE_FPS)
        assert src.fps_nominal
    with open_media(str(tmp_path / "frame1*.png")) as src:
        assert [identify(f) for f in src] == [1, 10]


def test_sample_image_folder_and_still_match_generator():
    manifest = samples.load_manifest(SAMPLES)
    with open_media(SAMPLES / manifest["image_folder"]["path"]) as src:
        assert len(src) == samples.FOLDER_FRAMES and src.size == samples.VIDEO_SIZE
        for k in (2, 10, 23):  # frame_10 must come after frame_9, not after frame_1
            rgb, _ = samples.render_frame(k)
            assert np.abs(src.frame(k).astype(np.int16) - rgb).mean() < 3
    still, still_ids = samples.render_still()
    with open_media(SAMPLES / manifest["still"]["path"]) as src:
        assert src.size == samples.STILL_SIZE
        assert np.abs(src.frame(0).astype(np.int16) - still).mean() < 3
    np.testing.assert_array_equal(read_id_mask(SAMPLES / manifest["still"]["mask"]), still_ids)
    for k in (0, 31, 47):
        np.testing.assert_array_equal(read_id_mask(SAMPLES / f"masks/video/{k:05d}.png"), samples.render_frame(k)[1])
    first_masks = read_id_mask(SAMPLES / "masks/video/00000.png")
    for obj in manifest["objects"]:
        x, y = obj["video"]["click"]
        assert first_masks[y, x] == obj["id"]
        x, y = obj["still"]["click"]
        assert still_ids[y, x] == obj["id"]
    assert {o["id"] for o in manifest["objects"]} == {1, 2, 3}
    assert sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file()) < 3_000_000


# -- errors ------------------------------------------------------------------------------
def _truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    out = path.with_name("cut_" + path.name)
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def _zero_frame_avi(tmp_path: Path) -> Path:
    import av

    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height = W, H
        container.start_encoding()
    return path


def _audio_only(tmp_path: Path) -> Path:
    import av

    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


BAD_MEDIA = {
    "missing": (lambda d: d / "nope.mp4", "no such file"),
    "unknown extension": (lambda d: (d / "clip.txt").write_text("x") and d / "clip.txt", "unknown media extension"),
    "corrupt video": (lambda d: (d / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000)) and d / "junk.mp4",
                      "not a readable video"),
    "empty video file": (lambda d: (d / "nil.mkv").write_bytes(b"") or d / "nil.mkv", "not a readable video"),
    "truncated mp4 (moov at end)": (lambda d: _truncate(write_video(d / "a.mp4", "libx264"), 0.6), "not a readable video"),
    "truncated mp4 (faststart)": (
        lambda d: _truncate(write_video(d / "b.mp4", "libx264", fmt_options={"movflags": "faststart"}), 0.6), "truncated"),
    "truncated mkv": (lambda d: _truncate(write_video(d / "c.mkv", "ffv1", pix_fmt="yuv444p"), 0.6), "truncated"),
    # AVI keeps its index at the end: whether FFmpeg still opens the rest depends on the cut.
    "truncated avi": (lambda d: _truncate(write_video(d / "d.avi", "mpeg4"), 0.6), ("truncated", "not a readable video")),
    "zero-frame video": (_zero_frame_avi, "no frames"),
    "no video stream": (_audio_only, "no video stream"),
    "empty folder": (lambda d: (d / "empty").mkdir() or d / "empty", "no image files"),
    "glob without matches": (lambda d: str(d / "none_*.png"), "no image files"),
    "undecodable image": (lambda d: (d / "bad.png").write_bytes(b"\x89PNG not really") and d / "bad.png", "cannot decode image"),
    "empty image file": (lambda d: (d / "nil.jpg").write_bytes(b"") or d / "nil.jpg", "image file is empty"),
}


@pytest.mark.parametrize("case", list(BAD_MEDIA))
def test_bad_media_raise_one_line_media_error_naming_the_path(tmp_path, case):
    make, expected = BAD_MEDIA[case]
    path = make(tmp_path)
    with pytest.raises(MediaError) as excinfo:
        open_media(path)
    assert_media_error(excinfo, path)
    expected = (expected,) if isinstance(expected, str) else expected
    assert any(e in str(excinfo.value) for e in expected), str(excinfo.value)


def test_mixed_size_image_sequence_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "f1.png"), pattern(1))
    cv2.imwrite(str(tmp_path / "f2.png"), cv2.resize(pattern(2), (W // 2, H // 2)))
    with pytest.raises(MediaError) as excinfo:
        open_media(tmp_path)
    assert "f2.png" in str(excinfo.value) and "one size" in str(excinfo.value)


def test_frame_index_errors_and_close(tmp_path):
    src = open_media(SAMPLES / "video.mp4")
    for bad in (-1, 48, 1000):
        with pytest.raises(FrameIndexError) as excinfo:
            src.frame(bad)
        assert f"frame {bad}" in str(excinfo.value) and "48" in str(excinfo.value)
        assert str(SAMPLES / "video.mp4") in str(excinfo.value)
        assert isinstance(excinfo.value, IndexError)
    with pytest.raises(TypeError):
        src.frame(True)
    with pytest.raises(FrameIndexError):
        list(src.iter_frames(-1))
    with pytest.raises(ValueError):
        list(src.iter_frames(0, 10, 0))
    assert src.frame(np.int64(2)).shape == (360, 640, 3)
    src.close()
    src.close()
    with pytest.raises(MediaError):
        src.frame(0)
    with open_media(SAMPLES / "still.jpg") as still:
        with pytest.raises(FrameIndexError):
            still.frame(1)
    assert still.closed


def test_media_fingerprint(tmp_path):
    a = write_video(tmp_path / "a.mp4", "libx264")
    b = tmp_path / "renamed.mp4"
    b.write_bytes(a.read_bytes())
    assert media_fingerprint(a) == media_fingerprint(b)
    data = bytearray(a.read_bytes())
    data[len(data) // 2] ^= 0xFF
    c = tmp_path / "c.mp4"
    c.write_bytes(bytes(data))
    assert media_fingerprint(c) != media_fingerprint(a)
    folder = tmp_path / "seq"
    folder.mkdir()
    for k in range(3):
        cv2.imwrite(str(folder / f"f{k}.png"), pattern(k))
    first = media_fingerprint(folder)
    assert media_fingerprint(folder) == first and len(first) == 64
    assert media_fingerprint(str(folder / "f*.png")) == first
    (folder / "f2.png").rename(folder / "f9.png")
    assert media_fingerprint(folder) != first
    with pytest.raises(MediaError):
        media_fingerprint(tmp_path / "missing.mp4")
