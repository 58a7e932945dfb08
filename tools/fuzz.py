#!/usr/bin/env python3
"""Long fuzzing run for nightly jobs: ``python tools/fuzz.py --minutes 10 [--seed N] [--out DIR]``.

Drives the same seeds, mutations and checks as ``tests/formats/test_fuzz_parsers.py`` and
``tests/media/test_fuzz_media.py`` (``tests/fuzz_support.py``) with ``random.Random`` plans, the
time split evenly over the targets. Prints a table of inputs tried per parser and writes
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

import fuzz_support as fz

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
            suffix = rng.choice(SUFFIXES) or source.suffix
            case = work / "case"
            shutil.rmtree(case, ignore_errors=True)
            case.mkdir(parents=True)
            path = case / (source.stem + suffix)
            path.write_bytes(data)
            try:
                counts[fz.check_media(worker, path, guard=work, what=f"{key} as {path.name}, plan {plan!r}")] += 1
            except fz.FuzzFailure as failure:
                counts["failure"] += 1
                save_failure(out, "media", counts["failure"], path, plan, str(failure))
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
    parser.add_argument("--targets", nargs="*", default=[*fz.TARGETS, "media"], help="targets to fuzz")
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
