#!/usr/bin/env python3
"""Long work: page through a long 1080p video and propagate one object over thousands of frames.

    python tools/long_run.py --minutes 10 [--propagate 5000] [--seed 0] [--cache DIR] [--json OUT]

1. A synthetic H.264 video (`synth_video`): a textured background that pans slowly and a
   textured ellipse moving on a smooth path, rendered with numpy and encoded with PyAV
   (libx264 ``ultrafast``, one keyframe every 2 s). It is made once and kept in ``--cache``
   (default ``~/.cache/framewise-long/``), named by its parameters.
2. Paging (`page`): a `FrameServer` (frames only, ``--frame-cache-mib`` budget) with the
   cursor moved to every frame in turn and ``get_frame`` on it, as holding → in the editor.
3. Propagation (`propagate`): the ellipse's frame-0 mask carried forwards by the
   `Propagator` in warp-only mode (dense flow, no segmenter: the classic backend at 1080p
   would make this a multi-hour run), one label per frame written to a `Project`, one
   transaction per frame, as permanent drawing does.

Reported: frames/s over the first and the last 10 % of each phase (a leak of time), and
resident memory (VmRSS sampled, VmHWM peak, reset before each phase through
``/proc/self/clear_refs``) against the configured cache budgets (a leak of memory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = Path.home() / ".cache" / "framewise-long"
SYNTH_VERSION = 1
MIB = 1 << 20


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


# -- measuring ------------------------------------------------------------------------------
def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Phase:
    """Timing and memory of one phase. Rates in frames/s; memory in MiB."""

    name: str
    frames: int = 0
    seconds: float = 0.0
    rate_first: float = 0.0  # first 10 % of the frames
    rate_last: float = 0.0  # last 10 %
    # The same in frames per CPU second of this process: unlike wall time, not moved by
    # other jobs sharing the machine (what the CI check compares).
    cpu_rate_first: float = 0.0
    cpu_rate_last: float = 0.0
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_max_sampled: float = 0.0
    peak: float = 0.0  # VmHWM over the phase (or the sampled maximum)
    extra: dict = field(default_factory=dict)

    @property
    def slowdown(self) -> float:
        """Last-10 % rate over first-10 % rate (1.0: no slowdown)."""
        return self.rate_last / self.rate_first if self.rate_first else 0.0


class Meter:
    """Collects per-frame times and RSS samples for a `Phase`."""

    def __init__(self, name: str, sample_every: int = 50) -> None:
        self.phase = Phase(name)
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.sample_every = sample_every
        self.peak_reset = reset_peak()
        self.phase.rss_start = self.phase.rss_max_sampled = rss_mib()
        self.started = self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def tick(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.times.append(now - self._last)
        self.cpu.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu
        if len(self.times) % self.sample_every == 0:
            self.phase.rss_max_sampled = max(self.phase.rss_max_sampled, rss_mib())

    def done(self, **extra) -> Phase:
        p = self.phase
        p.frames, p.seconds = len(self.times), time.perf_counter() - self.started
        # Throughput (frames / seconds) of the first and last tenth. Paging's frame times are
        # bimodal (prefetched hits, waits for the decoder), so only a sum over a window counts.
        tenth = max(1, len(self.times) // 10)
        p.rate_first = tenth / max(sum(self.times[:tenth]), 1e-9)
        p.rate_last = tenth / max(sum(self.times[-tenth:]), 1e-9)
        p.cpu_rate_first = tenth / max(sum(self.cpu[:tenth]), 1e-9)
        p.cpu_rate_last = tenth / max(sum(self.cpu[-tenth:]), 1e-9)
        p.rss_end = rss_mib()
        p.rss_max_sampled = max(p.rss_max_sampled, p.rss_end)
        p.peak = _status_kib("VmHWM") / 1024 if self.peak_reset else p.rss_max_sampled
        p.extra = extra
        return p


# -- the phases -----------------------------------------------------------------------------
def page(path: Path, frames: int, frame_cache_bytes: int) -> Phase:
    """Move a frames-only `FrameServer`'s cursor over frames 0 … frames-1, reading each."""
    from engine.frames import FrameServer
    from engine.media import open_media

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


