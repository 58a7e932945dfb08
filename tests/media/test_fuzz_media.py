"""Fuzzing media opening and decoding (`open_media`, `FrameSource.frame`) in a subprocess.

The worker (`fuzz_support.MediaWorker`) opens each file and decodes its first, middle and
last frames; a segfault in a C decoder or a hang is reported as a failure, not a lost test
run. Inputs: the sample video, still image and PNG mask, byte-mutated and renamed; bit
flips anywhere in small mp4/mkv/webm/avi files and header edits of HDR/PFM/PAM/PPM images
(`fuzz_media`); plus crafted files (empty, a PNG header declaring 100000×100000, wrong
extensions, a FIFO, symlinks to devices).
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1]))
import fuzz_media as fm
import fuzz_support as fz

LONG = os.environ.get("FRAMEWISE_FUZZ") == "long"
SCALE = 20 if LONG else 1
MEDIA_SEEDS = {
    "video": fz.SAMPLES / "video.mp4",
    "still": fz.SAMPLES / "still.jpg",
    "png": fz.SAMPLES / "masks" / "still.png",
}
SUFFIXES = (None, ".mp4", ".mkv", ".avi", ".png", ".jpg", ".tif", ".bmp", ".webp")


def png_header(width: int, height: int, colour_type: int = 2, bit_depth: int = 8) -> bytes:
    """A PNG whose IHDR (valid CRC) declares ``width``×``height`` with almost no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def worker():
    media_worker = fz.MediaWorker()
    yield media_worker
    media_worker.close()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("media_fuzz")
    (folder / "outside").mkdir()
    (folder / "outside" / "sentinel").write_text("must not change\n")
    return folder


@pytest.fixture(scope="module")
def media_seeds(tmp_path_factory) -> dict[str, Path]:
    return fm.build_media_seeds(tmp_path_factory.mktemp("media_seeds"))


def case_file(work: Path, name: str, data: bytes) -> Path:
    case = work / "case"
    if case.exists():
        import shutil

        shutil.rmtree(case)
    case.mkdir()
    path = case / name
    path.write_bytes(data)
    return path


def test_the_seeds_open(worker, work):
    for name, seed in MEDIA_SEEDS.items():
        path = case_file(work, seed.name, seed.read_bytes())
        assert fz.check_media(worker, path, guard=work, what=f"seed {name}") == "ok"


def test_a_crash_in_the_worker_is_reported_not_fatal(worker, work):
    """The pool's own contract: a worker that dies is seen as a crash and replaced."""
    worker.run(case_file(work, "still.jpg", MEDIA_SEEDS["still"].read_bytes()))
    os.kill(worker._proc.pid, 9)
    result = worker.run(work / "case" / "still.jpg")
    assert result["outcome"] == "crash"
    assert worker.run(work / "case" / "still.jpg")["outcome"] == "ok"


@settings(max_examples=60 * SCALE, deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    seed=st.sampled_from(sorted(MEDIA_SEEDS)),
    plan=st.lists(st.tuples(st.sampled_from(fz.BYTE_OPS), st.integers(0, 2**31), st.integers(0, 2**31)),
                  min_size=1, max_size=4),
    suffix=st.sampled_from(SUFFIXES),
)
def test_fuzz_media(worker, work, seed, plan, suffix):
    data = MEDIA_SEEDS[seed].read_bytes()
    for op, a, b in plan:
        data = fz.byte_step(data, op, a, b)
    source = MEDIA_SEEDS[seed]
    path = case_file(work, source.stem + (suffix or source.suffix), data)
    fz.check_media(worker, path, guard=work, what=f"{seed} as {path.name}, plan {plan!r}")
    assert (work / "outside" / "sentinel").read_text() == "must not change\n"


def test_the_container_and_image_seeds_open(worker, work, media_seeds):
    for name, seed in media_seeds.items():
        path = case_file(work, seed.name if name in fm.CONTAINERS else f"small_{name}.png", seed.read_bytes())
        assert fz.check_media(worker, path, guard=work, what=f"seed {name}") == "ok"


@settings(max_examples=120 * SCALE, deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kind=st.sampled_from(sorted(fm.CONTAINERS)),
       flips=st.lists(st.integers(0, 2**40), min_size=1, max_size=3))
def test_fuzz_container_bit_flips(worker, work, media_seeds, kind, flips):
    """Bits flipped anywhere in a real mp4/mkv/webm/avi (issue #17: an AttributeError
    traceback for about 1 in 150 such files)."""
    seed = media_seeds[kind]
    path = case_file(work, seed.name, fm.flip_bits(seed.read_bytes(), flips))
    fz.check_media(worker, path, guard=work, what=f"{kind} with bits {flips} flipped")


