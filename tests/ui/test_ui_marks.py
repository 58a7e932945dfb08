"""What the window reads after each call (the current frame's labels, the changed frames'
marks), the timeline filling in during a propagation, the Undo/Redo menu state, and no
benchmark timer in the production window."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tests.ui.gui import apply_ball, close_project_app, key, open_project_app, slow_down_propagation


def test_a_call_reads_one_frame_of_labels_not_the_whole_media(screen, tmp_path, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file)
    whole_media: list[Any] = []
    real_labels = project.labels

    def counting_labels(media: str | None = None, frame_index: int | None = None) -> list:
        if frame_index is None:
            whole_media.append(media)
        return real_labels(media, frame_index)

    project.labels = counting_labels  # type: ignore[method-assign]
    try:
        read = app.marks.frames_read
        key(app, "<Right>")
        apply_ball(app)
        assert app.marks.frames_read == read + 1  # the applied label's frame only
        key(app, "<Control-z>")
        key(app, "<Left>")
        assert app.marks.frames_read == read + 2
        assert whole_media == []
        assert app.state.frame_index == 0 and not app.state.marks.any()
    finally:
        project.labels = real_labels  # type: ignore[method-assign]
        close_project_app(app, project)


def test_the_timeline_fills_in_frame_by_frame_while_a_propagation_runs(screen, tmp_path, short_clip, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file, short_clip)
    try:
        apply_ball(app)
        slow_down_propagation(app, 0.3)
        app.propagate(1)  # in the background
        seen_while_running = set()
        while app.propagation.busy or app.worker.busy:
            app.root.update()
            seen_while_running.add(len(app.timeline.find_withtag("mark-2")))
            time.sleep(0.005)
        app.wait_idle()
        assert {1, 2, 3} <= seen_while_running  # one more propagated frame after each
        assert app.state.marks.tolist() == [1, 2, 2, 2, 2, 2]
        assert len(app.timeline.find_withtag("mark-2")) == 5
        assert len(app.timeline.find_withtag("cursor")) == 2  # drawn once, on top
        assert app.timeline.find_all()[-1] in app.timeline.find_withtag("cursor")
    finally:
        close_project_app(app, project)


def menu_state(app: Any, index: int) -> str:
    return str(app.menus.edit.entrycget(index, "state"))


def test_undo_and_redo_menu_entries_follow_the_history(screen, tmp_path, ontology_file):
    app, project = open_project_app(tmp_path / "project", ontology_file)
    try:
        assert (app.state.can_undo, app.state.can_redo) == (False, False)
        assert (menu_state(app, 0), menu_state(app, 1)) == ("disabled", "disabled")
        apply_ball(app)
        assert (app.state.can_undo, app.state.can_redo) == (True, False)
        assert (menu_state(app, 0), menu_state(app, 1)) == ("normal", "disabled")
        app.menus.edit.invoke(0)  # Edit → Undo
        app.wait_idle()
        assert app.state.labels == [] and (app.state.can_undo, app.state.can_redo) == (False, True)
        assert (menu_state(app, 0), menu_state(app, 1)) == ("disabled", "normal")
        app.menus.edit.invoke(1)  # Edit → Redo
        app.wait_idle()
        assert len(app.state.labels) == 1 and (menu_state(app, 0), menu_state(app, 1)) == ("normal", "disabled")
    finally:
        close_project_app(app, project)


def test_the_production_window_runs_no_benchmark_heartbeat(app):
    """Only the result and progress poll loops keep timers when the window is idle."""
    app.wait_idle()
    root = app.root
    scripts = [str(root.tk.call("after", "info", timer)[0]) for timer in root.tk.splitlist(root.tk.call("after", "info"))]
    assert scripts and all(script.endswith("_poll") for script in scripts), scripts
    assert not hasattr(app, "stalls")


def test_a_long_timeline_changes_only_the_marks_that_changed(app):
    timeline, frames = app.timeline, 2000
    marks = np.zeros(frames, np.uint8)
    marks[::2] = 1
    timeline.update_marks(0, frames, marks)
    before = set(timeline.find_withtag("mark-1"))
    assert len(before) == frames // 2
    changed = marks.copy()
    changed[10] = 3
    timeline.update_marks(5, frames, changed)
    after = set(timeline.find_withtag("mark-1"))
    assert len(after) == frames // 2 - 1 and after < before  # the other items were kept
    assert len(timeline.find_withtag("mark-3")) == 1
