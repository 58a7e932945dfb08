"""Longest stall of the Tk event loop during a scripted labelling session.

Runs the real editor window on a private Xvfb screen: SAM mode, clicks, boxes, the
quality slider, applying, paging through frames, undo/redo; a 5 ms heartbeat timer
records the longest gap. The UI thread must never block more than 50 ms.

    .venv/bin/python benchmarks/ui_stall.py [--media sample_media/video.mp4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", default=str(ROOT / "sample_media" / "video.mp4"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the JSON result here")
    args = parser.parse_args()
    from tests.ui.gui import VirtualScreen, click_canvas, drag_canvas, key, pump

    screen = VirtualScreen()
    os.environ["DISPLAY"] = screen.display
    import tkinter as tk

    from ui.app import App
    from ui.cli import open_editor

    try:
        with tempfile.TemporaryDirectory() as folder:
            editor, project = open_editor(args.media, folder)
            root = tk.Tk()
            app = App(root, editor, backend="classic")
            app.wait_idle()
            pump(root, 0.5)
            width, height = editor.frame_size
            app.stalls.reset()
            started = time.perf_counter()
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
            pump(root, 0.3)
            click_canvas(app, width * 0.2, height * 0.5)
            app.sam_panel.slider.set(20)
            pump(root, 0.3)
            app.wait_idle()
            key(app, "<Escape>")
            key(app, "<Control-z>")
            key(app, "<Control-Shift-Z>")
            for _ in range(20):
                key(app, "<Right>")
            pump(root, 0.2)
            result = {
                "media": os.path.relpath(args.media, ROOT),
                "frame_size": [width, height],
                "worst_stall_ms": round(app.stalls.worst * 1000, 1),
                "heartbeats": app.stalls.beats,
                "session_s": round(time.perf_counter() - started, 2),
                "labels": len(project.labels()),
                "limit_ms": 50,
            }
            app.close()
            root.destroy()
            project.close()
    finally:
        screen.close()
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text if args.json else f"longest UI stall {result['worst_stall_ms']} ms over a {result['session_s']} s scripted session ({result['heartbeats']} heartbeats; limit 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
