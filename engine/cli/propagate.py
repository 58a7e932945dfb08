"""``framewise eval vos`` and ``framewise eval effort``: the propagator's evaluations.

Registered under the existing ``eval`` command (see `register`).
"""

from __future__ import annotations

import argparse

from engine.cli.commands import emit
from engine.types import PropagationMode  # light: `engine.cli.commands` imports engine.types anyway

# Other engine modules are imported inside the handlers, not here: every command module is
# imported to build the parser, and what the handlers use costs ~0.2 s to import (measured:
# 0.23 s against 0.05 s for the parser alone), which `framewise --help` would pay.


def _options(parser: argparse.ArgumentParser, *, flow: bool) -> None:
    parser.add_argument("data_dir", help="a DAVIS layout: JPEGImages/<seq>/*.jpg + Annotations/<seq>/*.png")
    parser.add_argument(
        "--backend",
        choices=("classic", "sam", "sam2", "flow") if flow else ("classic", "sam", "sam2"),
        default=None,
        help="segmenter: classic (default) or sam (re-prompted on each frame), sam2 (SAM 2 memory-based "
        "propagation); sam and sam2 need a checkpoint"
        + (", or flow (warping only, no segmenter)" if flow else ""),
    )
    parser.add_argument(
        "--checkpoint", metavar="PATH",
        help="SAM or SAM 2 checkpoint; also $FRAMEWISE_SAM_CHECKPOINT / $FRAMEWISE_SAM2_CHECKPOINT",
    )
    parser.add_argument("--device", help="torch device for SAM")
    parser.add_argument("--quality", type=float, default=None, help="segmenter quality (default 0.6)")
    parser.add_argument("--mode", choices=[mode.value for mode in PropagationMode], help="override the propagation mode")
    parser.add_argument("--limit", type=int, help="only the first N sequences")
    parser.add_argument("--frames-limit", type=int, help="only the first N frames of each sequence")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--out", metavar="OUT.json", help="also write the JSON result to a file")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vos`` and ``effort`` to the tasks of the ``eval`` command."""
    eval_parser = subparsers.choices["eval"]
    # argparse keeps a parser's sub-command table only as one of its actions.
    tasks = next(a for a in eval_parser._actions if isinstance(a, argparse._SubParsersAction))
    vos = tasks.add_parser(
        "vos",
        help="propagation on DAVIS (semi-supervised J, F, J&F, fps) vs copying the first mask and flow warping",
    )
    _options(vos, flow=True)
    vos.add_argument("--no-baselines", action="store_true", help="skip the copy and warp baselines")
    vos.set_defaults(handler=evaluate_vos)
    effort = tasks.add_parser(
        "effort",
        help="simulated annotator: clicks per 100 frames with propagation (from the first frame, and between "
        "keyframes) vs clicking every frame",
    )
    _options(effort, flow=False)
    effort.add_argument("--threshold", type=float, default=0.85, help="IoU below which a frame is corrected")
    effort.add_argument("--max-clicks", type=int, default=20)
    effort.add_argument("--no-baseline", action="store_true", help="skip the clicks-only baseline")
    effort.add_argument(
        "--annotator",
        choices=("sequential", "keyframes", "both"),
        default="both",
        help="sequential: propagate from the first frame and correct; keyframes: click the first and last frame, "
        "fill between from both ends and correct; both (default)",
    )
    effort.set_defaults(handler=evaluate_effort)


def _segmenter_and_params(args: argparse.Namespace):
    from dataclasses import replace

    from engine.propagation.propagator import default_params
    from engine.segment import make_segmenter

    segmenter = None if args.backend == "flow" else make_segmenter(args.backend, args.checkpoint, args.device)
    params = default_params(segmenter.name if segmenter is not None else None)
    if args.quality is not None:
        params = replace(params, quality=args.quality)
    if args.mode is not None:
        params = replace(params, step=replace(params.step, mode=PropagationMode(args.mode)))
    return segmenter, params


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def evaluate_vos(args: argparse.Namespace) -> int:
    from engine.evaluation.vos import evaluate_vos as run

    segmenter, params = _segmenter_and_params(args)
    report = run(
        args.data_dir,
        segmenter,
        params=params,
        limit=args.limit,
        frames_limit=args.frames_limit,
        baselines=not args.no_baselines,
    )
    lines = [f"{'sequence':<18} {'J':>6} {'F':>6} {'J&F':>6} {'fps':>7}"]
    for seq in report["sequences"]:
        lines.append(f"{seq['name']:<18} {_fmt(seq['J']):>6} {_fmt(seq['F']):>6} {_fmt(seq['JF']):>6} {_fmt(seq['fps']):>7}")
    lines.append(
        f"{'mean (' + report['backend'] + ')':<18} {_fmt(report['J']):>6} {_fmt(report['F']):>6} "
        f"{_fmt(report['JF']):>6} {_fmt(report['fps']):>7}"
    )
    for name, base in report.get("baselines", {}).items():
        lines.append(f"{'baseline ' + name:<18} {_fmt(base['J']):>6} {_fmt(base['F']):>6} {_fmt(base['JF']):>6} "
                     f"{_fmt(base['fps']):>7}")
    lines.append(f"flagged frames: {report['flagged_frames']}")
    flags = report.get("flags")
    if flags:
        lines.append(
            f"flags: {flags['flagged']} flagged of {flags['frames']} scored frames; recall on J < 0.5 "
            f"{_fmt(flags['recall'])} ({flags['bad_frames']} such frames), precision (J < 0.7) "
            f"{_fmt(flags['precision'])}; score–J rank correlation {_fmt(flags['spearman'])}"
        )
    emit(args, report, "\n".join(lines))
    return 0


def evaluate_effort(args: argparse.Namespace) -> int:
    from engine.evaluation.effort import evaluate_effort as run

    segmenter, params = _segmenter_and_params(args)
    report = run(
        args.data_dir,
        segmenter,
        params=params,
        limit=args.limit,
        frames_limit=args.frames_limit,
        threshold=args.threshold,
        max_clicks=args.max_clicks,
        baseline=not args.no_baseline,
        annotators=("sequential", "keyframes") if args.annotator == "both" else (args.annotator,),
    )
    titles = (("propagation", "sequential"), ("keyframes", "keyframes"), ("no_propagation", "clicks only"))
    lines = []
    for key, title in titles:
        if key in report:
            r = report[key]
            lines.append(
                f"{title:<12} {r['clicks_per_100_frames']:>7.1f} clicks/100 frames "
                f"({r['clicks_per_100_reachable_frames']:.1f} on reachable frames), "
                f"{r['corrected_frames']} corrected of {r['frames']} frames, "
                f"{r['flagged_frames']} flagged, mean J {_fmt(r['J'])}"
            )
    if "no_propagation" in report:
        base = report["no_propagation"]
        lines.append(f"reachable frames (the clicker gets them to {report['threshold']} from scratch): "
                     f"{base['reachable_frames']} of {base['frames']}")
    for mode, ratio in report.get("ratios", {}).items():
        everything, reachable = ratio["all_frames"], ratio["reachable_frames"]
        lines.append(
            f"{mode}: {_times(reachable)} fewer clicks on reachable frames, {_times(everything)} on all frames"
        )
    emit(args, report, "\n".join(lines))
    return 0


def _times(value) -> str:
    return "—" if value is None else f"{value:.2f}×"
