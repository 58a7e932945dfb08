"""The `framewise` command line: argument parsing and error reporting.

Each command lives in `engine.cli.commands`; this module only parses and turns a
`FramewiseError` into one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.errors import FramewiseError

# Engine modules are imported inside the handlers, not here: every command module is
# imported to build the parser, and what the handlers use costs ~0.2 s to import (measured:
# 0.23 s against 0.05 s for the parser alone), which `framewise --help` would pay.

EXIT_USAGE = 2

# Modules that add their own sub-commands: each has ``register(subparsers)``, which adds
# parsers and sets ``handler=function(args) -> int`` with ``set_defaults``.
COMMAND_MODULES: list[str] = [
    "engine.cli.propagate", "engine.cli.session", "engine.cli.export", "engine.cli.prelabel",
]


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend, --checkpoint and --device, as every segmenting command takes them."""
    parser.add_argument(
        "--backend",
        choices=("classic", "sam", "sam2"),
        default=None,
        help="segmenter: classic (weight-free default), sam (SAM 1, needs a checkpoint) or sam2 (SAM 2 / 2.1, "
        "needs a checkpoint); default: sam when a checkpoint is given, sam2 when $FRAMEWISE_SAM2_CHECKPOINT is set, "
        "else classic",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="SAM checkpoint (.pth, vit_b/l/h; also $FRAMEWISE_SAM_CHECKPOINT) or SAM 2 / 2.1 checkpoint "
        "(.pt, tiny/small/base_plus/large; also $FRAMEWISE_SAM2_CHECKPOINT)",
    )
    parser.add_argument("--device", help="torch device for SAM / SAM 2 (default: cuda when available)")


def build_parser(extra_modules: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="framewise",
        description="Video labeling with SAM assistance: segment, evaluate and benchmark from the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="describe a media file, image folder or glob")
    info.add_argument("media")
    info.add_argument("--json", action="store_true", help="print JSON")

    seg = sub.add_parser(
        "segment",
        help="segment one object on one frame from points and/or a box",
        description="Segment one object with include/exclude points and/or a box, "
        "through the same Editor the UI uses, and print its polygon or box.",
    )
    seg.add_argument("media")
    seg.add_argument("--frame", type=int, default=0, help="frame index (default 0)")
    seg.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="X,Y[,1|0]",
        help="a point in frame pixels (pixel centres: 0,0 is the first pixel's centre); "
        "1 = include (default), 0 = exclude; repeatable, applied in order",
    )
    seg.add_argument("--box", metavar="X0,Y0,X1,Y1",
                     help="a box prompt in frame pixel edges: pixels X0..X1-1, Y0..Y1-1 are inside")
    add_backend_options(seg)
    seg.add_argument(
        "--quality",
        type=float,
        default=0.6,
        help="speed/quality 0.2 (faster) … 0.6 (default) … 1.0 (higher quality)",
    )
    seg.add_argument("--shape", choices=("polygon", "box"), default="polygon", help="output shape")
    seg.add_argument("--tolerance", type=float, default=1.0, help="polygon simplification in pixels")
    seg.add_argument("--json", action="store_true", help="print JSON")
    seg.add_argument("--overlay", metavar="OUT.png", help="write the frame with the selection in blue")
    seg.add_argument("--out", metavar="OUT.json", help="also write the JSON result to a file")

    ev = sub.add_parser("eval", help="evaluation harnesses on real data")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True, metavar="TASK")
    iseg = ev_sub.add_parser(
        "iseg",
        help="interactive segmentation with the standard clicker (NoC@85/90) vs OpenCV GrabCut",
    )
    iseg.add_argument("data_dir", help="images/ + masks/ folders, or a DAVIS JPEGImages/ + Annotations/ layout")
    add_backend_options(iseg)
    iseg.add_argument("--max-clicks", type=int, default=20)
    iseg.add_argument("--quality", type=float, default=1.0, help="segmenter quality (default 1.0)")
    iseg.add_argument("--limit", type=int, help="evaluate only the first N images")
    iseg.add_argument("--baseline-limit", type=int, help="run the GrabCut baseline on the first N images only")
    iseg.add_argument("--no-baseline", action="store_true", help="skip the GrabCut baseline")
    iseg.add_argument("--json", action="store_true", help="print JSON")
    iseg.add_argument("--out", metavar="OUT.json", help="also write the JSON result to a file")

    bench = sub.add_parser("bench", help="speed benchmarks with ratios against bare baselines")
    bench.add_argument("what", nargs="?", choices=("click", "encode", "decode", "all"), default="all")
    bench.add_argument("--media", help="video for the decode benchmark (default: a real 720p clip or the sample)")
    bench.add_argument("--clicks", type=int, default=30, help="clicks per backend and size")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument("--out", metavar="OUT.json", help="also write the JSON result to a file")
    demo = sub.add_parser(
        "demo",
        help="the main job on the bundled sample media: click prompts, permanent drawing, COCO export, previews",
    )
    demo.add_argument("--out", dest="out_dir", default="out/demo", help="output folder (default out/demo)")
    demo.add_argument("--quality", type=float, default=1.0, help="segmenter quality of the still-image demo (default 1.0)")
    demo.add_argument("--video-quality", type=float, default=0.4, help="segmenter quality of the video run (default 0.4)")
    demo.add_argument("--until", type=int, default=None, metavar="N", help="propagate up to frame N only (default: all)")
    add_backend_options(demo)
    demo.add_argument("--json", action="store_true", help="print JSON")
    for name in (*COMMAND_MODULES, *extra_modules):
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None, extra_modules: tuple[str, ...] = ()) -> int:
    """Run one command. ``extra_modules`` add commands from outside the engine (the UI adds
    ``annotate`` this way, so that `engine` never imports `ui`)."""
    # Before torch is imported: spinning OpenMP threads starve everything else on small CPUs.
    # Even a short spin (GOMP_SPINCOUNT=10000) made a SAM click 3-4× slower with two busy
    # processes on the 2 cores (p50 124 ms against 33 ms passive), for ~30% gained when idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = build_parser(extra_modules)
    args = parser.parse_args(argv)
    from engine.cli import commands  # see the note at the imports: ~0.2 s of imports

    handler = getattr(args, "handler", None) or {
        "info": commands.info,
        "segment": commands.segment,
        "eval": commands.evaluate,
        "bench": commands.bench,
        "demo": commands.demo,
    }[args.command]
    try:
        return handler(args) or 0
    except FramewiseError as exc:
        print(f"framewise: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("framewise: interrupted", file=sys.stderr)
        return 130