@settings(max_examples=100 * SCALE, deadline=None, derandomize=not LONG, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(kind=st.sampled_from(fm.IMAGES),
       plan=st.lists(st.tuples(st.sampled_from(fm.IMAGE_OPS), st.integers(0, 2**31), st.integers(0, 2**31)),
                     min_size=1, max_size=3),
       suffix=st.sampled_from(fm.IMAGE_SUFFIXES))
def test_fuzz_images_pillow_cannot_read(worker, work, media_seeds, kind, plan, suffix):
    """HDR/PFM/PAM/PPM with edited header numbers, named as any image (issue #17: a header
    declaring 17000×17000 reached OpenCV's decoder)."""
    seed = media_seeds[kind]
    path = case_file(work, f"small{suffix or seed.suffix}", fm.mutate_image(seed.read_bytes(), plan))
    fz.check_media(worker, path, guard=work, what=f"{kind} as {path.name}, plan {plan!r}")


@pytest.mark.parametrize("name", ["empty.mp4", "empty.png", "empty.jpg", "empty.mkv", "empty.tif"])
def test_zero_length_files(worker, work, name):
    path = case_file(work, name, b"")
    assert fz.check_media(worker, path, guard=work, what=name) == "error"


@pytest.mark.parametrize("width, height", [(100000, 100000), (30000, 30000), (1, 10**9), (0, 5), (2**31 - 1, 1)])
def test_png_headers_declaring_huge_sizes_are_refused_before_decoding(worker, work, width, height):
    path = case_file(work, "huge.png", png_header(width, height))
    result = worker.run(path)
    assert result["outcome"] == "error", result
    assert str(path) in result["message"] and "\n" not in result["message"]


def test_huge_declared_size_says_why(work):
    from engine.errors import MediaError
    from engine.media.open import open_media

    path = case_file(work, "huge.png", png_header(100000, 100000))
    with pytest.raises(MediaError, match="declares too many pixels|over the limit"):
        open_media(path)


@pytest.mark.parametrize("seed, name", [("video", "clip.png"), ("still", "still.mp4"), ("png", "mask.jpg"),
                                        ("video", "clip.txt"), ("still", "noext")])
def test_wrong_extensions(worker, work, seed, name):
    path = case_file(work, name, MEDIA_SEEDS[seed].read_bytes())
    fz.check_media(worker, path, guard=work, what=f"{seed} named {name}")


@pytest.mark.parametrize("keep", [0.02, 0.3, 0.6, 0.95])
def test_truncated_video(worker, work, keep):
    data = MEDIA_SEEDS["video"].read_bytes()
    path = case_file(work, "cut.mp4", data[: int(len(data) * keep)])
    assert fz.check_media(worker, path, guard=work, what=f"video truncated to {keep:.0%}") == "error"


def test_special_files_are_refused_without_blocking(worker, work):
    """A FIFO would block the decoder forever and /dev/zero would fill the memory."""
    case = work / "case"
    for name, make in [("pipe.mp4", lambda p: os.mkfifo(p)), ("zero.png", lambda p: os.symlink("/dev/zero", p)),
                       ("zero.mp4", lambda p: os.symlink("/dev/zero", p))]:
        case_file(work, "placeholder", b"")
        path = case / name
        make(path)
        result = worker.run(path, timeout=15)
        assert result["outcome"] == "error" and "not a regular file" in result["message"], result


def test_image_folder_with_one_corrupt_frame(worker, work, tmp_path):
    folder = work / "case"
    case_file(work, "frame_0.jpg", (fz.FRAMES / "frame_0.jpg").read_bytes())
    for k in (1, 2):
        (folder / f"frame_{k}.jpg").write_bytes((fz.FRAMES / f"frame_{k}.jpg").read_bytes())
    data = (fz.FRAMES / "frame_2.jpg").read_bytes()
    (folder / "frame_2.jpg").write_bytes(data[: len(data) // 3])
    result = worker.run(folder)
    # the truncated last frame: decoded with grey fill (JPEG) or refused, never a crash
    assert result["outcome"] in ("ok", "error"), result
    (folder / "frame_1.jpg").write_bytes(png_header(100000, 100000))
    result = worker.run(folder)
    assert result["outcome"] == "error" and "frame_1.jpg" in result["message"], result
