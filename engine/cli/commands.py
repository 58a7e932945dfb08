"""The `framewise` commands: each takes the parsed arguments and returns an exit status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import PromptError
from engine.types import Box, LabelClass, Polygon, ShapeType, shape_to_json

# Engine modules are imported inside the handlers, not here: this module is imported for
# every command, and what all the handlers use costs ~0.2 s to import (measured: 0.23 s
# against 0.05 s for the parser alone), which each command would pay for the others.


def emit(args: argparse.Namespace, result: dict, text: str) -> None:
    """Print JSON or text, and write the JSON to ``--out`` when asked."""
    from engine.fileio import atomic_write_json

    if getattr(args, "out", None):
        atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2) if args.json else text)


def _segmenter(args: argparse.Namespace):
    from engine.segment import make_segmenter

    return make_segmenter(args.backend, args.checkpoint, args.device)


def info(args: argparse.Namespace) -> int:
    from engine.media.open import open_media

    with open_media(args.media) as source:
        width, height = source.size
        result = {
            "path": str(source.path),
            "kind": source.kind,
            "decoder": source.backend,
            "frames": len(source),
            "fps": source.fps,
            "width": width,
            "height": height,
            "duration_s": float(source.timestamps[-1]) if len(source) else 0.0,
            "warnings": list(source.warnings),
        }
    for warning in source.warnings:  # a video cut near its end opens, but says so
        print(f"framewise: warning: {warning}", file=sys.stderr)
    text = (
        f"{result['path']}: {result['kind']} ({result['decoder']}), {result['frames']} frames, "
        f"{width}×{height}, {result['fps']:.3f} fps, {result['duration_s']:.2f} s"
    )
    emit(args, result, text)
    return 0


def parse_point(text: str) -> tuple[float, float, bool]:
    """"X,Y" or "X,Y,1|0" -> (x, y, positive)."""
    fields = text.split(",")
    try:
        if len(fields) not in (2, 3):
            raise ValueError
        x, y = float(fields[0]), float(fields[1])
        flag = fields[2].strip() if len(fields) == 3 else "1"
        if flag not in ("0", "1"):
            raise ValueError
    except ValueError:
        raise PromptError(f"--point {text!r}: expected X,Y or X,Y,1 (include) or X,Y,0 (exclude)") from None
    return x, y, flag == "1"


def parse_box(text: str) -> tuple[float, float, float, float]:
    """"X0,Y0,X1,Y1" -> floats."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise PromptError(f"--box {text!r}: expected four numbers X0,Y0,X1,Y1") from None
    if x1 <= x0 or y1 <= y0:
        raise PromptError(f"--box {text!r} is empty: need X0 < X1 and Y0 < Y1")
    return x0, y0, x1, y1


def segment(args: argparse.Namespace) -> int:
    """Drive the Editor exactly as the UI would: SAM on, box drag, then clicks, then apply."""
    from engine.editing.editor import Editor
    from engine.geometry import mask_to_polygon
    from engine.ontology import Ontology

    points = [parse_point(p) for p in args.point]
    box = parse_box(args.box) if args.box else None
    if not points and box is None:
        raise PromptError("give at least one --point X,Y[,1|0] or a --box X0,Y0,X1,Y1")
    shape_type = ShapeType.BOUNDING_BOX if args.shape == "box" else ShapeType.POLYGON
    ontology = Ontology([LabelClass("object", shape_type, "#1e78ff", "1")])
    editor = Editor(_segmenter(args), ontology, quality=args.quality)
    with editor:
        editor.open(args.media)
        editor.goto(args.frame)
        editor.toggle_sam()
        if box is not None:
            editor.drag_box(*box)
        for x, y, positive in points:
            editor.click(x, y, positive)
        mask = editor.selection_mask()
        frame = editor.frame() if args.overlay else None
        label = editor.apply()
        assert mask is not None  # apply() raises when nothing is selected
        if shape_type == ShapeType.POLYGON and args.tolerance != 1.0:
            label.shape = mask_to_polygon(mask, tolerance=args.tolerance)
        width, height = editor.frame_size
    result = {
        "media": editor.media_name,
        "frame": args.frame,
        "backend": editor.segmenter.name,
        "model": editor.segmenter.model,
        "quality": editor.quality,
        "width": width,
        "height": height,
        "score": round(label.score, 4),
        "area_px": int(mask.sum()),
        "shape": shape_to_json(label.shape),
    }
    if frame is not None:  # --overlay
        from engine.fileio import write_image
        from engine.preview.overlay import render_overlay

        pts = [(x, y) for x, y, _ in points]
        flags = [1 if positive else 0 for _, _, positive in points]
        image = render_overlay(
            frame, selection=mask, points=pts, point_labels=flags, box=box, labels=[(label, "#1e78ff")]
        )
        write_image(args.overlay, image)
        result["overlay"] = str(args.overlay)
    if isinstance(label.shape, Box):  # a box class
        summary = "box: " + ", ".join(f"{v:.0f}" for v in label.shape.as_list())
    elif isinstance(label.shape, Polygon):
        summary = f"polygon: {len(label.shape.parts)} part(s), {label.shape.num_vertices} vertices"
    text = f"{summary}; area {result['area_px']} px, score {result['score']:.3f} ({result['backend']})"
    if args.overlay:
        text += f"; overlay written to {args.overlay}"
    emit(args, result, text)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from engine.evaluation.iseg import evaluate_iseg

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise PromptError(f"{data_dir}: no such data folder")
    result = evaluate_iseg(
        data_dir,
        _segmenter(args),
        max_clicks=args.max_clicks,
        quality=args.quality,
        baseline=not args.no_baseline,
        limit=args.limit,
        baseline_limit=args.baseline_limit,
        progress=sys.stderr.isatty() or not args.json,
    )
    lines = [f"{'method':<16}{'NoC@85':>8}{'NoC@90':>8}{'s/click':>9}{'images':>8}"]
    rows = [("framewise " + args.backend if args.backend else "framewise", result)]
    if "baseline_grabcut" in result:
        rows.append(("OpenCV GrabCut", result["baseline_grabcut"]))
    for name, row in rows:
        lines.append(
            f"{name:<16}{row['noc85']:>8.2f}{row['noc90']:>8.2f}{row['sec_per_click']:>9.3f}{row['images']:>8}"
        )
    if "baseline_grabcut" in result:
        base = result["baseline_grabcut"]
        lines.append(
            f"clicks saved vs GrabCut: NoC@85 {1 - result['noc85'] / base['noc85']:.0%}, "
            f"NoC@90 {1 - result['noc90'] / base['noc90']:.0%}; "
            f"{base['sec_per_click'] / max(result['sec_per_click'], 1e-9):.0f}× faster per click"
        )
    emit(args, result, "\n".join(lines))
    return 0


