"""Screenshots of the label editor in its main states, for the README (`make screenshots`).

Starts a private Xvfb screen, opens the real app on `sample_media/video.mp4` with a fresh
project, drives it with generated events and grabs the screen with Pillow's X11 grabber:
docs/screenshot_sam.png (SAM mode: pop-up, points, blue selection),
docs/screenshot_labels.png (applied polygon and box labels, objects list),
docs/screenshot_propagated.png (after permanent drawing: timeline marks).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = "1280x800x24"


def grab(app, display: str, path: Path) -> None:
    from PIL import ImageGrab

    from tests.ui.gui import pump

    pump(app.root, 0.4)
    root = app.root
    x, y = root.winfo_rootx(), root.winfo_rooty()
    width, height = root.winfo_width(), root.winfo_height()
    image = ImageGrab.grab(bbox=(x, y - 0, x + width, y + height), xdisplay=display)
    panel = app.sam_panel
    if panel.state() == "normal":  # the pop-up sits over the window; grab the whole screen area
        image = ImageGrab.grab(xdisplay=display).crop((x, y, x + width, y + height))
    image.save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    from tests.ui.gui import VirtualScreen, click_canvas, drag_canvas, key

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
            root.geometry("1200x720+0+0")
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
            app.propagate(1)
            app.wait_idle(timeout=600)
            app.goto(30)
            app.wait_idle()
            grab(app, screen.display, docs / "screenshot_propagated.png")
            app.close()
            root.destroy()
            project.close()
    finally:
        screen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
