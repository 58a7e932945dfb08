#!/usr/bin/env python3
"""Long work: page through a long 1080p video and propagate one object over thousands of frames.

    python tools/long_run.py --minutes 10 [--propagate 5000] [--propagate-size 320x180]
        [--backend classic|warp] [--seed 0] [--cache DIR] [--json OUT]

1. Synthetic H.264 videos (`synth_video`): a textured background that pans slowly and a
   textured ellipse moving on a smooth path, rendered with numpy and encoded with PyAV
   (libx264 ``ultrafast``, one keyframe every 2 s). They are made once and kept in
   ``--cache`` (default ``~/.cache/framewise-long/``), named by their parameters.
2. Paging (`page`): a `FrameServer` (frames only, ``--frame-cache-mib`` budget) with the
   cursor moved to every frame in turn and ``get_frame`` on it, as holding → in the editor.
3. Propagation (`tools.long_propagate.propagate`): the ellipse's frame-0 mask carried
   forwards by permanent drawing (``Editor.propagate`` into a `Project`, one transaction
   per frame), by default with the classic segmenter re-prompted on every frame, on a
   small version of the scene (``--propagate-size``, default 320×180: the classic backend
   at 1080p would make a 5 000-frame run take many hours). ``--backend warp`` propagates
   with the dense flow alone, which drifts on this scene (see docs/RELIABILITY.md).

Reported: frames/s (wall and CPU time) over the first and the last 10 % of each phase (a
leak of time), and resident memory (VmRSS sampled, VmHWM peak, reset before each phase
through ``/proc/self/clear_refs``) against the configured cache budgets (a leak of memory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = Path.home() / ".cache" / "framewise-long"
SYNTH_VERSION = 1

from tools.long_measure import MIB, Meter, Phase, rss_mib  # noqa: E402
from tools.long_propagate import PropagateOptions, propagate  # noqa: E402


# -- the synthetic video -------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    """A panning textured background and one textured ellipse (the object to propagate)."""

    width: int = 1920
    height: int = 1080
    fps: int = 30
    seed: int = 0
    pad: int = 240  # background margin the pan moves within
    axes: tuple[float, float] = (170.0, 120.0)  # ellipse semi-axes (x, y), pixels
    speed: float = 1.0  # of the object and the pan (1: up to ~6 px/frame at 1080p)

    def centre(self, frame_index: int) -> tuple[float, float]:
        """The ellipse centre (x, y) in frame pixels: a slow Lissajous path."""
        t = frame_index / self.fps * self.speed
        return (self.width / 2 + 0.3 * self.width * np.sin(2 * np.pi * t / 20),
                self.height / 2 + 0.25 * self.height * np.sin(2 * np.pi * t / 13))

    def pan(self, frame_index: int) -> tuple[int, int]:
        t = frame_index / self.fps * self.speed
        half = self.pad // 2
        return (int(round(half + half * np.sin(2 * np.pi * t / 30))), int(round(half + half * np.cos(2 * np.pi * t / 45))))

    def mask(self, frame_index: int) -> np.ndarray:
        """The ellipse on ``frame_index``: H×W bool (pixel centres inside)."""
        cx, cy = self.centre(frame_index)
        y, x = np.ogrid[: self.height, : self.width]
        return ((x + 0.5 - cx) / self.axes[0]) ** 2 + ((y + 0.5 - cy) / self.axes[1]) ** 2 <= 1.0


def _texture(rng: np.random.Generator, height: int, width: int, tint: tuple[float, float, float]) -> np.ndarray:
    """Smooth multi-scale noise, H×W×3 uint8, coloured by ``tint``."""
    import cv2

    grey = np.zeros((height, width), np.float32)
    for cell, weight in ((64, 0.5), (16, 0.3), (4, 0.2)):
        small = rng.random((height // cell + 2, width // cell + 2), dtype=np.float32)
        grey += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    grey = (grey - grey.min()) / max(float(np.ptp(grey)), 1e-6)
    return np.clip(grey[..., None] * np.array(tint, np.float32) * 255, 0, 255).astype(np.uint8)


class Renderer:
    """Frames of a `Scene`: H×W×3 uint8 RGB, a few milliseconds each at 1080p."""

    def __init__(self, scene: Scene) -> None:
        rng = np.random.default_rng(scene.seed)
        self.scene = scene
        self.background = _texture(rng, scene.height + scene.pad, scene.width + scene.pad, (0.55, 0.8, 0.45))
        ax, ay = (int(np.ceil(a)) + 2 for a in scene.axes)
        self.sprite = _texture(rng, 2 * ay, 2 * ax, (1.0, 0.5, 0.3))
        self.sprite[..., 0] = np.maximum(self.sprite[..., 0], 120)  # reddish: unlike the background

    def frame(self, frame_index: int) -> np.ndarray:
        s = self.scene
        ox, oy = s.pan(frame_index)
        frame = self.background[oy: oy + s.height, ox: ox + s.width].copy()
        cx, cy = s.centre(frame_index)
        sh, sw = self.sprite.shape[:2]
        x0, y0 = int(np.floor(cx)) - sw // 2, int(np.floor(cy)) - sh // 2
        ys, xs = slice(max(y0, 0), min(y0 + sh, s.height)), slice(max(x0, 0), min(x0 + sw, s.width))
        y, x = np.ogrid[ys, xs]
        inside = ((x + 0.5 - cx) / s.axes[0]) ** 2 + ((y + 0.5 - cy) / s.axes[1]) ** 2 <= 1.0
        patch = self.sprite[ys.start - y0: ys.stop - y0, xs.start - x0: xs.stop - x0]
        frame[ys, xs][inside] = patch[inside]
        return frame


def synth_video(scene: Scene, frames: int, folder: Path) -> Path:
    """The scene's first ``frames`` frames as an H.264 mp4 in ``folder`` (made once, reused)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    speed = "" if scene.speed == 1 else f"-speed{scene.speed:g}"
    path = folder / f"synth-v{SYNTH_VERSION}-{scene.width}x{scene.height}-{scene.fps}fps-{frames}f-seed{scene.seed}{speed}.mp4"
    if path.is_file():
        return path
    renderer = Renderer(scene)
    handle, temporary = tempfile.mkstemp(suffix=".mp4", dir=folder)
    os.close(handle)
    try:
        with av.open(temporary, "w") as container:
            stream = container.add_stream("libx264", rate=scene.fps)
            stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "23", "threads": "1",
                              "x264-params": f"keyint={2 * scene.fps}:min-keyint={2 * scene.fps}:scenecut=0"}
            for frame_index in range(frames):
                image = av.VideoFrame.from_ndarray(renderer.frame(frame_index), format="rgb24")
                for packet in stream.encode(image):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


