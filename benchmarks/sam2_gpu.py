"""Frames per second of SAM 2 memory propagation on a GPU: tiny and large, ours and bare.

    .venv/bin/python benchmarks/sam2_gpu.py [--device cuda] [--variants tiny,large] [--frames 60]
        [--image-size 1024] [--objects 2] [--out FILE.json]
    .venv/bin/python benchmarks/sam2_gpu.py --device cpu --frames 5      # smoke run (CPU, 128 px, tiny)

Random weights (speed does not depend on them). For each variant: our
`Sam2MemoryPropagator` (frames read lazily, encoded one ahead on a worker) and sam2's
`SAM2VideoPredictor.propagate_in_video` (after its upfront loading of the whole clip) on
the same synthetic clip (`benchmarks/sam2_propagation.py`), under bf16 autocast on CUDA;
frames/s = frames produced / seconds, best of ``--repeats``. On the CPU the defaults
shrink to a smoke run: tiny only, image size 128.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sam2_propagation import CONFIG, build, clip, time_bare, time_ours  # noqa: E402  (puts the root on the path)

from engine.evaluation.machine import machine_info  # noqa: E402


def measure(variant: str, image_size: int, device: str, frames: int, objects: int, repeats: int,
            bare: bool) -> dict:
    import tempfile

    import numpy as np
    from PIL import Image

    net, predictor = build(variant, image_size, device)
    clip_frames, masks = clip(frames, objects=objects)
    row: dict = {"variant": variant, "image_size": image_size, "device": device, "frames": frames, "objects": objects}
    with tempfile.TemporaryDirectory() as folder:
        decoded = []
        for index, frame in enumerate(clip_frames):
            Image.fromarray(frame).save(f"{folder}/{index:05d}.jpg", quality=95)
            decoded.append(np.asarray(Image.open(f"{folder}/{index:05d}.jpg").convert("RGB")))
        time_ours(net, decoded[:2], masks, device)  # warm-up: kernels, allocator
        ours = min((time_ours(net, decoded, masks, device) for _ in range(repeats)), key=lambda run: run["wall"])
        row["ours_fps"] = round(ours["frames"] / ours["wall"], 2)
        if bare:
            runs = [time_bare(predictor, folder, masks, device) for _ in range(repeats)]
            best = min(runs, key=lambda run: run["wall"] - run["loading"]["wall"])
            row["bare_fps"] = round(best["frames"] / (best["wall"] - best["loading"]["wall"]), 2)
            row["bare_loading_s"] = round(best["loading"]["wall"], 3)
            row["ratio"] = round(row["bare_fps"] / row["ours_fps"], 3)  # ours' time per frame / bare's
    print(row, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--variants", default=None, help="comma-separated, of: " + ", ".join(sorted(CONFIG)))
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=None, help="default 1024 (CUDA), 128 (CPU)")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-bare", action="store_true", help="time ours only")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    variants = (args.variants or ("tiny,large" if cuda else "tiny")).split(",")
    image_size = args.image_size or (1024 if cuda else 128)
    rows = [measure(variant, image_size, args.device, args.frames, args.objects, 1 if not cuda else args.repeats,
                    not args.no_bare) for variant in variants]
    report = {"rows": rows, "machine": machine_info()}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
