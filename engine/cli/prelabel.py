"""``framewise prelabel``: headless pre-labelling of many media (see `engine.batch.prelabel`).

    framewise prelabel MEDIA... (--session S.json | --init-masks DIR) --out DIR
        [--backend B] [--checkpoint P] [--quality Q] [--map index|time] [--preview] [--preview-png N]

Exit status 0 when every media is done (or was done before); 2 when any failed (a folder
that is not prelabel's, a malformed manifest entry, a media that cannot be read...: one line
each, the others go on) or the run could not start (``OUT/manifest.json`` is not a readable
prelabel manifest: one line on stderr); 3 when another prelabel holds ``OUT`` (one line
naming the folder and its pid; nothing is written).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

# Engine modules are imported inside the handlers, not here: every command module is
# imported to build the parser, and what the handlers use costs ~0.2 s to import (measured:
# 0.23 s against 0.05 s for the parser alone), which `framewise --help` would pay.

EXIT_FAILED = 2
EXIT_BUSY = 3  # another prelabel holds the lock on --out


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prelabel",
        help="pre-label many media headless: replay a session or propagate first-frame masks",
        description="Pre-label each MEDIA into a project OUT/<media stem>/: replay a prompt session "
        "(its propagations, or, when it has none, propagation forwards from every applied frame), or "
        "propagate DAVIS-style first-frame masks to the end. Resumable: OUT/manifest.json records each "
        "media; a re-run skips media done with the same inputs, continues a media whose run was killed "
        "from its last committed frame, and redoes the others. One run at a time per OUT (a lock); "
        "prelabel writes only inside OUT, never through a symbolic link, and never into a folder "
        "OUT/<name> it did not make. Exit status: 0 all done, 2 some media failed or the run could "
        "not start (e.g. an unreadable manifest), 3 another prelabel is running on OUT.",
    )
    parser.add_argument("media", nargs="+", help="videos, image folders or globs")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--session", metavar="S.json", help="session JSON to replay on every media")
    inputs.add_argument(
        "--init-masks",
        metavar="DIR",
        help="first-frame id masks: DIR/<media stem>/00000.png (or DIR/00000.png for one media); "
        "palette or grey PNG, pixel value = object id",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (one project per media)")
    parser.add_argument(
        "--backend", choices=("classic", "sam", "sam2"), default=None,
        help="segmenter (default: the session's; else sam with a checkpoint, classic without)",
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH",
        help="SAM or SAM 2 checkpoint; also $FRAMEWISE_SAM_CHECKPOINT / $FRAMEWISE_SAM2_CHECKPOINT",
    )
    parser.add_argument("--device", help="torch device for SAM (default: cuda when available)")
    parser.add_argument("--quality", type=float, default=None, help="segmenter quality (default: the session's, else 0.6)")
    parser.add_argument(
        "--map", choices=("index", "time"), default="index",
        help="match session frames to each media's by index (default) or by time",
    )
    parser.add_argument("--until", type=int, default=None, metavar="N",
                        help="propagate up to frame N only (default: to the end)")
    parser.add_argument("--ontology", metavar="FILE", help="classes JSON for --init-masks (default: built-in classes)")
    parser.add_argument("--preview", action="store_true", help="write OUT/<stem>/preview.mp4 with overlays")
    parser.add_argument("--preview-png", type=int, default=0, metavar="N",
                        help="write N overlay PNGs per media (OUT/<stem>/preview_<frame>.png)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.add_argument("--json", action="store_true", help="print JSON")
    # --executor/--address/--workers/--gpus-per-worker (engine/batch/executors.py)
    from engine.batch.executors import add_executor_options

    add_executor_options(parser)
    parser.set_defaults(handler=prelabel_command)


def prelabel_command(args: argparse.Namespace) -> int:
    from engine.batch.prelabel import PrelabelOptions
    from engine.types import check_quality

    options = PrelabelOptions(
        out_dir=args.out,
        session=args.session,
        init_masks=args.init_masks,
        backend=args.backend,
        checkpoint=args.checkpoint,
        device=args.device,
        quality=None if args.quality is None else check_quality(args.quality),
        map=args.map,
        ontology=args.ontology,
        until=args.until,
        preview=args.preview,
        preview_png=max(0, args.preview_png),
        single=len(args.media) == 1,
        progress=not args.no_progress,
    )
    # run_prelabel in process (the default), else a process pool or Ray (engine/batch/corpus.py)
    from engine.batch.corpus import run_with_executor
    from engine.batch.outputs import BusyError

    try:
        summary = run_with_executor(list(args.media), options, args)
    except BusyError as exc:
        print(f"framewise: error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    totals = {status: summary.count(status) for status in ("done", "skipped", "failed")}
    if args.json:
        print(json.dumps({"out": args.out, **totals, "media": [asdict(r) for r in summary.results]}, indent=2))
    else:
        lines = []
        for r in summary.results:
            if r.status == "failed":
                lines.append(f"{r.stem}: failed: {r.error}")
            else:
                lines.append(f"{r.stem}: {r.status}: {r.labels} labels on {r.frames} frames, {r.flagged} flagged"
                             + (f", {r.seconds:.1f} s" if r.status == "done" else "")
                             + (f", resumed from frame {r.resumed_from}" if r.resumed_from is not None else ""))
        lines.append(f"{totals['done']} done, {totals['skipped']} skipped, {totals['failed']} failed; "
                     f"projects and manifest in {args.out}/")
        print("\n".join(lines))
    return EXIT_FAILED if summary.failed else 0