# -- the phases -----------------------------------------------------------------------------
def page(path: Path, frames: int, frame_cache_bytes: int) -> Phase:
    """Move a frames-only `FrameServer`'s cursor over frames 0 … frames-1, reading each."""
    from engine.frames.server import FrameServer
    from engine.media.open import open_media

    with open_media(path) as source:
        frames = min(frames, len(source))
        with FrameServer(source, None, frame_cache_bytes=frame_cache_bytes) as server:
            meter = Meter("page")
            checksum = 0
            for frame_index in range(frames):
                server.set_cursor(frame_index)
                checksum += int(server.get_frame(frame_index)[540 % source.shape[0], 0, 0])
                meter.tick()
            state = server.cache_state()
            return meter.done(backend=source.backend, frames_cached=state.frames_cached,
                              frame_cache_mib=round(state.frame_bytes / MIB, 1), checksum=checksum)


# -- driver ---------------------------------------------------------------------------------
def small_scene(width: int, height: int, fps: int = 30, seed: int = 0) -> Scene:
    """The scene of the propagation runs: the 480×270 layout (60×45 px ellipse, 80 px pan
    margin, a quarter of the speed) scaled to ``width``."""
    f = width / 480
    return Scene(width, height, fps=fps, seed=seed, axes=(60.0 * f, 45.0 * f), pad=int(round(80 * f)), speed=0.25)


