#!/usr/bin/env python3
"""Long fuzzing run for nightly jobs: ``python tools/fuzz.py --minutes 10 [--seed N] [--out DIR]``.

Drives the same seeds, mutations and checks as ``tests/formats/test_fuzz_parsers.py`` and
``tests/media/test_fuzz_media.py`` (``tests/fuzz_support.py``), and the RLE decoder with extreme
runs (``rle``: ``tests/fuzz_rle.py``), bit flips over real mp4/mkv/webm/avi files
(``containers``) and header edits of HDR/PFM/PAM/PPM images (``images``: ``tests/fuzz_media.py``),
import-then-export through the CLI with declared sizes near the limits (``export``: ``tests/fuzz_export.py``),
sessions with extreme numbers replayed under a memory cap (``session_numbers``) and SAM checkpoints with
extreme tensors (``checkpoint_tensors``: both ``tests/fuzz_extremes.py``),
with ``random.Random`` plans, the time split evenly over the targets. Prints a table of inputs tried per parser and writes
``summary.json`` plus every failing input (with its plan) under ``--out``. Exit status 1
when any input failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import fuzz_export  # noqa: E402 (after the sys.path line above)
import fuzz_extremes  # noqa: E402 (after the sys.path line above)
import fuzz_media as fm  # noqa: E402 (after the sys.path line above)
import fuzz_rle  # noqa: E402 (after the sys.path line above)
import fuzz_support as fz  # noqa: E402

MEDIA_SEEDS = {"video": fz.SAMPLES / "video.mp4", "still": fz.SAMPLES / "still.jpg",
               "png": fz.SAMPLES / "masks" / "still.png"}
SUFFIXES = (None, ".mp4", ".mkv", ".avi", ".png", ".jpg", ".tif", ".bmp", ".webp")


def fuzz_parser(name: str, seed: Path, work: Path, rng: random.Random, until: float, out: Path) -> Counter:
    target = fz.TARGETS[name]
    counts: Counter = Counter()
    while time.monotonic() < until:
        plan = fz.random_plan(rng, target.kind)
        path = fz.fresh_case(work, seed, name)
        fz.apply_plan(target, path, plan)
        try:
            counts[fz.check_outcome(target, path, guard=work, what=f"plan {plan!r}")] += 1
        except fz.FuzzFailure as failure:
            counts["failure"] += 1
            save_failure(out, name, counts["failure"], path, plan, str(failure))
    return counts


def fuzz_media(work: Path, rng: random.Random, until: float, out: Path) -> Counter:
    counts: Counter = Counter()
    worker = fz.MediaWorker()
    try:
        while time.monotonic() < until:
            key = rng.choice(sorted(MEDIA_SEEDS))
            source = MEDIA_SEEDS[key]
            data = source.read_bytes()
            plan = [(rng.choice(fz.BYTE_OPS), rng.randrange(2**31), rng.randrange(2**31))
                    for _ in range(rng.randrange(1, 5))]
            for op, a, b in plan:
                data = fz.byte_step(data, op, a, b)
            name = source.stem + (rng.choice(SUFFIXES) or source.suffix)
            check_media_case(worker, work, name, data, key, plan, counts, out, "media")
    finally:
        worker.close()
    return counts


def check_media_case(worker: fz.MediaWorker, work: Path, name: str, data: bytes, kind: str, plan: list,
                     counts: Counter, out: Path, target: str) -> None:
    """Write ``data`` as ``work/case/name``, open it in the worker and count the outcome."""
    case = work / "case"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    path = case / name
    path.write_bytes(data)
    try:
        counts[fz.check_media(worker, path, guard=work, what=f"{kind} as {path.name}, plan {plan!r}")] += 1
    except fz.FuzzFailure as failure:
        counts["failure"] += 1
        save_failure(out, target, counts["failure"], path, plan, str(failure))


def fuzz_damaged_media(name: str, seeds: dict[str, Path], work: Path, rng: random.Random, until: float,
                       out: Path) -> Counter:
    """`fuzz_media`: ``containers`` (bits flipped anywhere in mp4/mkv/webm/avi) or ``images``
    (HDR/PFM/PAM/PPM with edited header numbers, named as any image) through the worker."""
    counts: Counter = Counter()
    worker = fz.MediaWorker()
    try:
        while time.monotonic() < until:
            kind = rng.choice(sorted(fm.CONTAINERS) if name == "containers" else fm.IMAGES)
            seed = seeds[kind]
            plan: list = fm.random_flips(rng) if name == "containers" else fm.random_image_plan(rng)
            data = fm.flip_bits(seed.read_bytes(), plan) if name == "containers" else fm.mutate_image(seed.read_bytes(), plan)
            suffix = seed.suffix if name == "containers" else rng.choice(fm.IMAGE_SUFFIXES) or seed.suffix
            check_media_case(worker, work, seed.stem + suffix, data, kind, plan, counts, out, name)
    finally:
        worker.close()
    return counts


def fuzz_rle_decoder(rng: random.Random, until: float, out: Path) -> Counter:
    """`fuzz_rle`: RLE objects with extreme run lengths straight into the decoder."""
    counts: Counter = Counter()
    while time.monotonic() < until:
        plan = fuzz_rle.random_rle_plan(rng)
        try:
            counts[fuzz_rle.check_rle(fuzz_rle.build_rle(plan))] += 1
        except AssertionError as failure:
            counts["failure"] += 1
            save_failure(out, "rle", counts["failure"], Path(), list(plan), str(failure))
    return counts


def fuzz_exports(work: Path, rng: random.Random, until: float, out: Path) -> Counter:
    """`fuzz_export`: ``framewise import`` then ``framewise export`` of small files declaring extreme sizes."""
    counts: Counter = Counter()
    while time.monotonic() < until:
        plan = fuzz_export.random_export_plan(rng)
        try:
            counts[fuzz_export.run_export_case(plan, work / "case")] += 1
        except AssertionError as failure:
            counts["failure"] += 1
            save_failure(out, "export", counts["failure"], Path(), list(plan), str(failure))
    return counts


def fuzz_extreme_numbers(name: str, work: Path, rng: random.Random, until: float, out: Path) -> Counter:
    """`fuzz_extremes`: ``session_numbers`` (numeric fields set to extremes, accepted sessions
    replayed on a tiny media in a capped worker) or ``checkpoint_tensors`` (crafted views)."""
    counts: Counter = Counter()
    media = fuzz_extremes.tiny_media(work / "tiny")
    worker = fuzz_extremes.ReplayWorker()
    try:
        while time.monotonic() < until:
            plan: list = []
            try:
                if name == "session_numbers":
                    plan = fuzz_extremes.random_session_plan(rng)
                    outcome = fuzz_extremes.check_session_case(plan, work / "case", media, worker)
                else:
                    plan = list(fuzz_extremes.random_checkpoint_plan(rng))
                    path = work / "case" / "sam.pth"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fuzz_extremes.build_checkpoint(path, tuple(plan))  # type: ignore[arg-type]
                    outcome = fuzz_extremes.check_checkpoint_case(path, f"plan {plan!r}")
                counts["ok" if outcome == "replayed" else outcome] += 1
            except AssertionError as failure:
                counts["failure"] += 1
                save_failure(out, name, counts["failure"], work / "case" / "S.json", plan, str(failure))
    finally:
        worker.close()
    return counts


def save_failure(out: Path, name: str, number: int, path: Path, plan: list, message: str) -> None:
    folder = out / "failures" / f"{name}-{number:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        shutil.copyfile(path, folder / path.name)
    (folder / "failure.json").write_text(json.dumps({"plan": plan, "message": message}, indent=1, default=str))
    print(f"FAIL {name}: {message[:300]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="total time, split evenly over the targets")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time-based)")
    parser.add_argument("--targets", nargs="*", default=[*fz.TARGETS, "media", "containers", "images", "rle", "export",
                                 "session_numbers", "checkpoint_tensors"],
                        help="targets to fuzz")
    parser.add_argument("--out", type=Path, default=Path("out/fuzz"), help="summary and failing inputs go here")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the cache logs every unreadable file it drops
    seed = args.seed if args.seed is not None else int(time.time())
    args.out.mkdir(parents=True, exist_ok=True)
    per_target = args.minutes * 60 / len(args.targets)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="framewise-fuzz-") as tmp:
        seeds = fz.build_seeds(Path(tmp) / "seeds")
        for index, name in enumerate(args.targets):
            rng = random.Random(seed * 1000 + index)
            work = Path(tmp) / f"work-{name}"
            start = time.monotonic()
            if name == "media":
                counts = fuzz_media(work, rng, start + per_target, args.out)
            elif name in ("containers", "images"):
                media_seeds = fm.build_media_seeds(Path(tmp) / "media-seeds")
                counts = fuzz_damaged_media(name, media_seeds, work, rng, start + per_target, args.out)
            elif name == "rle":
                counts = fuzz_rle_decoder(rng, start + per_target, args.out)
            elif name == "export":
                counts = fuzz_exports(work, rng, start + per_target, args.out)
            elif name in ("session_numbers", "checkpoint_tensors"):
                counts = fuzz_extreme_numbers(name, work, rng, start + per_target, args.out)
            else:
                counts = fuzz_parser(name, seeds[name], work, rng, start + per_target, args.out)
            results[name] = {"inputs": sum(counts.values()), **counts, "seconds": round(time.monotonic() - start, 1)}
            print(f"{name:12s} {results[name]}", flush=True)
    summary = {"seed": seed, "minutes": args.minutes, "targets": results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("| parser | inputs | result | FramewiseError | failures |\n| --- | --- | --- | --- | --- |")
    for name, row in results.items():
        print(f"| {name} | {row['inputs']} | {row.get('ok', 0)} | {row.get('error', 0)} | {row.get('failure', 0)} |")
    return 1 if any(row.get("failure") for row in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
