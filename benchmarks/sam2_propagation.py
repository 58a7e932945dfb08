"""SAM 2 memory propagation (`engine.propagation.sam2_memory`): speed against sam2's own
video predictor, and memory over a long video.

    .venv/bin/python benchmarks/sam2_propagation.py speed [--frames 12] [--image-size 256] [--device cpu|cuda]
    .venv/bin/python benchmarks/sam2_propagation.py rss [--frames 2000] [--image-size 256] [--every 100]

``speed``: a random tiny SAM 2.1 and `SAM2VideoPredictor` with the same weights, the same
synthetic clip (two squares moving over noise, 160×120, written as JPEG for the predictor
and read back for ours), mask prompts for ``--objects`` objects on frame 0, propagated to
the end. Runs alternate (bare, ours, bare, ours …, ``--repeats`` each; the best of each
is kept), timed on the wall clock and in CPU seconds of the process (all threads: the
work done, which other jobs on the machine disturb less). Per frame: the bare predictor's
time from ``init_state`` to the last frame
*minus* its upfront loading of the whole video (``load_video_frames``, reported apart),
and ours from the first call to the last frame (it reads, preprocesses and encodes every
frame itself, the next one on a worker), each over the frames produced. The ratio is
ours / bare (≤ 1.1 is the target). ``--device cuda`` runs both under bf16 autocast.

``rss``: our propagator alone over ``--frames`` frames of a moving square generated on
demand (no frame is stored), one object; the process's resident memory (VmRSS) every
``--every`` frames, and the frame outputs the memory holds. Flat after the window fills.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluation.machine import machine_info  # noqa: E402
from engine.propagation.sam2_memory import Sam2MemoryPropagator, Sam2PropagationParams  # noqa: E402

CONFIG = {"tiny": "configs/sam2.1/sam2.1_hiera_t.yaml", "large": "configs/sam2.1/sam2.1_hiera_l.yaml"}


def clip(frames: int, height: int = 120, width: int = 160, objects: int = 2):
    """Frames (H×W×3 uint8) of ``objects`` textured squares moving over noise, and their
    masks on frame 0."""
    rng = np.random.default_rng(0)
    out = []
    for t in range(frames):
        image = rng.integers(0, 70, (height, width, 3)).astype(np.uint8)
        for k in range(objects):
            y, x = 10 + 35 * k, (5 + 2 * t + 40 * k) % (width - 30)
            image[y:y + 28, x:x + 28] = (200, 60 + 60 * k, 50)
        out.append(image)
    masks = {}
    for k in range(objects):
        mask = np.zeros((height, width), bool)
        mask[10 + 35 * k:38 + 35 * k, 5 + 40 * k:33 + 40 * k] = True
        masks[k + 1] = mask
    return out, masks


class Frames:
    """`FrameAccess` over a list of frames."""

    def __init__(self, frames):
        self.frames = frames

    def __len__(self):
        return len(self.frames)

    def frame(self, frame_index):
        return self.frames[frame_index]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(variant: str, image_size: int, device: str):
    from sam2.build_sam import build_sam2_video_predictor

    from engine.segment.sam2.build import build_random_sam2, image_size_overrides

    net = build_random_sam2(variant, image_size=image_size, seed=0, device=device)
    bare = build_sam2_video_predictor(CONFIG[variant], None, device=device,
                                      hydra_overrides_extra=image_size_overrides(image_size))
    bare.load_state_dict(net.state_dict())
    return net, bare.eval()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_bare(bare, folder: str, masks, device: str) -> dict:
    """Wall and CPU (all threads) seconds of the bare predictor from ``init_state`` to the
    last frame, of its upfront loading of the video (``load_video_frames``) apart, and the
    frames produced."""
    import torch
    from sam2.utils.misc import load_video_frames

    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    load_video_frames(folder, bare.image_size, False, compute_device=torch.device(device))
    sync(device)
    loading = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    produced = 0
    with torch.inference_mode(), autocast:
        sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        state = bare.init_state(folder)
        for object_id, mask in masks.items():
            bare.add_new_mask(state, 0, object_id, mask)
        for _ in bare.propagate_in_video(state, start_frame_idx=0):
            produced += 1
        sync(device)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "loading": loading,
            "frames": produced - 1}  # frame 0 is the prompt


def time_ours(net, frames, masks, device: str, prefetch: int = 1, encode_ahead: bool | None = None) -> dict:
    """Wall and CPU (all threads) seconds of ours from the call to the last frame, and the frames produced."""
    params = Sam2PropagationParams(on_flag="continue", prefetch=prefetch, encode_ahead=encode_ahead)
    propagator = Sam2MemoryPropagator(net, params)
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    produced = sum(1 for _ in propagator.track(Frames(frames), 0, masks, 1))
    sync(device)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "frames": produced}


def speed(args) -> dict:
    from PIL import Image

    net, bare = build(args.variant, args.image_size, args.device)
    frames, masks = clip(args.frames, objects=args.objects)
    with tempfile.TemporaryDirectory() as folder:
        decoded = []
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(f"{folder}/{index:05d}.jpg", quality=95)
            decoded.append(np.asarray(Image.open(f"{folder}/{index:05d}.jpg").convert("RGB")))
        time_ours(net, decoded[:3], masks, args.device)  # warm-up (allocator, kernels)
        bare_runs, ours_runs = [], []
        encode_ahead = {"auto": None, "yes": True, "no": False}[args.encode_ahead]
        for _ in range(args.repeats):
            bare_runs.append(time_bare(bare, folder, masks, args.device))
            ours_runs.append(time_ours(net, decoded, masks, args.device, args.prefetch, encode_ahead))
    report = {
        "variant": args.variant, "image_size": args.image_size, "device": args.device, "frames": args.frames,
        "objects": args.objects, "repeats": args.repeats, "prefetch": args.prefetch, "encode_ahead": args.encode_ahead,
    }
    for clock in ("wall", "cpu"):
        # per frame, best run of each; the bare predictor's upfront loading taken out
        bare_frame = min((run[clock] - run["loading"][clock]) / run["frames"] for run in bare_runs)
        bare_loaded = min(run[clock] / run["frames"] for run in bare_runs)
        ours_frame = min(run[clock] / run["frames"] for run in ours_runs)
        report[clock] = {"bare_s_per_frame": round(bare_frame, 4), "bare_s_per_frame_with_loading": round(bare_loaded, 4),
                         "bare_loading_s": round(min(run["loading"][clock] for run in bare_runs), 3),
                         "ours_s_per_frame": round(ours_frame, 4), "ratio": round(ours_frame / bare_frame, 3),
                         "ratio_against_bare_with_loading": round(ours_frame / bare_loaded, 3)}
        print(f"{clock}: bare {bare_frame:.3f} s/frame (+{report[clock]['bare_loading_s']:.2f} s loading the video "
              f"upfront), ours {ours_frame:.3f} s/frame: ratio {report[clock]['ratio']:.3f} "
              f"({report[clock]['ratio_against_bare_with_loading']:.3f} counting its loading)")
    report["runs"] = {"bare": bare_runs, "ours": ours_runs}
    report["machine"] = machine_info()
    return report


class SquareVideo:
    """A moving square generated on demand: ``count`` frames of H×W×3 uint8, none kept."""

    def __init__(self, count: int, height: int = 128, width: int = 160) -> None:
        self.count, self.height, self.width = count, height, width

    def __len__(self) -> int:
        return self.count

    def frame(self, frame_index: int) -> np.ndarray:
        rng = np.random.default_rng(frame_index)
        image = rng.integers(0, 60, (self.height, self.width, 3)).astype(np.uint8)
        x = 10 + (frame_index * 2) % (self.width - 50)
        image[40:80, x:x + 40] = (220, 120, 40)
        return image

    def mask(self) -> np.ndarray:
        mask = np.zeros((self.height, self.width), bool)
        mask[40:80, 10:50] = True
        return mask


def rss(args) -> dict:
    from engine.segment.sam2.build import build_random_sam2

    net = build_random_sam2(args.variant, image_size=args.image_size, seed=0, device=args.device)
    video = SquareVideo(args.frames)
    propagator = Sam2MemoryPropagator(net, Sam2PropagationParams(on_flag="continue"))
    samples = [{"frame": 0, "rss_mib": round(rss_mib(), 1), "held_outputs": 0}]
    started = time.perf_counter()
    for tracked in propagator.track(video, 0, {1: video.mask()}, 1):
        if tracked.frame_index % args.every == 0:
            sample = {"frame": tracked.frame_index, "rss_mib": round(rss_mib(), 1),
                      "held_outputs": propagator.held_outputs, "seconds": round(time.perf_counter() - started, 1)}
            samples.append(sample)
            print(sample, flush=True)
    after_window = [s["rss_mib"] for s in samples if s["frame"] >= 2 * args.every]
    report = {"variant": args.variant, "image_size": args.image_size, "frames": args.frames,
              "frame_size": [video.height, video.width], "samples": samples,
              "peak_rss_mib": max(s["rss_mib"] for s in samples),
              "rss_growth_after_window_mib": round(max(after_window) - min(after_window), 1) if after_window else None,
              "s_per_frame": round((time.perf_counter() - started) / max(args.frames - 1, 1), 3),
              "machine": machine_info()}
    print(f"peak RSS {report['peak_rss_mib']} MiB; growth after frame {2 * args.every}: "
          f"{report['rss_growth_after_window_mib']} MiB")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("speed", "rss"))
    parser.add_argument("--variant", choices=sorted(CONFIG), default="tiny")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=None, help="default: 12 (speed), 2000 (rss)")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--prefetch", type=int, default=1, help="frames ours loads ahead on its worker (0: none)")
    parser.add_argument("--encode-ahead", choices=("auto", "yes", "no"), default="auto",
                        help="ours' worker also encodes them (auto: on CUDA only)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.frames is None:
        args.frames = 12 if args.mode == "speed" else 2000
    report = speed(args) if args.mode == "speed" else rss(args)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