def run(*, page_frames: int, propagate_frames: int, seed: int = 0, cache: Path = CACHE,
        frame_cache_mib: int = 256, size: tuple[int, int] = (1920, 1080), fps: int = 30,
        propagate_size: tuple[int, int] | None = None, work: Path | None = None,
        options: PropagateOptions | None = None) -> dict:
    """Make (or reuse) the videos, page through one, propagate on the other; the figures as a dict.

    page_frames / propagate_frames: 0 skips the phase. propagate_size: propagate on a
    `small_scene` video of that size (None: on the paging video). options: of the
    propagation (default: classic backend, the given frame budget, 512 MiB of embeddings).
    """
    options = options or PropagateOptions(frame_cache_mib=frame_cache_mib)
    scene = Scene(width=size[0], height=size[1], fps=fps, seed=seed)
    other = None if propagate_size in (None, tuple(size)) else small_scene(*propagate_size, fps=fps, seed=seed)
    total = max(page_frames, propagate_frames + 1 if other is None and propagate_frames else 0)
    started = time.perf_counter()
    video = synth_video(scene, total, cache) if total else None
    second = synth_video(other, propagate_frames + 1, cache) if other is not None and propagate_frames else video
    made = time.perf_counter() - started
    baseline, load_start = rss_mib(), os.getloadavg()
    phases = []
    if page_frames:
        phases.append(page(video, page_frames, frame_cache_mib * MIB))
    if propagate_frames:
        with tempfile.TemporaryDirectory(dir=work) as folder:
            phases.append(propagate(second, other or scene, propagate_frames, Path(folder) / "project", options))
    return {
        "video": str(video) if page_frames else None, "size": list(size), "fps": fps, "frames": total,
        "propagate_video": str(second) if propagate_frames else None, "video_seconds": round(made, 1),
        "frame_cache_mib": frame_cache_mib, "rss_baseline_mib": round(baseline, 1),
        "propagate_budgets_mib": {"frames": options.frame_cache_mib, "embeddings": options.embed_cache_mib},
        "machine": {"cpus": os.cpu_count(), "load_average_start": [round(v, 2) for v in load_start],
                    "load_average_end": [round(v, 2) for v in os.getloadavg()]},
        "phases": [asdict(p) | {"slowdown": round(p.slowdown, 3), "cpu_slowdown": round(p.cpu_slowdown, 3)}
                   for p in phases],
    }


def report(result: dict) -> str:
    budgets = result["propagate_budgets_mib"]
    lines = [f"paged video: {result['video'] or 'none'} ({result['size'][0]}×{result['size'][1]} @ {result['fps']} fps, "
             f"frame budget {result['frame_cache_mib']} MiB); propagation video: {result['propagate_video'] or 'none'} "
             f"(budgets: frames {budgets['frames']} MiB, embeddings {budgets['embeddings']} MiB); videos made or "
             f"reused in {result['video_seconds']} s; RSS before the phases {result['rss_baseline_mib']} MiB",
             "| phase | frames | seconds | frames/s first 10 % | last 10 % | last/first | CPU frames/s first 10 % "
             "| last 10 % | last/first | RSS start → end MiB | peak MiB | notes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    samples = []
    for p in result["phases"]:
        notes = ", ".join(f"{k}={v}" for k, v in p["extra"].items() if k != "samples")
        lines.append(f"| {p['name']} | {p['frames']} | {p['seconds']:.1f} | {p['rate_first']:.1f} | "
                     f"{p['rate_last']:.1f} | {p['slowdown']:.2f} | {p['cpu_rate_first']:.1f} | "
                     f"{p['cpu_rate_last']:.1f} | {p['cpu_slowdown']:.2f} | {p['rss_start']:.0f} → {p['rss_end']:.0f} | "
                     f"{p['peak']:.0f} | {notes} |")
        samples += [f"  {p['name']} frame {s['frame']}: " + ", ".join(f"{k}={v}" for k, v in s.items() if k != "frame")
                    for s in p["extra"].get("samples", [])]
    return "\n".join(lines + samples)


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the paged video (default 10 = 18,000 frames at 30 fps; 0: no paging)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT of the paged video")
    parser.add_argument("--propagate", type=int, default=5000, help="frames to propagate the object over (0: none)")
    parser.add_argument("--propagate-size", default="320x180",
                        help="WIDTHxHEIGHT of the propagation video, or 'same' for the paged video")
    parser.add_argument("--backend", choices=("classic", "warp"), default="classic",
                        help="propagation: classic (the default: segmenter re-prompted every frame) or warp only")
    parser.add_argument("--quality", type=float, default=None, help="segmenter quality (default 0.6)")
    parser.add_argument("--frame-cache-mib", type=int, default=256, help="the FrameServer's frame LRU budget")
    parser.add_argument("--embed-cache-mib", type=int, default=512, help="the FrameServer's embedding LRU budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the videos are kept between runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    page_frames = int(round(args.minutes * 60 * args.fps))
    same = args.propagate_size == "same"
    propagate_frames = min(args.propagate, page_frames - 1) if same else args.propagate
    options = PropagateOptions(backend=None if args.backend == "warp" else args.backend, quality=args.quality,
                               frame_cache_mib=args.frame_cache_mib, embed_cache_mib=args.embed_cache_mib)
    result = run(page_frames=page_frames, propagate_frames=max(0, propagate_frames), seed=args.seed,
                 cache=args.cache, frame_cache_mib=args.frame_cache_mib, size=_size(args.size), fps=args.fps,
                 propagate_size=None if same else _size(args.propagate_size), options=options)
    result["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