def propagate(path: Path, scene: Scene, frames: int, project_dir: Path) -> Phase:
    """Carry the ellipse from frame 0 over ``frames`` frames (warp only), one label per frame
    written to a project in ``project_dir``, one transaction per frame."""
    from engine.geometry import mask_iou, mask_to_polygon, shape_to_mask
    from engine.media import media_info, open_media
    from engine.ontology import Ontology
    from engine.project import Project
    from engine.propagate import Propagator, default_params
    from engine.types import Label, LabelClass

    ontology = Ontology([LabelClass("blob", "polygon", "#ff7f0e", "1")])
    with open_media(path) as source, Project.create(project_dir, ontology) as project:
        frames = min(frames, len(source) - 1)
        info = media_info(source, path.name)
        project.add_media(info)
        start = Label(1, 0, "blob", mask_to_polygon(scene.mask(0)), source="manual", confirmed=True, media=info.name)
        project.put(start)
        params = default_params(None)  # warp only
        from dataclasses import replace

        params = replace(params, on_flag="continue")  # a drifting mask must not end the run early
        meter = Meter("propagate")
        written, last_shape, last_index = 0, start.shape, 0
        for step in Propagator(None, params).propagate(source, 0, {1: start}, 1, until=frames):
            label = step.labels.get(1)
            if label is not None:
                with project.group("propagate"):
                    project.put(label, kind="propagate")
                written += 1
                last_shape, last_index = label.shape, step.frame_index
            meter.tick()
        height, width = source.shape
        iou = mask_iou(shape_to_mask(last_shape, height, width), scene.mask(last_index))
        stored = len(project.labels(info.name))
        db_mib = sum(p.stat().st_size for p in project_dir.iterdir() if p.is_file()) / MIB
        return meter.done(written=written, stored=stored, last_frame=last_index,
                          iou_last=round(float(iou), 3), project_mib=round(db_mib, 1))


# -- driver ---------------------------------------------------------------------------------
def run(*, page_frames: int, propagate_frames: int, seed: int = 0, cache: Path = CACHE,
        frame_cache_mib: int = 256, size: tuple[int, int] = (1920, 1080), fps: int = 30,
        propagate_size: tuple[int, int] | None = None, work: Path | None = None) -> dict:
    """Make (or reuse) the video, page through it, propagate; the figures as a dict.
    ``propagate_size``: propagate on a video of that size instead (a quick CI sample)."""
    scene = Scene(width=size[0], height=size[1], fps=fps, seed=seed)
    other = None if propagate_size in (None, tuple(size)) else Scene(*propagate_size, fps=fps, seed=seed,
                                                                       axes=(60.0, 45.0), pad=80, speed=0.25)
    total = max(page_frames, propagate_frames + 1 if other is None else 0)
    started = time.perf_counter()
    video = synth_video(scene, total, cache)
    second = synth_video(other, propagate_frames + 1, cache) if other is not None else video
    made = time.perf_counter() - started
    baseline = rss_mib()
    paging = page(video, page_frames, frame_cache_mib * MIB)
    with tempfile.TemporaryDirectory(dir=work) as folder:
        carrying = propagate(second, other or scene, propagate_frames, Path(folder) / "project")
        carrying.extra["size"] = f"{(other or scene).width}x{(other or scene).height}"
    return {
        "video": str(video), "size": list(size), "fps": fps, "frames": total, "video_seconds": round(made, 1),
        "frame_cache_mib": frame_cache_mib, "rss_baseline_mib": round(baseline, 1),
        "phases": [asdict(paging) | {"slowdown": round(paging.slowdown, 3)},
                   asdict(carrying) | {"slowdown": round(carrying.slowdown, 3)}],
    }


def report(result: dict) -> str:
    lines = [f"video {result['video']} ({result['frames']} frames {result['size'][0]}×{result['size'][1]} "
             f"@ {result['fps']} fps; made/reused in {result['video_seconds']} s); frame cache budget "
             f"{result['frame_cache_mib']} MiB; RSS before the phases {result['rss_baseline_mib']} MiB",
             "| phase | frames | seconds | frames/s first 10 % | last 10 % | last/first | RSS start → end MiB | peak MiB | notes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in result["phases"]:
        notes = ", ".join(f"{k}={v}" for k, v in p["extra"].items())
        lines.append(f"| {p['name']} | {p['frames']} | {p['seconds']:.1f} | {p['rate_first']:.1f} | "
                     f"{p['rate_last']:.1f} | {p['slowdown']:.2f} | {p['rss_start']:.0f} → {p['rss_end']:.0f} | "
                     f"{p['peak']:.0f} | {notes} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="video length (default 10 = 18,000 frames at 30 fps)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT")
    parser.add_argument("--propagate", type=int, default=5000, help="frames to propagate the object over")
    parser.add_argument("--frame-cache-mib", type=int, default=256, help="the FrameServer's frame LRU budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the video is kept between runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    frames = max(2, int(round(args.minutes * 60 * args.fps)))
    result = run(page_frames=frames, propagate_frames=min(args.propagate, frames - 1), seed=args.seed,
                 cache=args.cache, frame_cache_mib=args.frame_cache_mib, size=(width, height), fps=args.fps)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
