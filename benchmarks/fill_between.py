"""Filling between two keyframes on DAVIS: the fused two-sided fill against each run alone.

Per sequence of a DAVIS layout, the keyframes are the first and the last frame holding
the object (their ground truth given, as a person's labels would be); the weight-free
default propagator (``on_flag="continue"``) carries the object from each keyframe to the
other (`engine.propagation.fill.far_run`, once each way), and the frames strictly between
are scored with the DAVIS J and F (`engine.evaluation.vos`) for:

- ``forward``: the run from the first keyframe alone (what one-sided propagation gives);
- ``backward``: the run from the last keyframe alone;
- ``nearest``: the run from the closer keyframe;
- ``fused``: `engine.propagation.fill.fuse` with the default `FuseParams`;
- ``fused, distance only``: the same with ``score_power=0`` (the runs' scores ignored);
- ``fused, hard vote``: the same with ``softness=0`` (the heavier run's mask whole).

Also: how well the fused review flags and scores point at wrong frames
(`engine.evaluation.vos.flag_quality`) and the two runs' agreement.

    .venv/bin/python benchmarks/fill_between.py ../shared/data/davis16-train10 [--out FILE.json] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluation.machine import machine_info  # noqa: E402
from engine.evaluation.vos import f_measure, flag_quality, list_sequences  # noqa: E402
from engine.geometry import mask_iou  # noqa: E402
from engine.media.open import open_media  # noqa: E402
from engine.propagation.fill import FuseParams, far_run, fuse  # noqa: E402
from engine.propagation.propagator import Propagator, default_params  # noqa: E402
from engine.segment.classic.segmenter import ClassicSegmenter  # noqa: E402

FUSED = {
    "fused": FuseParams(),
    "fused, distance only": FuseParams(score_power=0.0),
    "fused, hard vote": FuseParams(softness=0.0),
}


def run_sequence(sequence, propagator: Propagator) -> dict:
    present = [f for f in range(len(sequence)) if sequence.ground_truth(f).any()]
    first, last = present[0], present[-1]  # the keyframes (list_sequences' sequences have frames)
    started = time.perf_counter()
    with open_media(sequence.frames_dir) as source:
        forward = far_run(propagator, source, first, last, {1: sequence.ground_truth(first)})
        backward = far_run(propagator, source, last, first, {1: sequence.ground_truth(last)})
    seconds = time.perf_counter() - started
    scores: dict[str, tuple[list[float], list[float]]] = {}
    frames: list[dict] = []
    for t in range(first + 1, last):
        gt = sequence.ground_truth(t)
        run_a, run_b = forward[t][1].frame(), backward[t][1].frame()
        masks = {"forward": run_a.mask, "backward": run_b.mask,
                 "nearest": run_a.mask if t - first <= last - t else run_b.mask}
        fused = {}
        for name, params in FUSED.items():
            fused[name] = fuse(run_a, run_b, t, first, last, params)
            masks[name] = fused[name].mask
        for name, mask in masks.items():
            j_list, f_list = scores.setdefault(name, ([], []))
            j_list.append(mask_iou(gt, mask))
            f_list.append(f_measure(gt, mask))
        chosen = fused["fused"]
        frames.append({"J": scores["fused"][0][-1], "review": chosen.review, "score": chosen.score,
                       "agreement": chosen.agreement})
    per = {name: {"J": float(np.mean(j)), "F": float(np.mean(f))} for name, (j, f) in scores.items()}
    return {"name": sequence.name, "first": first, "last": last, "scored": last - first - 1,
            "seconds": round(seconds, 1), "methods": per, "frames": frames}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    propagator = Propagator(ClassicSegmenter(), replace(default_params("classic"), on_flag="continue"))
    results = []
    for sequence in list_sequences(args.data_dir)[: args.limit]:
        results.append(run_sequence(sequence, propagator))
        print(f"{sequence.name}: " + " ".join(f"{name} {(m['J'] + m['F']) / 2:.3f}"
                                               for name, m in results[-1]["methods"].items()), flush=True)
    methods = list(results[0]["methods"])
    summary = {}
    for name in methods:
        j = float(np.mean([r["methods"][name]["J"] for r in results]))
        f = float(np.mean([r["methods"][name]["F"] for r in results]))
        summary[name] = {"J": round(j, 4), "F": round(f, 4), "JF": round((j + f) / 2, 4),
                         "sequences": {r["name"]: round((r["methods"][name]["J"] + r["methods"][name]["F"]) / 2, 4)
                                       for r in results}}
    frames = [frame for r in results for frame in r["frames"]]
    report = {
        "data_dir": str(args.data_dir),
        "machine": machine_info(),
        "params": {name: asdict(params) for name, params in FUSED.items()},
        "methods": summary,
        "flags": flag_quality([f["J"] for f in frames], [f["review"] for f in frames], [f["score"] for f in frames]),
        "mean_agreement": round(float(np.mean([f["agreement"] for f in frames if f["agreement"] is not None])), 4),
        "seconds_both_runs": round(sum(r["seconds"] for r in results), 1),
        "frames": sum(r["scored"] for r in results),
    }
    for name in methods:
        print(f"{name:<22} J&F {summary[name]['JF']:.4f} (J {summary[name]['J']:.4f}, F {summary[name]['F']:.4f})")
    print(f"fused review flags: {report['flags']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
