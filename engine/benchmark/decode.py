"""Decode throughput: framewise's media layer against the bare decoders on the same file.

    from engine.benchmark.decode import bench_decode, format_decode
    print(format_decode(bench_decode()))

Every method decodes the same frames in order to H×W×3 uint8 RGB and touches each frame
(so lazy work is paid for): bare ``decord.VideoReader.next()``, bare PyAV
``container.decode(video=0)`` + ``to_ndarray("rgb24")``, `FrameSource` iteration with each
backend, and `FrameServer.get_frame` paging (every frame in order, the UI's path).
Ratios are against bare decord.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED_VIDEOS = REPO.parent / "shared" / "data" / "videos"
DEFAULT_SHARED = "01_dog.mp4"


def default_video() -> Path:
    """A real 720p clip from ../shared/data when present, else the bundled sample video."""
    shared = SHARED_VIDEOS / DEFAULT_SHARED
    return shared if shared.is_file() else REPO / "sample_media" / "video.mp4"


def _bare_decord(path: Path, frames: int) -> Iterator[np.ndarray]:
    from engine.media_decord import import_decord

    decord = import_decord()
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    try:
        for _ in range(min(frames, len(reader))):
            yield reader.next().asnumpy()
    finally:
        del reader


def _bare_pyav(path: Path, frames: int) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n >= frames:
                break
            yield frame.to_ndarray(format="rgb24")


def _source_iteration(backend: str) -> Callable[[Path, int], Iterator[np.ndarray]]:
    def run(path: Path, frames: int) -> Iterator[np.ndarray]:
        from engine.media import open_media

        with open_media(path, backend=backend) as source:
            yield from source.iter_frames(0, frames)

    return run


def _server_paging(path: Path, frames: int) -> Iterator[np.ndarray]:
    from engine.frames import FrameServer
    from engine.media import open_media

    with open_media(path) as source, FrameServer(source, window=(0, 0)) as server:
        for k in range(min(frames, len(source))):
            yield server.get_frame(k)


METHODS: dict[str, Callable[[Path, int], Iterator[np.ndarray]]] = {
    "bare decord (VideoReader.next)": _bare_decord,
    "bare PyAV (decode + to_ndarray)": _bare_pyav,
    "FrameSource iteration (decord)": _source_iteration("decord"),
    "FrameSource iteration (pyav)": _source_iteration("pyav"),
    "FrameServer.get_frame paging": _server_paging,
}
BASELINE = "bare decord (VideoReader.next)"


Method = Callable[[Path, int], Iterator[np.ndarray]]


def _time(method: Method, path: Path, frames: int, bar) -> tuple[float, int]:
    start = time.perf_counter()
    count = 0
    checksum = 0
    for frame in method(path, frames):
        checksum += int(frame[0, 0, 0])  # touch the pixels
        count += 1
        if bar is not None:
            bar.update(1)
    return time.perf_counter() - start, count


def bench_decode(path: Path | str | None = None, frames: int | None = None, progress: bool = True,
                 repeats: int = 2) -> dict:
    """Sequential decode frames/s per method on one video (best of ``repeats`` runs,
    since a shared machine's load only ever slows a run down).

    path: default `default_video()`. frames: decode at most this many (default: all).
    Returns ``{"path", "frames", "width", "height", "backend", "cpu_count", "machine",
    "methods": {name: {"seconds", "fps", "ratio_vs_bare_decord"}}}``.
    """
    from engine.media import open_media

    video = Path(path) if path is not None else default_video()
    with open_media(video) as source:
        total = len(source) if frames is None else min(int(frames), len(source))
        width, height = source.size
        backend = source.backend
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total * len(METHODS) * repeats, unit="frame", desc=f"decode {video.name}")
    results: dict[str, dict[str, float]] = {}
    try:
        for name, method in METHODS.items():
            best = float("inf")
            for _ in range(repeats):
                seconds, count = _time(method, video, total, bar)
                if count != total:
                    raise AssertionError(f"{name} decoded {count} frames, expected {total}")
                best = min(best, seconds)
            results[name] = {"seconds": best, "fps": total / best}
    finally:
        if bar is not None:
            bar.close()
    base = results[BASELINE]["fps"]
    for row in results.values():
        row["ratio_vs_bare_decord"] = row["fps"] / base
    return {
        "path": str(video), "frames": total, "width": width, "height": height, "backend": backend,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "repeats": repeats, "methods": results,
    }


def format_decode(result: dict) -> str:
    """A plain-text table of `bench_decode`'s result."""
    lines = [
        f"{Path(result['path']).name}: {result['frames']} frames, {result['width']}x{result['height']}, "
        f"open_media backend {result['backend']}, {result['cpu_count']} CPUs, best of {result['repeats']}",
        f"{'method':34s} {'frames/s':>9s} {'seconds':>8s} {'vs decord':>9s}",
    ]
    for name, row in result["methods"].items():
        lines.append(f"{name:34s} {row['fps']:9.1f} {row['seconds']:8.2f} {row['ratio_vs_bare_decord']:9.2f}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m engine.benchmark.decode [video] [frames]
    import sys

    args = sys.argv[1:]
    print(format_decode(bench_decode(args[0] if args else None, int(args[1]) if len(args) > 1 else None)))
