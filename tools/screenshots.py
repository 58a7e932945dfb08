"""Screenshots of the label editor in its main states, for the README (`make screenshots`).

Starts a private Xvfb screen, opens the real app on `sample_media/video.mp4` with a fresh
project, drives it with generated events and grabs the window (menu bar included) with
Pillow's X11 grabber:
docs/screenshot_sam.png (SAM mode: the SAM panel docked beside the frame, points, blue selection),
docs/screenshot_labels.png (applied polygon and box labels, objects list),
docs/screenshot_live.png (propagation running in the background, results appearing live),
docs/screenshot_propagated.png (after permanent drawing: timeline marks),
docs/screenshot_shortcuts.png (Help → Keyboard shortcuts, F1),
docs/screenshot_review.png (a frame propagation flagged for review, on real footage: the
DAVIS-2016 `surf` sequence of the evaluation data in ../shared/data, where the surfer goes
under the wave; skipped, the old picture kept, when that folder is absent).
The window opens at the size the app picks for the screen (`ui.screen`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = "1400x900x24"  # the window opens at 1260x760 on it (90% of the width)
# Real footage for the review picture: DAVIS-2016 `surf` (JPEG frames and ground-truth masks).
SURF = ROOT.parent / "shared" / "data" / "davis16-train10"


def menu_bar_top(root) -> int:
    """Screen y of the window's menu bar (Tk draws it in a clone menu ".#…" above the
    window's own area), or the window's top when it has none."""
    for child in root.tk.call("winfo", "children", "."):
        name = str(child)
        if name.startswith(".#") and str(root.tk.call("winfo", "class", name)) == "Menu":
            return int(root.tk.call("winfo", "rooty", name))
    return root.winfo_rooty()


def grab(app, display: str, path: Path, window=None) -> None:
    """Save ``window`` (default: the main window with its menu bar) as it is on the screen."""
    from PIL import ImageGrab

    from tests.ui.gui import pump

    pump(app.root, 0.4)
    window = window or app.root
    x, y = window.winfo_rootx(), window.winfo_rooty()
    if window is app.root:
        y = menu_bar_top(app.root)
    right, bottom = window.winfo_rootx() + window.winfo_width(), window.winfo_rooty() + window.winfo_height()
    image = ImageGrab.grab(bbox=(x, y, right, bottom), xdisplay=display)
    image.save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)} ({image.width}x{image.height})")


def review(folder: Path, display: str) -> None:
    """docs/screenshot_review.png: the surfer boxed on the first frame with permanent drawing
    on; the run carries it until the wave swallows it, where the propagator flags the frame
    (no flag is written by hand); N jumps there and the flagged object is selected, its
    Accept / Outside / Occluded buttons under the objects list."""
    import tkinter as tk

    import numpy as np
    from PIL import Image

    from tests.ui.gui import drag_canvas, key, pump
    from ui.app import App
    from ui.cli import open_editor

    frames, first_mask = SURF / "JPEGImages" / "surf", SURF / "Annotations" / "surf" / "00000.png"
    if not first_mask.exists():
        print(f"skipped docs/screenshot_review.png: {SURF} is absent (the evaluation data)")
        return
    ontology = folder / "surf.json"
    ontology.write_text(json.dumps([{"name": "surfer", "shape": "polygon", "colour": "#ff7f0e", "hotkey": "1"}]))
    editor, project = open_editor(frames, folder / "surf", ontology_file=ontology)
    root = tk.Tk()
    app = App(root, editor, backend="classic")
    app.wait_idle()
    app.controls.permanent_button.invoke()
    key(app, "<Shift-A>")
    ys, xs = np.nonzero(np.asarray(Image.open(first_mask)) > 0)  # where a person would drag the box
    drag_canvas(app, int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    key(app, "<Return>")  # applied: the run starts in the background
    app.wait_idle(timeout=600, runs=True)
    key(app, "<Shift-A>")  # SAM mode off: the frame is shown whole
    key(app, "<n>")  # the first frame flagged for review
    flagged = [label.object_id for label, _ in app.state.labels if label.review] if app.state else []
    if not flagged:
        raise SystemExit("the surf run flagged no frame: docs/screenshot_review.png not written")
    app.sidebar.objects.selection_set(str(flagged[0]))
    pump(root, 0.3)
    grab(app, display, ROOT / "docs" / "screenshot_review.png")
    app.close()
    root.destroy()
    project.close()


def main() -> int:
    from tests.ui.gui import VirtualScreen, click_canvas, drag_canvas, key, pump

    screen = VirtualScreen(SIZE)
    os.environ["DISPLAY"] = screen.display
    import tkinter as tk

    from ui.app import App
    from ui.cli import open_editor

    docs = ROOT / "docs"
    classes = [
        {"name": "ball", "shape": "polygon", "colour": "#ff7f0e", "hotkey": "1"},
        {"name": "frame", "shape": "polygon", "colour": "#d62728", "hotkey": "2"},
        {"name": "leaf", "shape": "bounding_box", "colour": "#2ca02c", "hotkey": "3"},
        {"name": "marker", "shape": "point", "colour": "#9467bd", "hotkey": "4"},
    ]
    try:
        with tempfile.TemporaryDirectory() as folder:
            ontology = Path(folder) / "ontology.json"
            ontology.write_text(json.dumps(classes))
            editor, project = open_editor(ROOT / "sample_media" / "video.mp4", Path(folder) / "project", ontology_file=ontology)
            root = tk.Tk()
            app = App(root, editor, backend="classic")
            app.wait_idle()
            key(app, "<Shift-A>")
            drag_canvas(app, 53, 131, 153, 230)  # a box around the ball, then an include click
            click_canvas(app, 102, 180)
            grab(app, screen.display, docs / "screenshot_sam.png")
            key(app, "<Return>")
            key(app, "<Key-2>")
            drag_canvas(app, 380, 40, 568, 177)  # the frame: a box (one click gives IoU 0.39, the box 0.84)
            key(app, "<Return>")
            key(app, "<Key-3>")
            drag_canvas(app, 150, 240, 236, 330)
            key(app, "<Return>")
            app.sidebar.objects.selection_set("1")
            grab(app, screen.display, docs / "screenshot_labels.png")
            key(app, "<Key-1>")
            app.controls.permanent_button.invoke()
            app.wait_idle()
            app.goto(0)
            app.wait_idle()
            # propagation running in the background, its results appearing live: each frame's
            # report is held 0.25 s so the picture is taken mid-run, on the newest frame written
            real = app.editor.on_progress

            def slowly(report) -> None:
                if real is not None:
                    real(report)
                time.sleep(0.25)

            app.editor.on_progress = slowly
            app.propagate(1)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pump(root, 0.2)
                jobs = app.editor.propagation_jobs()
                latest = jobs[0].progress if jobs else None
                if latest is not None and latest.frame_index >= 18:
                    break
            app.editor.on_progress = real
            app.goto(latest.frame_index if latest is not None else 0)
            pump(root, 0.5)
            grab(app, screen.display, docs / "screenshot_live.png")
            app.wait_idle(timeout=600, runs=True)
            app.goto(30)
            app.wait_idle()
            grab(app, screen.display, docs / "screenshot_propagated.png")
            key(app, "<F1>")
            sheet = app.menus.help_window
            sheet.geometry("+40+40")
            grab(app, screen.display, docs / "screenshot_shortcuts.png", window=sheet)
            sheet.destroy()
            app.close()
            root.destroy()
            project.close()
            review(Path(folder), screen.display)
    finally:
        screen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
