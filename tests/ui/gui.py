"""Shared support for the GUI tests: a private Xvfb screen and helpers that drive the real app.

FRAMEWISE_TEST_WM=openbox runs the screen under that window manager (focus and stacking
then follow a real desktop's rules); unset, there is none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.ontology import Ontology
from engine.types import LabelClass

SAMPLES = Path(__file__).parents[2] / "sample_media"
BALL_CLICK = (102, 180)
LEAF_BOX = (150, 240, 236, 330)
WINDOW_MANAGER = os.environ.get("FRAMEWISE_TEST_WM", "")


class TkErrors(list):
    """Errors raised by Tk callbacks (bindings, commands, ``after`` timers) during a test,
    each as its formatted traceback (the ``tk_errors`` fixture)."""

    def text(self) -> str:
        return "\n".join(self)


class VirtualScreen:
    """An Xvfb server on a free display number (found with -displayfd), with the window
    manager ``window_manager`` (default: $FRAMEWISE_TEST_WM; "" for none)."""

    def __init__(self, size: str = "1400x900x24", window_manager: str | None = None) -> None:
        if shutil.which("Xvfb") is None:
            pytest.skip("Xvfb is not installed (`make test` installs xvfb and xdotool with apt-get)")
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", size, "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.process.kill()
            raise RuntimeError("Xvfb did not report a display number")
        self.display = f":{number}"
        self.window_manager: subprocess.Popen | None = None
        manager = WINDOW_MANAGER if window_manager is None else window_manager
        if manager:
            self._start_window_manager(manager)

    def _start_window_manager(self, manager: str) -> None:
        if shutil.which(manager) is None:
            self.close()
            pytest.skip(f"window manager {manager} is not installed (apt-get install -y {manager})")
        env = {**os.environ, "DISPLAY": self.display}
        self.window_manager = subprocess.Popen([manager], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ready once it has claimed the screen (EWMH)
            found = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env, capture_output=True, text=True)
            if "window id" in found.stdout:
                return
            time.sleep(0.05)
        print(f"{manager} did not claim the screen in 10 s", file=sys.stderr)

    def close(self) -> None:
        if self.window_manager is not None:
            self.window_manager.terminate()
            self.window_manager.wait(5)
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def pump(root, seconds: float) -> None:
    """Run the Tk event loop for ``seconds`` (tests never call mainloop)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        root.update()
        time.sleep(0.005)


def click_canvas(app, x: float, y: float, button: int = 1) -> None:
    """A real press/release at frame pixel (x, y) of the frame view."""
    cx, cy = (int(round(v)) for v in app.view.viewport.frame_to_canvas(x, y))
    app.view.event_generate(f"<ButtonPress-{button}>", x=cx, y=cy)
    app.view.event_generate(f"<ButtonRelease-{button}>", x=cx, y=cy)
    app.wait_idle()


def drag_canvas(app, x0: float, y0: float, x1: float, y1: float) -> None:
    """A left-button drag from frame pixel edge (x0, y0) to (x1, y1) (box corners are pixel
    edges, see engine.types) in a few motion steps."""
    view = app.view.viewport
    start = [int(round(v)) for v in view.edge_to_canvas(x0, y0)]
    end = [int(round(v)) for v in view.edge_to_canvas(x1, y1)]
    app.view.event_generate("<ButtonPress-1>", x=start[0], y=start[1])
    for k in range(1, 6):
        x = start[0] + (end[0] - start[0]) * k // 5
        y = start[1] + (end[1] - start[1]) * k // 5
        app.view.event_generate("<Motion>", x=x, y=y, state=0x100)
    app.view.event_generate("<ButtonRelease-1>", x=end[0], y=end[1])
    app.wait_idle()


def key(app, sequence: str) -> None:
    """Send a key event to the frame view (keys are bound application-wide)."""
    app.view.focus_force()
    app.root.update()
    app.view.event_generate(sequence)
    app.wait_idle()


def xdotool(app: Any, *args: str, runs: bool = True, settle: float = 0.2) -> None:
    """Run xdotool against the Xvfb screen while the Tk loop keeps running, then wait for
    the editor thread (and, with ``runs``, for background propagation runs)."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (`make test` installs it with apt-get)")
    process = subprocess.Popen(["xdotool", *args])
    while process.poll() is None:
        app.root.update()
    assert process.returncode == 0
    pump(app.root, settle)
    app.wait_idle(runs=runs)


def focus_window(app: Any, *, runs: bool = True) -> None:
    """Raise and focus the window and put the X pointer over it, as a person's first click would."""
    root = app.root
    root.deiconify()
    root.lift()
    root.focus_force()
    pump(root, 0.3)
    xdotool(app, "mousemove", "--sync", str(root.winfo_rootx() + 400), str(root.winfo_rooty() + 300), runs=runs)


def ontology() -> Ontology:
    return Ontology(
        [
            LabelClass("ball", "polygon", "#ff7f0e", "1"),
            LabelClass("leaf", "bounding_box", "#2ca02c", "2"),
            LabelClass("marker", "point", "#9467bd", "3"),
        ]
    )


def open_project_app(folder: Path, ontology_file: Path | None = None, media: Path = SAMPLES / "video.mp4") -> tuple[Any, Any]:
    """The real window on ``media`` with a project store in ``folder``: (app, project)."""
    import tkinter as tk

    from ui.app import App
    from ui.cli import open_editor

    editor, project = open_editor(media, folder, ontology_file=ontology_file)
    root = tk.Tk()
    application = App(root, editor, backend="classic")
    application.wait_idle()
    return application, project


def close_project_app(application: Any, project: Any) -> None:
    import gc

    root = application.root
    application.close()
    root.destroy()
    project.close()
    gc.collect()  # Tk variables and images are finalised here, on the Tk thread


def stored_labels(folder: Path) -> list[tuple]:
    """(frame, object, source) rows read straight from project.sqlite by a second connection."""
    import sqlite3

    with sqlite3.connect(folder / "project.sqlite") as db:
        return db.execute("SELECT frame_index, object_id, source FROM labels ORDER BY frame_index, object_id").fetchall()


def apply_ball(app) -> None:
    """SAM mode on, one include click on the sample ball, Enter: the first object is applied."""
    key(app, "<Shift-A>")
    click_canvas(app, *BALL_CLICK)
    key(app, "<Return>")


def slow_down_propagation(app, seconds: float) -> None:
    """Make each propagated frame's progress report wait ``seconds`` on the editor thread, so a
    run is still going while the test acts on the window."""
    real = app.editor.on_progress

    def slow_progress(progress) -> None:
        real(progress)
        time.sleep(seconds)

    app.editor.on_progress = slow_progress
