"""Longest stall of the Tk event loop, and what a call costs, during scripted labelling
sessions in the real editor window (private Xvfb screen).

Three sessions:
- ``sample``: `sample_media/video.mp4` with an empty project: SAM mode, clicks, boxes,
  the quality slider, applying, paging through frames, undo/redo.
- ``labels_10k``: a 2,000-frame video (the sample's frames cycled) whose project already
  holds 10,000 labels (5 objects on every frame, confirmed, propagated and flagged):
  frame steps, timeline seeks, a click and an apply, undo/redo.
- ``propagation_10k``: the same 10,000-label project with permanent drawing on: an object
  applied on frame 100 propagates in the background (to the end of the video) while the
  script steps frames, clicks the timeline, and applies a second object (a second run);
  then Stop.

A 5 ms heartbeat timer (`StallMeter`, started here, never by the window itself) records
the longest gap of the event loop; the UI thread must never block more than 50 ms. The
longest gap is split (`thread_clock.ThreadClock`, Linux) into the Tk thread's own CPU
time, its wait for a CPU (the machine's load: the 1-minute load average is kept with
each session) and the rest (waits for the GIL or the X server); the CPU time of each
redraw after an Editor call (`App._show`) is the load-independent measure. For
each project the script also times every seek round trip (key press to the new frame
drawn) and every `ui.state.snapshot` (the Editor state the window reads after a call),
and, as the baseline measured in the same run, the bare Editor seeks (`goto` + `frame`,
no window) over the same frames: the ratios say what the window adds, and how much
10,000 labels cost against an empty project.

    .venv/bin/python benchmarks/ui_stall.py [--media sample_media/video.mp4] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.thread_clock import ThreadClock, load_average, timed_cpu  # noqa: E402 (after the path)

LONG_FRAMES = 2000
OBJECTS_PER_FRAME = 5


class StallMeter:
    """How long the Tk event loop goes without running a timer: a heartbeat scheduled
    every ``interval_ms``; the longest gap beyond that is the worst stall."""

    def __init__(self, widget: Any, interval_ms: int = 5) -> None:
        self._widget = widget
        self._interval = interval_ms / 1000
        self._interval_ms = interval_ms
        self.worst = 0.0
        self.worst_split = (0.0, 0.0)  # (Tk thread CPU, run-queue wait) seconds in the worst gap
        self.beats = 0
        self._clock = ThreadClock()
        self._last, self._times = time.perf_counter(), self._clock.read()
        self.started_times = self._times
        self._id = widget.after(interval_ms, self._beat)

    def _beat(self) -> None:
        now, times = time.perf_counter(), self._clock.read()
        if now - self._last - self._interval > self.worst:
            self.worst = now - self._last - self._interval
            self.worst_split = (times[0] - self._times[0], times[1] - self._times[1])
        self._last, self._times = now, times
        self.beats += 1
        self._id = self._widget.after(self._interval_ms, self._beat)

    def close(self) -> None:
        self._widget.after_cancel(self._id)


def timed_snapshots() -> list[float]:
    """Wrap the window's snapshot function to record each call's seconds."""
    import ui.app

    times: list[float] = []
    real = ui.app.snapshot

    def snapshot(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - started)

    ui.app.snapshot = snapshot
    return times


def ms(values: list[float], q: float = 0.5) -> float:
    """The ``q`` quantile of ``values`` (seconds) in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def long_video(path: Path, frames: int) -> None:
    """``frames`` frames of the sample video, cycled, as H.264."""
    import av

    with av.open(str(ROOT / "sample_media" / "video.mp4")) as source:
        images = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = images[0].shape[1], images[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params": "keyint=24"}
        for k in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(images[k % len(images)], format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def fill_project(project: Any, media: str, frames: int) -> int:
    """OBJECTS_PER_FRAME polygon labels on every frame (the sample's objects), every tenth
    frame confirmed, the others propagated, a few flagged; one transaction."""
    from engine.geometry import mask_to_polygon
    from engine.media.images import read_id_mask
    from engine.types import Label

    masks = ROOT / "sample_media" / "masks" / "video"
    shapes = []
    for k in range(48):
        mask = read_id_mask(masks / f"{k:05d}.png")
        shapes.append([mask_to_polygon(mask == v) for v in sorted(set(mask.flat) - {0})])
    name = project.ontology.names[0]
    written = 0
    with project.transaction():
        for f in range(frames):
            polygons = shapes[f % 48]
            for o in range(OBJECTS_PER_FRAME):
                confirmed = f % 10 == 0
                project.put(Label(o + 1, f, name, polygons[o % len(polygons)], source="sam" if confirmed else "propagated",
                                  score=0.9, confirmed=confirmed, review=(f % 97 == 5 and o == 0), media=media))
                written += 1
    return written


def seek_timed(app: Any, action: Callable[[], None], out: list[float]) -> None:
    started = time.perf_counter()
    action()
    app.wait_idle()
    out.append(time.perf_counter() - started)


def sample_session(app: Any, editor: Any, seeks: list[float], frames: list[int]) -> None:
    from tests.ui.gui import click_canvas, drag_canvas, key, pump

    width, height = editor.frame_size
    key(app, "<Shift-A>")
    for frame_index in range(0, min(len(editor.source), 12), 3):
        app.goto(frame_index)
        app.wait_idle()
        click_canvas(app, width * 0.2, height * 0.5)
        click_canvas(app, width * 0.6, height * 0.35)
        click_canvas(app, width * 0.6, height * 0.35, button=3)
        key(app, "<Tab>")
        key(app, "<Return>")
        drag_canvas(app, width * 0.25, height * 0.6, width * 0.4, height * 0.9)
        key(app, "<Return>")
    app.sam_panel.slider.set(100)
    pump(app.root, 0.3)
    click_canvas(app, width * 0.2, height * 0.5)
    app.sam_panel.slider.set(20)
    pump(app.root, 0.3)
    app.wait_idle()
    key(app, "<Escape>")
    key(app, "<Control-z>")
    key(app, "<Control-Shift-Z>")
    for _ in range(20):
        seek_timed(app, lambda: key(app, "<Right>"), seeks)
        frames.append(app.state.frame_index)


def long_session(app: Any, editor: Any, seeks: list[float], frames: list[int]) -> None:
    from tests.ui.gui import click_canvas, key

    width, height = editor.frame_size
    key(app, "<Shift-A>")
    for _ in range(30):
        seek_timed(app, lambda: key(app, "<Right>"), seeks)
        frames.append(app.state.frame_index)
    timeline = app.timeline
    for k in range(1, 11):  # clicks along the timeline
        x = int(timeline.winfo_width() * k / 11)
        seek_timed(app, lambda x=x: timeline.event_generate("<ButtonPress-1>", x=x, y=10), seeks)
        frames.append(app.state.frame_index)
    click_canvas(app, width * 0.2, height * 0.5)
    key(app, "<Return>")
    key(app, "<Control-z>")
    key(app, "<Control-Shift-Z>")


def press(app: Any, sequence: str) -> None:
    """A key event to the frame view; waits for the editor thread, not for propagation runs."""
    app.view.focus_force()
    app.root.update()
    app.view.event_generate(sequence)
    app.wait_idle(runs=False)


def tap(app: Any, x: float, y: float) -> None:
    """A left click at frame pixel (x, y); waits for the editor thread only."""
    cx, cy = (int(round(v)) for v in app.view.viewport.frame_to_canvas(x, y))
    app.view.event_generate("<ButtonPress-1>", x=cx, y=cy)
    app.view.event_generate("<ButtonRelease-1>", x=cx, y=cy)
    app.wait_idle(runs=False)


PROPAGATION_STATS: dict[str, Any] = {}


def propagation_session(app: Any, editor: Any, seeks: list[float], frames: list[int]) -> None:
    """Label and navigate while background propagation runs write into the project."""
    from tests.ui.gui import pump

    width, height = editor.frame_size
    app.controls.permanent_button.invoke()
    app.wait_idle()
    press(app, "<Shift-A>")
    app.goto(100)
    app.wait_idle(runs=False)
    started = time.perf_counter()
    tap(app, width * 0.2, height * 0.5)
    press(app, "<Return>")  # starts the first run; returns at once
    PROPAGATION_STATS["click_apply_drawn_ms"] = round(1000 * (time.perf_counter() - started), 1)
    PROPAGATION_STATS["runs_after_apply"] = len(editor.propagation_jobs())
    for _ in range(30):
        started = time.perf_counter()
        press(app, "<Right>")
        seeks.append(time.perf_counter() - started)
        frames.append(app.state.frame_index)
    timeline = app.timeline
    for k in range(1, 11):
        x = int(timeline.winfo_width() * k / 11)
        started = time.perf_counter()
        timeline.event_generate("<ButtonPress-1>", x=x, y=10)
        app.wait_idle(runs=False)
        seeks.append(time.perf_counter() - started)
        frames.append(app.state.frame_index)
    tap(app, width * 0.6, height * 0.35)
    press(app, "<Return>")  # a second object: a second run beside the first
    PROPAGATION_STATS["runs_together"] = len(editor.propagation_jobs())
    for _ in range(10):
        started = time.perf_counter()
        press(app, "<Right>")
        seeks.append(time.perf_counter() - started)
        frames.append(app.state.frame_index)
    pump(app.root, 2.0)
    PROPAGATION_STATS["runs_before_stop"] = len(editor.propagation_jobs())
    app.controls.stop_button.invoke()
    app.wait_idle()


def bare_seeks(media: Path, folder: Path, frames: list[int]) -> list[float]:
    """The baseline: the same seeks on a fresh Editor without the window."""
    from ui.cli import open_editor

    editor, project = open_editor(media, folder)
    times = []
    try:
        editor.frame()
        for frame_index in frames:
            started = time.perf_counter()
            editor.goto(frame_index)
            editor.frame()
            times.append(time.perf_counter() - started)
    finally:
        editor.close()
        project.close()
    return times


def run(name: str, media: Path, folder: Path, session: Callable, prefill: bool = False) -> dict:
    import tkinter as tk

    from tests.ui.gui import pump
    from ui.app import App
    from ui.cli import open_editor

    editor, project = open_editor(media, folder)
    labels = fill_project(project, editor.media_name, len(editor.source)) if prefill else 0
    root = tk.Tk()
    snapshots = timed_snapshots()
    app = App(root, editor, backend="classic")
    app.wait_idle()
    pump(root, 0.5)
    shows: list[float] = []
    untime = timed_cpu(app, "_show", shows)
    load_before = load_average()
    stalls = StallMeter(root)
    first_snapshot = snapshots[0] if snapshots else 0.0
    snapshots.clear()
    seeks: list[float] = []
    frames: list[int] = []
    started = time.perf_counter()
    session(app, editor, seeks, frames)
    pump(root, 0.2)
    untime()
    cpu, runqueue = (now - then for now, then in zip(stalls._clock.read(), stalls.started_times))
    worst_cpu, worst_queue = stalls.worst_split
    result = {
        "media": os.path.relpath(media, ROOT) if media.is_relative_to(ROOT) else f"{LONG_FRAMES}-frame video",
        "frames": len(editor.source),
        "labels": len(project.labels(editor.media_name)),
        "prefilled_labels": labels,
        "worst_stall_ms": round(stalls.worst * 1000, 1),
        "worst_stall_split_ms": {"tk_cpu": round(worst_cpu * 1000, 1), "cpu_wait_load": round(worst_queue * 1000, 1),
                                 "other_gil_x": round((stalls.worst + stalls._interval - worst_cpu - worst_queue) * 1000, 1)},
        "load_1min": [load_before, load_average()],
        "redraw_cpu_ms_median": ms(shows),
        "redraw_cpu_ms_max": ms(shows, 1.0),
        "tk_thread_cpu_s": round(cpu, 2),
        "tk_thread_cpu_wait_s": round(runqueue, 2),
        "heartbeats": stalls.beats,
        "session_s": round(time.perf_counter() - started, 2),
        "seeks": len(seeks),
        "seek_ms_median": ms(seeks),
        "seek_ms_p90": ms(seeks, 0.9),
        "snapshot_ms_median": ms(snapshots),
        "snapshot_ms_max": ms(snapshots, 1.0),
        "first_snapshot_ms": round(first_snapshot * 1000, 1),
    }
    stalls.close()
    app.close()
    root.destroy()
    project.close()
    del app, root, stalls
    gc.collect()  # the window's Tk variables and images are finalised here, on the Tk thread
    bare = bare_seeks(media, folder, frames)
    result["bare_seek_ms_median"] = ms(bare)
    result["seek_vs_bare"] = round(result["seek_ms_median"] / max(result["bare_seek_ms_median"], 1e-3), 2)
    print(f"{name}: longest UI stall {result['worst_stall_ms']} ms over {result['session_s']} s; "
          f"seek {result['seek_ms_median']} ms median (bare Editor {result['bare_seek_ms_median']} ms, "
          f"{result['seek_vs_bare']}x); snapshot {result['snapshot_ms_median']} ms median, "
          f"{result['snapshot_ms_max']} ms max; {result['labels']} labels; redraw CPU {result['redraw_cpu_ms_median']} ms "
          f"median, {result['redraw_cpu_ms_max']} max; worst stall {result['worst_stall_split_ms']}; "
          f"load {result['load_1min']}", file=sys.stderr)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", default=str(ROOT / "sample_media" / "video.mp4"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the JSON result here")
    parser.add_argument("--without-track-rows", action="store_true",
                        help="diagnostic: run propagation_10k again with the track panel's rows not drawn")
    args = parser.parse_args()
    from tests.ui.gui import VirtualScreen

    screen = VirtualScreen(window_manager="")
    os.environ["DISPLAY"] = screen.display
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            sample = run("sample", Path(args.media), work / "sample", sample_session)
            long_video(work / "long.mp4", LONG_FRAMES)
            many = run("labels_10k", work / "long.mp4", work / "long", long_session, prefill=True)
            propagating = run("propagation_10k", work / "long.mp4", work / "long_propagation", propagation_session,
                              prefill=True)
            propagating.update(PROPAGATION_STATS)
            propagating["labels_propagated"] = propagating["labels"] - propagating["prefilled_labels"] - 2
            bare_rows = None
            if args.without_track_rows:
                from ui.track_panel import TrackPanel

                setattr(TrackPanel, "draw", lambda self: self._draw_cursor())  # noqa: B010 (a method replaced)
                bare_rows = run("propagation_10k_without_track_rows", work / "long.mp4", work / "long_rows",
                                propagation_session, prefill=True)
    finally:
        screen.close()
    result = {
        "limit_ms": 50,
        "sample": sample,
        "labels_10k": many,
        "propagation_10k": propagating,
        **({"propagation_10k_without_track_rows": bare_rows} if bare_rows is not None else {}),
        "snapshot_10k_vs_sample": round(many["snapshot_ms_median"] / max(sample["snapshot_ms_median"], 1e-3), 2),
        "seek_10k_vs_sample": round(many["seek_ms_median"] / max(sample["seek_ms_median"], 1e-3), 2),
    }
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    worst = max(sample["worst_stall_ms"], many["worst_stall_ms"], propagating["worst_stall_ms"])
    print(text if args.json else
          f"longest UI stall {worst} ms (limit 50 ms); with 10,000 labels a snapshot costs "
          f"{result['snapshot_10k_vs_sample']}x and a seek {result['seek_10k_vs_sample']}x the empty project's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
