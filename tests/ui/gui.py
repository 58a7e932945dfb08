"""Shared support for the GUI tests: a private Xvfb screen and helpers that drive the real app."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest


class VirtualScreen:
    """An Xvfb server on a free display number (found with -displayfd)."""

    def __init__(self, size: str = "1400x900x24") -> None:
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

    def close(self) -> None:
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
    """A left-button drag from frame pixel (x0, y0) to (x1, y1) in a few motion steps."""
    view = app.view.viewport
    start = [int(round(v)) for v in view.frame_to_canvas(x0, y0)]
    end = [int(round(v)) for v in view.frame_to_canvas(x1, y1)]
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