def bench(args: argparse.Namespace) -> int:
    result: dict = {}
    texts: list[str] = []
    if args.what in ("decode", "all"):
        from engine.evaluation.bench_decode import bench_decode, format_decode

        result["decode"] = bench_decode(args.media)
        texts.append(format_decode(result["decode"]))
    if args.what in ("click", "all"):
        from engine.evaluation.bench_click import bench_click, format_click

        result["click"] = bench_click(clicks=args.clicks)
        texts.append(format_click(result["click"]))
    if args.what in ("encode", "all"):
        from engine.evaluation.bench_encode import bench_encode, format_encode

        result["encode"] = bench_encode()
        texts.append(format_encode(result["encode"]))
    from engine.evaluation.machine import machine_info

    result["machine"] = machine_info()
    texts.append("machine: " + ", ".join(f"{k}={v}" for k, v in result["machine"].items()))
    emit(args, result, "\n\n".join(texts))
    return 0


def demo(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.demo.still import run_demo
    from engine.demo.video import run_video_demo

    segmenter = _segmenter(args)
    out = Path(args.out_dir)
    results = run_demo(segmenter, out, quality=args.quality)
    lines = ["first frame / still image, clicks through the Editor:",
             f"  {'media':<12}{'object':<8}{'class':<8}{'shape':<14}{'clicks':>7}{'IoU':>8}"]
    for r in results:
        lines.append(f"  {r.media:<12}{r.object_id:<8}{r.class_name:<8}{r.shape:<14}{r.clicks:>7}{r.iou:>8.3f}")
    video = run_video_demo(segmenter, out, quality=args.video_quality, until=args.until, progress=not args.json)
    lines.append(f"video, prompts on frame 0 then permanent drawing to the end ({video.seconds:.0f} s):")
    lines.append(f"  {'object':<8}{'class':<8}{'shape':<14}{'clicks':>7}{'frames':>8}{'flagged':>9}"
                 f"{'mean IoU':>10}{'min IoU':>9}")
    for t in video.tracks:
        lines.append(f"  {t.object_id:<8}{t.class_name:<8}{t.shape:<14}{t.clicks:>7}{t.frames:>8}{t.flagged:>9}"
                     f"{t.mean_iou:>10.3f}{t.min_iou:>9.3f}")
    lines += [
        f"outputs in {out}/:",
        "  still_overlay.png, video_overlay.png, *_labels.json   first-frame clicks",
        f"  {Path(video.session).name}   the recorded prompt session",
        f"  {Path(video.project).name}/   the project (project.sqlite), preview.mp4, preview_*.png",
        "  coco/   the COCO export",
    ]
    result = {"objects": [vars(r) for r in results], "video": asdict(video), "out": str(out)}
    emit(args, result, "\n".join(lines))
    return 0
