"""Propagation never blocks the window: GUI tests on the real app under Xvfb, driven by real
X input (xdotool), with each run slowed down (`slow_down_propagation`) so that it is still
going while the test acts."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tests.ui.gui import (
    BALL_CLICK,
    close_project_app,
    focus_window,
    open_project_app,
    slow_down_propagation,
    xdotool,
)


def send(app: Any, *args: str) -> None:
    """xdotool against the Xvfb screen; then wait for the editor thread, not for the runs."""
    xdotool(app, *args, runs=False, settle=0.15)


def focus(app: Any) -> None:
    focus_window(app, runs=False)


def screen_point(app: Any, x: float, y: float) -> tuple[str, str]:
    """Screen coordinates of frame pixel (x, y)."""
    cx, cy = app.view.viewport.frame_to_canvas(x, y)
    return str(app.view.winfo_rootx() + int(cx)), str(app.view.winfo_rooty() + int(cy))


def click_widget(app: Any, widget: Any) -> None:
    x = widget.winfo_rootx() + widget.winfo_width() // 2
    y = widget.winfo_rooty() + widget.winfo_height() // 2
    send(app, "mousemove", "--sync", str(x), str(y), "click", "1")


def apply_ball_by_x(app: Any) -> None:
    send(app, "key", "--clearmodifiers", "shift+a")
    send(app, "mousemove", "--sync", *screen_point(app, *BALL_CLICK), "click", "1")
    assert app.state.selection is not None
    send(app, "key", "Return")


def wait_for(app: Any, condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        app.root.update()
        time.sleep(0.005)


def object_frames(project: Any, object_id: int = 1) -> list[int]:
    return sorted(label.frame_index for label in project.labels() if label.object_id == object_id)


def test_apply_with_permanent_drawing_never_blocks_the_window(screen, tmp_path, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file)
    editor = app.editor
    try:
        focus(app)
        click_widget(app, app.controls.permanent_button)
        assert editor.permanent and app.state.permanent
        slow_down_propagation(app, 0.25)
        apply_ball_by_x(app)
        # Apply returned at once: the label is drawn and the blue selection gone, the run goes on.
        assert editor.propagation_jobs(), "the run should still be going"
        assert app.state.selection is None and app.view.state.selection is None
        assert [label.object_id for label, _ in app.state.labels] == [1]
        assert app.view.find_withtag("object-1") and not app.view.find_withtag("point")
        # Frame steps are served while the run goes on.
        send(app, "key", "Right")
        assert app.state.frame_index == 1 and editor.propagation_jobs()
        send(app, "key", "Right")
        assert app.state.frame_index == 2 and editor.propagation_jobs()
        # Propagated labels land in the project as the run writes them, and show live.
        wait_for(app, lambda: len(object_frames(project)) >= 4)
        assert editor.propagation_jobs() and len(object_frames(project)) < len(editor.source)
        wait_for(app, lambda: any(label.object_id == 1 for label, _ in app.state.labels))
        assert app.state.frame_index == 2 and app.view.find_withtag("object-1")  # frame 2 got its label, drawn
        wait_for(app, lambda: len(app.timeline.find_withtag("mark-2")) >= 2)  # propagated marks, live
        assert "labels" in app.controls.progress_text.get()
        assert str(app.controls.stop_button.cget("state")) == "normal"
        click_widget(app, app.controls.stop_button)  # Stop still stops it
        app.wait_idle()
        assert not editor.propagation_jobs() and app.error is None
        frames = object_frames(project)
        assert frames == list(range(len(frames))) and len(frames) < len(editor.source)
        assert app.controls.progress_text.get() == ""  # nothing stale left once it stopped
        assert [e.data["until"] for e in project.events() if e.kind == "propagate"] == [frames[-1]]
    finally:
        close_project_app(app, project)


def test_a_correction_ahead_of_a_run_stops_its_object_there(screen, tmp_path, ontology_file, short_clip):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    editor, media = app.editor, app.editor.media_name
    propagate_button = next(w for w in app.controls.winfo_children() if "Propagate ▶" in str(w.cget("text") or ""))
    try:
        focus(app)
        apply_ball_by_x(app)
        click_widget(app, propagate_button)  # a first, quick run: object 1 on every frame
        app.wait_idle()
        assert object_frames(project) == list(range(6))
        slow_down_propagation(app, 1.5)
        click_widget(app, propagate_button)  # again, slowly: it rewrites frames 1…5 one by one
        assert editor.propagation_jobs()
        for _ in range(4):
            send(app, "key", "Right")
        assert app.state.frame_index == 4 and editor.propagation_jobs()
        send(app, "key", "--clearmodifiers", "shift+a")  # SAM off: a press inside a label moves it
        assert not app.state.sam_mode
        before = project.get(media, 4, 1)
        assert before is not None and before.source == "propagated"
        inside = np.asarray(before.shape.parts[0][0], np.float64).mean(axis=0)
        send(app, "mousemove", "--sync", *screen_point(app, *inside), "mousedown", "1")
        for step in (8, 16, 24):
            send(app, "mousemove", "--sync", *screen_point(app, inside[0] + step, inside[1]))
        send(app, "mouseup", "1")
        corrected = project.get(media, 4, 1)
        assert corrected is not None and corrected.source == "manual" and corrected.confirmed
        app.wait_idle()  # the run ends by itself: it goes no further than the correction
        assert not editor.propagation_jobs() and app.error is None
        kept = project.get(media, 4, 1)
        assert kept is not None and kept.source == "manual"
        assert np.array_equal(kept.shape.parts[0][0], corrected.shape.parts[0][0])
        assert not np.array_equal(kept.shape.parts[0][0], before.shape.parts[0][0])
        run = [e for e in project.events() if e.kind == "propagate"][-1]
        assert run.data["until"] == 3 and run.data["changes"] == 3  # frames 1, 2, 3 rewritten; 5 not
        assert object_frames(project) == list(range(6))
    finally:
        close_project_app(app, project)
