"""Corpus throughput of `framewise prelabel`: frames/s with 1 vs 2 workers, local and Ray.

    .venv/bin/python benchmarks/corpus.py [--media 4] [--frames 6] [--no-ray] [--out FILE]

The corpus is ``--media`` image-folder copies of the first ``--frames`` sample frames
(640×360), each with its first-frame id mask, propagated to the end with the classic
segmenter. Every run starts from an empty output folder and its wall time includes the
workers' start (pool processes spawn, actors import the engine): what a user waits for.
The ceiling on this 2-core machine is 2×.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def make_corpus(root: Path, count: int, frames: int) -> tuple[list[str], Path]:
    from engine.demo.samples import write_sample_corpus

    return write_sample_corpus(root, [f"clip{number:02d}" for number in range(count)], frames)


def run_once(media: list[str], masks: Path, out: Path, kind: str, workers: int) -> dict:
    from engine.batch.jobs import ExecutorOptions
    from engine.batch.corpus import prelabel_corpus
    from engine.batch.prelabel import PrelabelOptions

    options = PrelabelOptions(out_dir=str(out), init_masks=str(masks), progress=False)
    start = time.perf_counter()
    summary, batch = prelabel_corpus(media, options, ExecutorOptions(kind=kind, workers=workers), progress=False)
    wall = time.perf_counter() - start
    if batch.failed:
        errors = [r.error for r in summary.results if r.status == "failed"]
        raise SystemExit(f"corpus benchmark: {batch.failed} media failed: {errors[:3]}")
    return {"executor": kind, "workers": workers, "media": batch.done, "frames": batch.frames,
            "seconds": round(wall, 2), "fps": round(batch.frames / wall, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=4, help="media in the corpus (default 4)")
    parser.add_argument("--frames", type=int, default=6, help="frames per media (default 6, at most 24)")
    parser.add_argument("--no-ray", action="store_true", help="local executor only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "corpus.json"))
    args = parser.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory(prefix="fw-corpus-") as tmp:
        media, masks = make_corpus(Path(tmp), args.media, args.frames)
        kinds = ["local"] + ([] if args.no_ray else ["ray"])
        for kind in kinds:
            if kind == "ray":
                import ray

                # Started once for both runs (its start is not the executor's cost).
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            try:
                for workers in (1, 2):
                    run = run_once(media, masks, Path(tmp) / f"out-{kind}-{workers}", kind, workers)
                    print(f"{kind:<5} {workers} worker(s): {run['frames']} frames in {run['seconds']:.1f} s "
                          f"= {run['fps']:.2f} frames/s", flush=True)
                    runs.append(run)
            finally:
                if kind == "ray":
                    ray.shutdown()
    ratios = {}
    for kind in kinds:
        one, two = (next(r for r in runs if r["executor"] == kind and r["workers"] == w) for w in (1, 2))
        ratios[kind] = round(two["fps"] / one["fps"], 2)
        print(f"{kind}: 2 workers / 1 worker = {ratios[kind]:.2f}× (limit 2× on 2 cores)")
    report = {
        "benchmark": "corpus",
        "corpus": {"media": args.media, "frames_per_media": args.frames, "size": "640x360",
                   "segmenter": "classic", "input": "first-frame masks, propagated to the end"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "runs": runs,
        "speedup_2_vs_1": ratios,
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from engine.fileio import atomic_write_json

    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
