"""Decode throughput: framewise's media layer against the bare decoders on the same file.

    from engine.evaluation.bench_decode import bench_decode, format_decode
    print(format_decode(bench_decode()))

Every method decodes the same frames in order to H×W×3 uint8 RGB and touches each frame
(so lazy work is paid for): bare ``decord.VideoReader.next()``, bare PyAV
``container.decode(video=0)`` + ``to_ndarray("rgb24")``, `FrameSource` iteration with each
backend, and `FrameServer.get_frame` paging (every frame in order, the UI's path).
Frames/s time the decoding loop; opening (for `open_media`: probing the container and
cross-checking decord, see `engine.media.video`) is timed apart. Ratios are against bare
decord.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.frames.server import FrameServer
from engine.media.decord_video import import_decord
from engine.media.open import open_media

REPO = Path(__file__).resolve().parents[2]
SHARED_VIDEOS = REPO.parent / "shared" / "data" / "videos"
DEFAULT_SHARED = "01_dog.mp4"


def default_video() -> Path:
    """A real 720p clip from ../shared/data when present, else the bundled sample video."""
    shared = SHARED_VIDEOS / DEFAULT_SHARED
    return shared if shared.is_file() else REPO / "sample_media" / "video.mp4"


class _Run:
    """One method's run: ``open()`` then ``frames()`` (timed apart), then ``close()``."""

    def __init__(self, path: Path, count: int) -> None:
        self.path, self.count = path, count

    def open(self) -> None: ...

    def frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None: ...


class _BareDecord(_Run):
    def open(self) -> None:
        decord = import_decord()
        self.reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0))

    def frames(self) -> Iterator[np.ndarray]:
        for _ in range(self.count):
            yield self.reader.next().asnumpy()

    def close(self) -> None:
        del self.reader


class _BarePyAV(_Run):
    def open(self) -> None:
        import av

        self.container = av.open(str(self.path))

    def frames(self) -> Iterator[np.ndarray]:
        for n, frame in enumerate(self.container.decode(video=0)):
            if n >= self.count:
                break
            yield frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        self.container.close()


class _SourceIteration(_Run):
    backend: str | None = "decord"  # None: open_media's choice

    def open(self) -> None:
        self.source = open_media(self.path, backend=self.backend)

    def frames(self) -> Iterator[np.ndarray]:
        return self.source.iter_frames(0, self.count)

    def close(self) -> None:
        self.source.close()


class _SourceIterationPyAV(_SourceIteration):
    backend = "pyav"


class _ServerPaging(_SourceIteration):
    backend = None

    def open(self) -> None:
        super().open()
        self.server = FrameServer(self.source, window=(0, 0))

    def frames(self) -> Iterator[np.ndarray]:
        return (self.server.get_frame(k) for k in range(self.count))

    def close(self) -> None:
        self.server.close()
        super().close()


METHODS: dict[str, type[_Run]] = {
    "bare decord (VideoReader.next)": _BareDecord,
    "bare PyAV (decode + to_ndarray)": _BarePyAV,
    "FrameSource iteration (decord)": _SourceIteration,
    "FrameSource iteration (pyav)": _SourceIterationPyAV,
    "FrameServer.get_frame paging": _ServerPaging,
}
BASELINE = "bare decord (VideoReader.next)"


def _time(method: type[_Run], path: Path, count: int, bar) -> tuple[float, float, int]:
    """(open seconds, decode seconds, frames decoded)."""
    run = method(path, count)
    start = time.perf_counter()
    run.open()
    opened = time.perf_counter()
    decoded = 0
    try:
        for frame in run.frames():
            int(frame[-1, -1, -1])  # touch the pixels
            decoded += 1
            if bar is not None:
                bar.update(1)
        done = time.perf_counter()
    finally:
        run.close()
    return opened - start, done - opened, decoded


def bench_decode(path: Path | str | None = None, frames: int | None = None, progress: bool = True,
                 repeats: int = 3) -> dict:
    """Sequential decode frames/s per method on one video (best of ``repeats`` runs,
    since a shared machine's load only ever slows a run down).

    path: default `default_video()`. frames: decode at most this many (default: all).
    Returns ``{"path", "frames", "width", "height", "backend", "cpu_count", "machine",
    "repeats", "methods": {name: {"seconds", "fps", "open_seconds", "ratio_vs_bare_decord"}}}``.
    """
    video = Path(path) if path is not None else default_video()
    with open_media(video) as source:
        total = len(source) if frames is None else min(int(frames), len(source))
        width, height = source.size
        backend = source.backend
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total * len(METHODS) * repeats, unit="frame", desc=f"decode {video.name}")
    best: dict[str, tuple[float, float]] = {name: (float("inf"), float("inf")) for name in METHODS}
    try:
        for _ in range(repeats):  # round robin, so that load changes hit every method alike
            for name, method in METHODS.items():
                open_s, seconds, count = _time(method, video, total, bar)
                if count != total:
                    raise AssertionError(f"{name} decoded {count} frames, expected {total}")
                best[name] = (min(best[name][0], open_s), min(best[name][1], seconds))
    finally:
        if bar is not None:
            bar.close()
    results = {
        name: {"seconds": seconds, "fps": total / seconds, "open_seconds": open_s}
        for name, (open_s, seconds) in best.items()
    }
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
        f"{'method':34s} {'frames/s':>9s} {'decode s':>8s} {'vs decord':>9s} {'open s':>7s}",
    ]
    for name, row in result["methods"].items():
        lines.append(
            f"{name:34s} {row['fps']:9.1f} {row['seconds']:8.2f} "
            f"{row['ratio_vs_bare_decord']:9.2f} {row['open_seconds']:7.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m engine.evaluation.bench_decode [video] [frames]
    import sys

    args = sys.argv[1:]
    print(format_decode(bench_decode(args[0] if args else None, int(args[1]) if len(args) > 1 else None)))
